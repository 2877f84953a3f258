from django.core.management.base import BaseCommand

from deskapp.seed import seed_demo


class Command(BaseCommand):
    help = "Seed the demo: staff users, use cases, the offline LLM provider and the demo store data (idempotent)."

    def handle(self, *args, **options):
        result = seed_demo()
        store = result["store"]
        self.stdout.write(
            f"demo seeded: store has {store['users']} users, {store['orders']} orders, {store['products']} products; "
            f"{result['articles']} help article(s) imported"
        )

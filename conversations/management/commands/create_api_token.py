"""`python manage.py create_api_token NAME`: prints a new API token, once."""

from django.core.management.base import BaseCommand, CommandError

from conversations.api_tokens import create_api_token
from conversations.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for the memory and knowledge APIs and print it (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="who or what uses this token, e.g. crm-sync")

    def handle(self, *args, name: str, **options):
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"a token named {name!r} exists; pick another name or delete it in the admin")
        created = create_api_token(name=name)
        self.stdout.write(created.raw)

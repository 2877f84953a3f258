"""`python manage.py simulate_traffic --conversations N`: synthetic conversations through the real chat path."""

import asyncio

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from conversations.models import Conversation, UseCase
from insights.simulation import simulate_traffic, simulation_agent, tally


class Command(BaseCommand):
    help = (
        "Drive N synthetic conversations through the web chat (HTTP session + websocket consumer, in process) "
        "with each use case's LLM, close them with outcomes and spread them over past days."
    )

    def add_arguments(self, parser):
        parser.add_argument("--conversations", type=int, default=200)
        parser.add_argument(
            "--use-case", action="append", default=[], help="slug; repeat for several (default: all enabled)"
        )
        parser.add_argument(
            "--days", type=float, default=14, help="spread the conversations over this many past days"
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--concurrency", type=int, default=4)

    def handle(self, *args, **options):
        count = options["conversations"]
        if count < 1:
            raise CommandError("--conversations must be at least 1")
        use_cases = list(UseCase.objects.filter(enabled=True).order_by("name"))
        if options["use_case"]:
            wanted = set(options["use_case"])
            use_cases = [u for u in use_cases if u.slug in wanted]
            unknown = wanted - {u.slug for u in use_cases}
            if unknown:
                raise CommandError(f"unknown or disabled use case: {', '.join(sorted(unknown))}")
        if not use_cases:
            raise CommandError("no enabled use case; run `python manage.py seed_demo` first")
        try:
            simulation_agent()
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        # Fresh customer numbers on every run, so a second run adds customers instead of reusing them.
        first_index = Conversation.objects.filter(
            customer__identities__address__endswith="@example.test"
        ).count()
        with tqdm(total=count, desc="simulating conversations", unit="conv") as progress:
            results = asyncio.run(
                simulate_traffic(
                    count=count,
                    use_cases=use_cases,
                    seed=options["seed"] + first_index,
                    spread_days=options["days"],
                    concurrency=options["concurrency"],
                    progress=progress,
                    first_index=first_index,
                )
            )
        counts = tally(results)
        self.stdout.write(
            self.style.SUCCESS(
                f"simulated {len(results)} conversations: "
                + ", ".join(f"{k} {v}" for k, v in sorted(counts["arm"].items()))
                + " | outcomes: "
                + ", ".join(f"{k} {v}" for k, v in sorted(counts["outcome"].items()))
                + f" | handed off: {counts['handed_off'].get('True', 0)}"
            )
        )
        self.stdout.write("see them at /insights/ (login: supervisor)")

"""`python manage.py run`: migrate, seed, start Celery (when REDIS_URL is set) and serve with Daphne."""

import os
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from conversations.models import Conversation
from deskapp.celery import prepare_supervised_worker
from deskapp.seed import demo_password, seed_demo
from deskapp.supervisor import Supervisor, describe_exit
from infra import metrics, worker_health
from insights import services as insights_services
from insights.scheduler import start_periodic_thread, start_worker_alert_thread


def worker_command(*, concurrency: int = 2, beat: bool = True) -> list[str]:
    """The Celery worker `run` supervises, with the periodic tasks (sweeps, alerts, idle conversations) in beat."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "deskapp",
        "worker",
        "--loglevel=WARNING",
        f"--concurrency={concurrency}",
        f"--queues={settings.BATON_WORKER_QUEUES}",
        # No start-up wait for other workers' state (mingle) and no worker-to-worker chatter (gossip):
        # a restarted worker takes tasks a second or two sooner, and nothing here uses either.
        "--without-mingle",
        "--without-gossip",
    ]
    if beat:
        command += ["--beat", f"--schedule={settings.BATON_DIR / 'celerybeat-schedule'}"]
    return command


def worker_exited(returncode: int, delay: float) -> None:
    """Count the exit and let /healthz say so now, rather than once the last heartbeat grows old."""
    metrics.WORKER_RESTARTS.inc()
    worker_health.mark_worker_exited(
        reason=f"worker exited with {describe_exit(returncode)}, restarting in {delay:.0f} s"
    )


class Command(BaseCommand):
    help = "Run Baton: migrate, seed the demo, start background workers and serve on BATON_HOST:BATON_PORT."

    def add_arguments(self, parser):
        parser.add_argument("--no-seed", action="store_true", help="skip the demo seed")
        parser.add_argument(
            "--simulate",
            type=int,
            default=int(os.environ.get("BATON_SIMULATE_CONVERSATIONS", "200")),
            help="on a database with no conversations, first drive this many synthetic ones (0: never)",
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        if not options["no_seed"]:
            seed_demo()
            self.stdout.write("demo seeded")
        # Load the embedding model before serving: importing it mid-conversation holds the
        # interpreter for seconds and starves open websockets.
        from infra.embeddings import warm_up  # imported here: loading torch is part of what this step times

        warm_up()
        self.stdout.write("embedding model loaded")
        insights_services.ensure_default_alert_rules()
        worker = None
        if settings.REDIS_URL and not settings.CELERY_TASK_ALWAYS_EAGER:
            worker = Supervisor(
                worker_command(),
                name="celery worker",
                # The worker uses this process's database rather than registering with the embedded
                # server: a worker killed with -9 would stay on its list and the server never stop.
                env={**os.environ, "DATABASE_URL": settings.DATABASE_URL},
                preexec_fn=prepare_supervised_worker,
                on_exit=worker_exited,
                # The first restart at once: customers wait for it. Backoff only for a worker that keeps dying.
                backoff_initial=0.2,
            )
            worker.start()
            start_worker_alert_thread()
            self.stdout.write(
                f"celery worker and beat started, supervised (pid {worker.pid}; REDIS_URL is set)"
            )
        else:
            start_periodic_thread()
            self.stdout.write(
                "background work runs in-process (set REDIS_URL to use Redis and a Celery worker)"
            )
        try:
            self.serve(options, started)
        finally:
            if worker:
                worker.stop()

    def serve(self, options, started: float) -> None:
        if not options["no_seed"]:
            # After the worker starts, so shadow drafts queued by the simulation are written.
            self.offer_traffic(options["simulate"])
        self.print_welcome(time.monotonic() - started)
        from daphne.cli import CommandLineInterface

        # Daphne stops on SIGINT and SIGTERM and returns here, so the worker is stopped with it.
        CommandLineInterface().run(
            ["-b", settings.BATON_HOST, "-p", str(settings.BATON_PORT), "deskapp.asgi:application"]
        )

    def offer_traffic(self, count: int) -> None:
        """A fresh install gets synthetic traffic so /insights/ shows real numbers at once."""
        if Conversation.objects.exists():
            self.stdout.write(
                "insights: to add synthetic traffic, run: python manage.py simulate_traffic --conversations 200"
            )
            return
        if count <= 0:
            self.stdout.write(
                "insights: empty; run `python manage.py simulate_traffic --conversations 200` for demo numbers"
            )
            return
        self.stdout.write(f"fresh database: simulating {count} conversations for the insights page")
        call_command("simulate_traffic", conversations=count)

    def print_welcome(self, seconds: float) -> None:
        base = f"http://{settings.BATON_HOST}:{settings.BATON_PORT}"
        password, from_env = demo_password()
        shown = "(from BATON_DEMO_PASSWORD)" if from_env else password
        database = (
            "external (DATABASE_URL)"
            if os.environ.get("DATABASE_URL")
            else "embedded PostgreSQL in .baton/pgdata"
        )
        lines = [
            "",
            f"Baton is ready in {seconds:.1f}s  —  database: {database}",
            f"  customer chat   {base}/chat/",
            f"  agent desk      {base}/desk/        login: agent / {shown}",
            f"  supervisor      {base}/supervisor/  login: supervisor / {shown}",
            f"  insights        {base}/insights/    login: supervisor / {shown}",
            f"  admin           {base}/admin/       login: admin / {shown}",
            f"  health          {base}/healthz",
            "Press Ctrl+C to stop.",
            "",
        ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))

"""`python manage.py run`: migrate, seed, start Celery and serve with one web process per core, on Redis.

Without REDIS_URL, `run` starts a local redis-server and runs itself again pointed at it (so the web
processes and the worker share events); without redis-server installed, one web process serves with
the in-memory channel layer and background work in-process.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from conversations.models import Conversation
from deskapp.config import BASE_DIR
from deskapp.seed import demo_password, seed_demo
from deskapp.serving import WebProcesses, web_process_count
from deskapp.supervisor import Supervisor, describe_exit
from infra import local_redis, metrics, worker_health
from infra.processes import dies_with_parent
from insights import services as insights_services
from insights.scheduler import start_worker_alert_thread


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


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


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
        if not settings.REDIS_URL and local_redis.installed():
            return self.run_on_local_redis(options)
        # SIGTERM stops `run` as Ctrl+C does: the `finally`s below stop the processes it started. SIGINT
        # too, explicitly: a `run` started in the background inherits it ignored, and would not stop.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
        started = time.monotonic()
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        if not options["no_seed"]:
            seed_demo()
            self.stdout.write("demo seeded")
        insights_services.ensure_default_alert_rules()
        worker = None
        if settings.REDIS_URL and not settings.CELERY_TASK_ALWAYS_EAGER:
            worker = Supervisor(
                worker_command(),
                name="celery worker",
                # The worker uses this process's database rather than registering with the embedded
                # server: a worker killed with -9 would stay on its list and the server never stop.
                env={**os.environ, "DATABASE_URL": settings.DATABASE_URL},
                preexec_fn=dies_with_parent,
                on_exit=worker_exited,
                # The first restart at once: customers wait for it. Backoff only for a worker that keeps dying.
                backoff_initial=0.2,
            )
            worker.start()
            start_worker_alert_thread()
            self.stdout.write(
                f"celery worker and beat started, supervised (pid {worker.pid}; REDIS_URL is set)"
            )
        elif settings.REDIS_URL:
            self.stdout.write("background work runs in the web processes (BATON_CELERY_EAGER=1)")
        else:
            self.stderr.write(
                self.style.WARNING(
                    "redis-server is not installed and REDIS_URL is unset: ONE web process serves, with the "
                    "in-memory channel layer and background work in it. To serve one process per core, "
                    "install Redis (apt-get install redis-server) or set REDIS_URL."
                )
            )
        try:
            self.serve(options, started)
        except KeyboardInterrupt:
            pass
        finally:
            if worker:
                worker.stop()

    def serve(self, options, started: float) -> None:
        if not options["no_seed"]:
            # After the worker starts, so shadow drafts queued by the simulation are written.
            self.offer_traffic(options["simulate"])
        # Several processes share events through Redis only; without it, one serves.
        count = web_process_count() if settings.REDIS_URL else 1
        # The web processes use this process's database, as the worker does (no registration of their own).
        env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL}
        web = WebProcesses(host=settings.BATON_HOST, port=settings.BATON_PORT, count=count, env=env)
        try:
            web.start()
            web.wait_until_serving()
            self.print_welcome(time.monotonic() - started, count, web.pids)
            while True:
                signal.pause()  # until Ctrl+C or SIGTERM; a web process that exits is restarted meanwhile
        finally:
            web.stop()

    def run_on_local_redis(self, options) -> None:
        """Start redis-server under .baton/redis, run `run` again on it, stop Redis once that returns."""
        redis = local_redis.LocalRedis(settings.BATON_DIR / "redis")
        redis.start()
        self.stdout.write(
            f"local redis-server started on {redis.url} (data in {redis.folder}; REDIS_URL unset)"
        )
        command = [sys.executable, str(BASE_DIR / "manage.py"), "run", "--simulate", str(options["simulate"])]
        command += ["--no-seed"] if options["no_seed"] else []
        env = {**os.environ, "REDIS_URL": redis.url, "BATON_LOCAL_REDIS": "1"}
        # Its own session: signals reach it from here only, once each.
        child = subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=dies_with_parent)
        forward = lambda signum, _frame: child.send_signal(signum)  # noqa: E731
        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        try:
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            redis.stop()
        if child.returncode > 0:
            raise SystemExit(child.returncode)  # `run` failed (a port in use, a database down): say so

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

    def print_welcome(self, seconds: float, processes: int, pids: list[int]) -> None:
        pids_shown = ", ".join(str(pid) for pid in pids)
        base = f"http://{settings.BATON_HOST}:{settings.BATON_PORT}"
        password, from_env = demo_password()
        shown = "(from BATON_DEMO_PASSWORD)" if from_env else password
        database = (
            "external (DATABASE_URL)"
            if os.environ.get("DATABASE_URL")
            else "embedded PostgreSQL in .baton/pgdata"
        )
        if not settings.REDIS_URL:
            mode = f"ONE web process (Daphne, pid {pids_shown}), in-memory channel layer, background work in it (no Redis)"
        else:
            where = (
                "local redis-server in .baton/redis" if os.environ.get("BATON_LOCAL_REDIS") else "REDIS_URL"
            )
            mode = (
                f"{processes} web processes (Daphne, pids {pids_shown}) on Redis ({where}), a Celery worker"
            )
        lines = [
            "",
            f"Baton is ready in {seconds:.1f}s  —  database: {database}",
            f"  serving         {mode}",
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

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskapp.settings")

app = Celery("baton")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def lower_worker_priority() -> None:
    """Run in a worker process before it starts (Popen's preexec_fn): background work yields the CPU.

    On a small machine the worker's extraction and summaries would otherwise take CPU from the
    Daphne process in the middle of a voice turn; the worker still gets every idle cycle.
    """
    os.nice(10)

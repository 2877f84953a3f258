"""Celery tasks of the memory app: take ids, load, call a service."""

import uuid
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, close_old_connections, connections, transaction

from infra.embeddings import EmbeddingError

from . import services


@shared_task(
    name="memory.tasks.extract_observations",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, EmbeddingError),
    retry_backoff=True,
    max_retries=5,
)
def extract_observations(conversation_id: str, final: bool = False) -> int:
    """Extract the conversation's new observations (idempotent: a retry or a second run adds nothing)."""
    return services.extract_observations(conversation_id=uuid.UUID(conversation_id), final=final)


_in_process = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory-extraction")


def _extract_in_background(conversation_id: str, final: bool) -> None:
    try:
        extract_observations.apply(args=(conversation_id, final))
    finally:
        close_old_connections()


def finish_in_process_extractions() -> None:
    """Wait until the in-process thread has run every extraction queued so far, then close its connection.

    For a process about to drop its database (a benchmark's): that connection would hold it open.
    """
    # One worker: this runs after everything queued before it.
    _in_process.submit(connections.close_all).result()


def enqueue_extraction(conversation_id: uuid.UUID, *, final: bool = False) -> None:
    """Run extraction once the current transaction commits (ids only; the worker loads the rest).

    Without a worker (no REDIS_URL) it runs on one background thread, in order, so it never sits
    between a customer's message and the AI's answer; tests run it inline to assert on it.
    """
    args = (str(conversation_id), final)
    if settings.CELERY_TASK_ALWAYS_EAGER and not settings.BATON_BACKGROUND_INLINE:
        transaction.on_commit(lambda: _in_process.submit(_extract_in_background, *args))
    else:
        # Robust: with the broker down the message is stored and later turns extract it again.
        transaction.on_commit(lambda: extract_observations.delay(*args), robust=True)

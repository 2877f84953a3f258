"""Celery tasks of the memory app: take ids, load, call a service."""

import uuid

from celery import shared_task
from django.db import OperationalError, transaction

from . import services
from .embeddings import EmbeddingError


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, EmbeddingError),
    retry_backoff=True,
    max_retries=5,
)
def extract_observations(conversation_id: str, final: bool = False) -> int:
    """Extract the conversation's new observations (idempotent: a retry or a second run adds nothing)."""
    return services.extract_observations(conversation_id=uuid.UUID(conversation_id), final=final)


def enqueue_extraction(conversation_id: uuid.UUID, *, final: bool = False) -> None:
    """Run extraction once the current transaction commits (ids only; the worker loads the rest)."""
    transaction.on_commit(lambda: extract_observations.delay(str(conversation_id), final))

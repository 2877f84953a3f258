"""Celery tasks of the handoff app: take ids, load, call a service."""

from celery import shared_task

from . import services


@shared_task(name="handoff.summarize_handoff", acks_late=True)
def summarize_handoff(handoff_id: int) -> None:
    """Write the LLM summary into a handoff's packet (enqueued on commit by start_handoff)."""
    services.write_llm_summary(handoff_id=handoff_id)


@shared_task(name="handoff.check_waiting_conversations")
def check_waiting_conversations() -> int:
    """Apply waiting-time rules to conversations whose customer is waiting (schedule every minute)."""
    return len(services.check_waiting_conversations())

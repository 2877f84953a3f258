"""The handoff packet: everything the agent needs, and its summary (extractive, or the LLM's)."""

import json
import logging
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from conversations.actions.selectors import actions_taken
from conversations.llm import LLMError, provider_for
from conversations.llm.base import complete_sync
from conversations.models import Conversation, Message
from memory import selectors as memory_selectors

from .. import operators as ops
from .. import selectors
from ..models import Handoff, Signal
from ..summarizer import extractive_summary
from . import notify

logger = logging.getLogger(__name__)


class _PacketEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)  # an unknown object from another app still reaches the agent, as text


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=_PacketEncoder))


def build_packet(*, handoff: Handoff, conversation: Conversation) -> dict:
    """Everything the agent needs: history, profile, observations, articles cited, summary, signals,
    actions, reason, rule."""
    messages = list(
        Message.objects.filter(conversation_id=conversation.id)
        .select_related("sender")
        .order_by("created_at")
    )
    history = [
        {
            "message_id": str(m.id),
            "role": m.role,
            "text": m.text,
            "at": m.created_at.isoformat(),
            "sender": (m.sender.get_full_name() or m.sender.get_username()) if m.sender else None,
            **({"citations": m.citations} if m.citations else {}),
        }
        for m in messages
    ]
    # The articles the AI answered from, each once: what the customer was already told, and where from.
    articles = list({c["document_id"]: c for m in messages for c in m.citations}.values())
    customer_texts = [m.text for m in messages if m.role == Message.Role.CUSTOMER]
    query = " ".join(customer_texts[-3:]) or handoff.detail or handoff.reason
    try:
        profile = memory_selectors.profile_for(customer_id=conversation.customer_id)
        observations = [
            {
                "id": o.id,
                "text": o.text,
                "kind": o.kind,
                "score": round(o.score, 4),
                "created_at": o.created_at,
                "conversation_id": o.conversation_id,
            }
            for o in memory_selectors.recall(customer_id=conversation.customer_id, query=query, k=5)
        ]
    except Exception:  # memory is best-effort in a handoff: the agent still gets everything else
        logger.exception("memory unavailable for the packet of handoff %s", handoff.pk)
        profile, observations = {"error": "memory unavailable"}, []
    actions = []
    try:
        actions = actions_taken(conversation.id)
    except Exception:
        logger.exception("actions unavailable for the packet of handoff %s", handoff.pk)
    customer = conversation.customer
    provider = conversation.use_case.llm_provider if conversation.use_case_id else None
    remote = ops.has_llm(provider)
    reason_label = (
        Handoff.Reason(handoff.reason).label if handoff.reason in Handoff.Reason.values else handoff.reason
    )
    summary = {
        "status": "pending" if remote else "ready",
        "source": "llm" if remote else "offline-extractive",
        "text": ""
        if remote
        else extractive_summary([(m.role, m.text) for m in messages], reason=reason_label),
    }
    if remote:
        summary["model"] = provider.model
    return _jsonable(
        {
            "handoff_id": handoff.pk,
            "conversation": {
                "id": conversation.id,
                "channel": conversation.channel,
                "use_case": conversation.use_case.slug if conversation.use_case_id else None,
                "started_at": conversation.created_at,
            },
            "customer": {
                "id": customer.id,
                "display_name": customer.display_name,
                "identities": [
                    {"channel": i.channel, "address": i.address, "verified": i.verified}
                    for i in customer.identities.all()
                ],
            },
            "profile": profile,
            "observations": observations,
            "history": history,
            "articles": articles,
            "summary": summary,
            "signals": [
                selectors.signal_payload(s) for s in Signal.objects.filter(conversation_id=conversation.id)
            ],
            "actions": actions,
            "reason": handoff.reason,
            "detail": handoff.detail,
            "rule": {"id": handoff.rule_id, "name": handoff.rule.name} if handoff.rule_id else None,
            "queue": {"id": handoff.queue_id, "name": handoff.queue.name} if handoff.queue_id else None,
            "priority": handoff.priority,
        }
    )


SUMMARY_PROMPT = (
    "You write handoff notes for the human agent taking over this customer service conversation. In at most "
    "four short lines say: what the customer wants, what has been done, what is still pending, and anything "
    "the agent must be careful about. Use only facts from the transcript."
)


def write_llm_summary(*, handoff_id: int) -> Handoff:
    """Ask the use case's LLM for the packet summary; fall back to the extractive one if it fails, then publish."""
    handoff = Handoff.objects.select_related("conversation__use_case__llm_provider").get(pk=handoff_id)
    history = [(m["role"], m["text"]) for m in handoff.packet.get("history", [])]
    transcript = "\n".join(f"{role}: {text}" for role, text in history)
    provider = handoff.conversation.use_case.llm_provider if handoff.conversation.use_case_id else None
    summary: dict[str, Any]
    try:
        llm = provider_for(provider)
        completion = complete_sync(
            llm,
            [
                {"role": "system", "content": SUMMARY_PROMPT},
                {"role": "user", "content": transcript or "(no messages)"},
            ],
        )
        if not completion.text.strip():
            raise LLMError("empty summary")
        summary = {"status": "ready", "source": "llm", "model": llm.model, "text": completion.text.strip()}
    except LLMError as exc:
        logger.warning("handoff %s: LLM summary failed (%s); using the extractive one", handoff_id, exc)
        reason = handoff.get_reason_display()
        summary = {
            "status": "ready",
            "source": "offline-extractive",
            "fallback_from": "llm",
            "text": extractive_summary(history, reason=reason),
        }
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update().get(pk=handoff_id)
        handoff.packet = {**handoff.packet, "summary": summary}
        handoff.save(update_fields=["packet", "updated_at"])
        notify.packet_ready(handoff)
    return handoff

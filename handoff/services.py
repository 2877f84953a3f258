"""Writes for the handoff app: signals, rule decisions, handoffs and their packets, queues.

The pipeline calls `screen_inbound_text` before a customer message is stored (redaction) and
`observe_customer_message` after (operators, rules, maybe a handoff); the runtime calls
`observe_ai_message` after it stores an AI message (policy operators).
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation, Message
from deskapp import event_types
from deskapp.events import send_event_on_commit
from deskapp.groups import conversation_group, conversation_staff_group, queue_group, supervisors_group
from insights import metrics

from . import operators as ops
from . import selectors
from .models import EscalationRule, Handoff, Operator, Queue, QueueMembership, RuleDecision, Signal
from .summarizer import extractive_summary
from .wording import person_coming

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "general"


class HandoffError(Exception):
    """A handoff operation the caller may not do (taken by another agent, not theirs, closed)."""


# --- before storing: redaction --------------------------------------------------------------------


@dataclass(frozen=True)
class Screened:
    """A customer text made safe to store, with what was found and the operators and rules in force."""

    text: str
    findings: list[ops.Finding] = field(default_factory=list)  # of the redacting operators
    operators: list[Operator] = field(default_factory=list)  # enabled customer operators, loaded once
    rules: list[EscalationRule] = field(default_factory=list)  # enabled rules, loaded once


def screen_inbound_text(text: str) -> Screened:
    """Mask what must never be stored (card numbers) before the customer's message is written anywhere."""
    operators, rules = selectors.enabled_operators_and_rules(applies_to=Operator.AppliesTo.CUSTOMER)
    rule_slugs = {
        (r.condition.get("signal") or {}).get("operator")
        for r in rules
        if r.effect == EscalationRule.Effect.REDACT and isinstance(r.condition, dict)
    }
    findings = []
    for operator in operators:
        if operator.kind != Operator.Kind.PATTERN:
            continue
        if not (operator.config.get("redact") or operator.slug in rule_slugs):
            continue
        try:
            findings.extend(ops.RUNNERS[operator.kind](operator, ops.MessageView(text=text, role="customer")))
        except Exception:
            # Fail closed: a broken redacting operator still may not let a card number through.
            logger.exception(
                "redacting operator %s failed; masking card numbers with the built-in check", operator.slug
            )
            spans = ops.fallback_card_spans(text)
            if spans:
                findings.append(ops.Finding(operator, operator.label, 1.0, spans, ops.CARD_MASK))
    if not findings:
        return Screened(text=text, operators=operators, rules=rules)
    masked = ops.mask(text, findings)
    # Offsets point into the raw text and a rule-driven excerpt may hold the value: keep neither.
    kept = [
        ops.Finding(
            f.operator, f.label, f.score, (), f.operator.config.get("mask", ops.REDACTED), {"redacted": True}
        )
        for f in findings
    ]
    return Screened(text=masked, findings=kept, operators=operators, rules=rules)


# --- after storing: operators and rules ----------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    signals: list[Signal]
    decisions: list[RuleDecision]
    handoff: Handoff | None

    @property
    def handed_off(self) -> bool:
        return self.handoff is not None


def _view_for(message: Message, conversation: Conversation) -> ops.MessageView:
    earlier = list(
        Message.objects.filter(
            conversation_id=conversation.id, role=Message.Role.CUSTOMER, created_at__lt=message.created_at
        )
        .order_by("-created_at")
        .values_list("text", flat=True)[:10]
    )
    ai_before = 0
    if message.role == Message.Role.AI:
        ai_before = (
            Message.objects.filter(conversation_id=conversation.id, role=Message.Role.AI)
            .exclude(id=message.id)
            .filter(created_at__lte=message.created_at)
            .count()
        )
    provider = conversation.use_case.llm_provider if conversation.use_case_id else None
    return ops.MessageView(
        text=message.text,
        role=message.role,
        conversation_id=conversation.id,
        previous_customer_texts=tuple(reversed(earlier)),
        ai_messages_before=ai_before,
        provider=provider,
    )


def _store_signals(message: Message, findings: list[ops.Finding]) -> list[Signal]:
    signals = Signal.objects.bulk_create(
        [
            Signal(
                conversation_id=message.conversation_id,
                message=message,
                operator=f.operator,
                operator_slug=f.operator.slug,
                label=f.label,
                score=f.score,
                severity=f.operator.severity,
                span={"excerpt": f.excerpt, "offsets": [list(s) for s in f.spans], **f.extra},
            )
            for f in findings
        ]
    )
    for signal in signals:
        transaction.on_commit(
            lambda s=signal: metrics.SIGNALS.labels(operator=s.operator_slug, label=s.label).inc()
        )
        send_event_on_commit(
            [supervisors_group(), conversation_staff_group(message.conversation_id)],
            event_types.SIGNAL_RAISED,
            selectors.signal_payload(signal),
        )
    return signals


def observe_customer_message(
    *, message: Message, conversation: Conversation, screened: Screened | None = None
) -> Observed:
    """Run the customer operators on a stored message, store and publish the signals, apply the rules.

    Precondition: the message is stored (store first, then act); `screened` is what
    `screen_inbound_text` returned for it. A rule that escalates starts the handoff.
    """
    if screened is None:
        operators, rules = selectors.enabled_operators_and_rules(applies_to=Operator.AppliesTo.CUSTOMER)
        screened = Screened(text=message.text, operators=operators, rules=rules)
    conversation = Conversation.objects.select_related("use_case__llm_provider").get(id=conversation.id)
    view = _view_for(message, conversation)
    done = {f.operator.pk for f in screened.findings}
    findings = list(screened.findings)
    for operator in screened.operators:
        if operator.pk not in done:
            findings.extend(ops.run_operator(operator, view))
    with transaction.atomic():
        signals = _store_signals(message, findings)
    decisions, handoff = evaluate_rules(
        conversation_id=conversation.id, message=message, new_signals=signals, rules=screened.rules
    )
    return Observed(signals=signals, decisions=decisions, handoff=handoff)


def observe_ai_message(*, message: Message) -> Observed:
    """Run the policy operators on an AI message as stored, store and publish their signals, apply the rules."""
    conversation = Conversation.objects.select_related("use_case__llm_provider").get(
        id=message.conversation_id
    )
    view = _view_for(message, conversation)
    findings = []
    for operator in selectors.enabled_operators(applies_to=Operator.AppliesTo.AI):
        findings.extend(ops.run_operator(operator, view))
    if not findings:
        return Observed(signals=[], decisions=[], handoff=None)
    with transaction.atomic():
        signals = _store_signals(message, findings)
    decisions, handoff = evaluate_rules(conversation_id=conversation.id, message=message, new_signals=signals)
    return Observed(signals=signals, decisions=decisions, handoff=handoff)


def _signal_matches(signal: Signal, spec: dict) -> bool:
    if spec.get("operator") and signal.operator_slug != spec["operator"]:
        return False
    if spec.get("label") and signal.label != spec["label"]:
        return False
    return signal.score >= float(spec.get("min_score", 0))


def _window_start(conversation_id: uuid.UUID, turns: int):
    """The time of the `turns`-th latest customer message: signals since then are 'within N turns'."""
    times = list(
        Message.objects.filter(conversation_id=conversation_id, role=Message.Role.CUSTOMER)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:turns]
    )
    return times[-1] if times else None


def _condition_holds(
    rule: EscalationRule, conversation_id: uuid.UUID, new_signals: list[Signal]
) -> tuple[bool, dict]:
    condition = rule.condition or {}
    detail: dict[str, Any] = {}
    triggered = False
    for key in ("signal", "intent"):
        if key not in condition:
            continue
        spec = condition[key] if key == "signal" else {"label": condition[key]}
        matching = [s for s in new_signals if _signal_matches(s, spec)]
        if not matching:
            return False, {}  # a signal rule fires on the message that raised the signal, not later ones
        min_count = int(spec.get("min_count", 1))
        if min_count > 1:
            since = _window_start(conversation_id, int(spec.get("within_turns", 5)))
            earlier = Signal.objects.filter(conversation_id=conversation_id)
            if since is not None:
                earlier = earlier.filter(created_at__gte=since - timedelta(microseconds=1))
            count = sum(1 for s in earlier if _signal_matches(s, spec))
            count = max(count, len(matching))
            if count < min_count:
                return False, {}
            detail["count"] = count
        detail["signals"] = [s.pk for s in matching]
        triggered = True
    if "failed_actions" in condition:
        failed = sum(1 for a in ops.logged_actions(conversation_id) if ops.action_failed(a))
        if failed < int(condition["failed_actions"]):
            return False, {}
        detail["failed_actions"] = failed
    customer_messages = Message.objects.filter(conversation_id=conversation_id, role=Message.Role.CUSTOMER)
    if "min_turns" in condition:
        turns = customer_messages.count()
        if turns < int(condition["min_turns"]):
            return False, {}
        detail["turns"] = turns
    if "min_wait_seconds" in condition:
        waited = selectors.customer_wait_seconds(conversation_id)
        if waited < float(condition["min_wait_seconds"]):
            return False, {}
        detail["wait_seconds"] = round(waited, 1)
    if not condition:
        return False, {}
    if not triggered and RuleDecision.objects.filter(rule=rule, conversation_id=conversation_id).exists():
        return False, {}  # a rule without a signal trigger fires once per conversation
    return True, detail


def evaluate_rules(
    *,
    conversation_id: uuid.UUID,
    message: Message | None = None,
    new_signals: list[Signal] | None = None,
    rules: list[EscalationRule] | None = None,
) -> tuple[list[RuleDecision], Handoff | None]:
    """Apply the enabled rules in priority order; log each one that fires; the first `escalate` hands off.

    Call with no message after an action fails so `failed_actions` rules can fire.
    """
    new_signals = new_signals or []
    decisions: list[RuleDecision] = []
    handoff = None
    for rule in selectors.enabled_rules() if rules is None else rules:
        holds, detail = _condition_holds(rule, conversation_id, new_signals)
        if not holds:
            continue
        if rule.effect == EscalationRule.Effect.ESCALATE:
            conversation = Conversation.objects.only("status", "handler").get(id=conversation_id)
            if (
                conversation.handler != Conversation.Handler.AI
                or conversation.status != Conversation.Status.OPEN
            ):
                continue  # a person already has it; nothing to escalate
        decision = RuleDecision.objects.create(
            rule=rule,
            rule_name=rule.name,
            conversation_id=conversation_id,
            message=message,
            effect=rule.effect,
            detail=detail,
        )
        decisions.append(decision)
        if rule.effect == EscalationRule.Effect.FLAG:
            with transaction.atomic():
                send_event_on_commit(
                    [supervisors_group(), conversation_staff_group(conversation_id)],
                    event_types.FLAG_RAISED,
                    {
                        "conversation_id": str(conversation_id),
                        "rule": rule.name,
                        "decision_id": decision.pk,
                        "message_id": str(message.id) if message else None,
                    },
                )
        elif rule.effect == EscalationRule.Effect.ESCALATE:
            handoff = start_handoff(
                conversation_id=conversation_id,
                reason=rule.handoff_reason or Handoff.Reason.RULE,
                detail=f"rule: {rule.name}",
                priority=rule.handoff_priority,
                rule=rule,
                queue=rule.queue,
                trigger_message=message,
            )
            break
    return decisions, handoff


def check_waiting_conversations() -> list[RuleDecision]:
    """Apply the waiting-time rules to every open or queued conversation (run periodically by a Celery task)."""
    rules = [
        r
        for r in selectors.enabled_rules()
        if "min_wait_seconds" in (r.condition or {}) and not {"signal", "intent"} & set(r.condition)
    ]
    if not rules:
        return []
    decisions: list[RuleDecision] = []
    for conversation_id in selectors.conversations_waiting():
        fired, _ = evaluate_rules(conversation_id=conversation_id, rules=rules)
        decisions.extend(fired)
    return decisions


# --- the handoff and its packet -------------------------------------------------------------------


class _PacketEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)  # an unknown object from another app still reaches the agent, as text


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=_PacketEncoder))


def build_packet(*, handoff: Handoff, conversation: Conversation) -> dict:
    """Everything the agent needs: history, profile, observations, summary, signals, actions, reason, rule."""
    from memory import selectors as memory_selectors

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
        }
        for m in messages
    ]
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
        actions = [ops.action_record(a) for a in ops.logged_actions(conversation.id)]
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


def _staff_groups(handoff: Handoff) -> list[str]:
    """Who hears of a handoff among staff: supervisors, those watching the conversation, its queue."""
    groups = [supervisors_group(), conversation_staff_group(handoff.conversation_id)]
    if handoff.queue_id:
        groups.append(queue_group(handoff.queue_id))
    return groups


def _publish_packet(handoff: Handoff) -> None:
    send_event_on_commit(
        _staff_groups(handoff),
        event_types.PACKET_READY,
        {"handoff_id": handoff.pk, "conversation_id": str(handoff.conversation_id), "packet": handoff.packet},
    )


def start_handoff(
    *,
    conversation_id: uuid.UUID,
    reason: str,
    detail: str = "",
    priority: int = 50,
    rule: EscalationRule | None = None,
    queue: Queue | None = None,
    trigger_message: Message | None = None,
) -> Handoff:
    """Hand a conversation to the human queue with its packet: the AI stops, the customer is told a person is coming.

    Idempotent: a conversation already waiting for or talking to a person keeps its live handoff.
    With a remote LLM the packet is published at once and the summary follows (a Celery task).
    """
    started = time.perf_counter()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("customer", "use_case__llm_provider")
            .get(id=conversation_id)
        )
        live = Handoff.objects.filter(conversation=conversation).exclude(status=Handoff.Status.CLOSED).first()
        if live:
            return live
        queue = queue or Queue.objects.filter(name=DEFAULT_QUEUE).first()
        try:
            with transaction.atomic():
                handoff = Handoff.objects.create(
                    conversation=conversation,
                    reason=reason,
                    detail=detail,
                    priority=priority,
                    rule=rule,
                    queue=queue,
                )
        except IntegrityError:
            return Handoff.objects.exclude(status=Handoff.Status.CLOSED).get(conversation=conversation)
        conversation_services.set_conversation_state(
            conversation=conversation,
            status=Conversation.Status.WAITING,
            handler=Conversation.Handler.HUMAN,
            escalation_reason=reason,
        )
        conversation_services.record_reply(
            conversation_id=conversation.id,
            role=Message.Role.SYSTEM,
            text=person_coming(conversation.channel),
        )
        handoff.packet = build_packet(handoff=handoff, conversation=conversation)
        handoff.save(update_fields=["packet", "updated_at"])
        send_event_on_commit(
            [conversation_group(conversation.id)],
            event_types.HANDOFF_CHANGED,
            {"status": "queued", "agent": None},
        )
        send_event_on_commit(
            _staff_groups(handoff),
            event_types.HANDOFF_CHANGED,
            {
                "status": "queued",
                "agent": None,
                "handoff_id": handoff.pk,
                "conversation_id": str(conversation.id),
                "reason": reason,
                "queue": queue.name if queue else None,
                "priority": priority,
            },
        )
        _publish_packet(handoff)
        if handoff.packet["summary"]["status"] == "pending":
            from .tasks import summarize_handoff

            handoff_id = handoff.pk
            transaction.on_commit(lambda: summarize_handoff.delay(handoff_id))
        transaction.on_commit(lambda: metrics.HANDOFFS.labels(reason=reason).inc())
        transaction.on_commit(lambda: metrics.HANDOFF_PACKET_SECONDS.observe(time.perf_counter() - started))
    logger.info("handoff %s started for conversation %s: %s", handoff.pk, conversation_id, reason)
    return handoff


SUMMARY_PROMPT = (
    "You write handoff notes for the human agent taking over this customer service conversation. In at most "
    "four short lines say: what the customer wants, what has been done, what is still pending, and anything "
    "the agent must be careful about. Use only facts from the transcript."
)


def write_llm_summary(*, handoff_id: int) -> Handoff:
    """Ask the use case's LLM for the packet summary; fall back to the extractive one if it fails, then publish."""
    from conversations.llm import LLMError, provider_for
    from conversations.llm.base import complete_sync

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
        _publish_packet(handoff)
    return handoff


# --- agents: accept, reply, resolve --------------------------------------------------------------


def _display_name(user: AbstractUser) -> str:
    return user.get_full_name() or user.get_username()


def _publish_handoff_change(handoff: Handoff, status: str, *, customer: bool, agent=None) -> None:
    """Tell staff groups (and, when `customer`, the customer's socket) that a handoff changed."""
    name = _display_name(agent) if agent else None
    if customer:
        send_event_on_commit(
            [conversation_group(handoff.conversation_id)],
            event_types.HANDOFF_CHANGED,
            {"status": status, "agent": name},
        )
    send_event_on_commit(
        _staff_groups(handoff),
        event_types.HANDOFF_CHANGED,
        {
            "status": status,
            "agent": name,
            "agent_id": agent.pk if agent else None,
            "handoff_id": handoff.pk,
            "conversation_id": str(handoff.conversation_id),
        },
    )


def accept_handoff(*, handoff_id: int, agent: AbstractUser) -> Handoff:
    """The agent takes a queued handoff; exactly one agent wins a race (a conditional UPDATE).

    Raises HandoffError when the handoff is taken, closed, or outside the agent's queues.
    """
    handoff = Handoff.objects.select_related("queue").filter(pk=handoff_id).first()
    if handoff is None or not selectors.agent_may_take(agent, handoff):
        raise HandoffError("that handoff is not in your queues")
    now = timezone.now()
    with transaction.atomic():
        won = Handoff.objects.filter(pk=handoff_id, status=Handoff.Status.QUEUED).update(
            status=Handoff.Status.ACCEPTED, agent=agent, accepted_at=now, updated_at=now
        )
        if not won:
            raise HandoffError("another agent already accepted this handoff")
        handoff.refresh_from_db()
        queue_name, waited = (
            handoff.queue.name if handoff.queue else "",
            (now - handoff.created_at).total_seconds(),
        )
        transaction.on_commit(lambda: metrics.observe_queue_wait(queue=queue_name, seconds=waited))
        conversation = Conversation.objects.select_for_update().get(id=handoff.conversation_id)
        conversation_services.set_conversation_state(
            conversation=conversation,
            status=Conversation.Status.WITH_AGENT,
            handler=Conversation.Handler.HUMAN,
        )
        _publish_handoff_change(handoff, "accepted", customer=True, agent=agent)
    return handoff


def record_agent_reply(*, handoff_id: int, agent: AbstractUser, text: str) -> Message:
    """Store the accepting agent's reply and deliver it on the customer's channel (web chat, SMS)."""
    from conversations.channels import deliver_reply

    text = (text or "").strip()
    if not text:
        raise ValueError("a reply needs text")
    handoff = Handoff.objects.filter(pk=handoff_id).first()
    if handoff is None or handoff.status != Handoff.Status.ACCEPTED or handoff.agent_id != agent.pk:
        raise HandoffError("only the agent who accepted this handoff may reply")
    with transaction.atomic():
        message = conversation_services.record_reply(
            conversation_id=handoff.conversation_id, role=Message.Role.AGENT, text=text, sender=agent
        )
        deliver_reply(message=message)
    return message


def _close_for(*, handoff_id: int, agent: AbstractUser, verb: str, disposition: str = "") -> Handoff:
    """Lock and close a live handoff held by `agent` (or any, for a supervisor). Precondition: atomic."""
    from deskapp.permissions import is_supervisor

    handoff = Handoff.objects.select_for_update().filter(pk=handoff_id).first()
    if handoff is None or handoff.status == Handoff.Status.CLOSED:
        raise HandoffError("that handoff is already closed")
    if handoff.agent_id != agent.pk and not is_supervisor(agent):
        raise HandoffError(f"only the accepting agent or a supervisor may {verb} this handoff")
    handoff.status = Handoff.Status.CLOSED
    handoff.closed_at = timezone.now()
    handoff.disposition = disposition.strip()[:200]
    handoff.save(update_fields=["status", "closed_at", "disposition", "updated_at"])
    return handoff


def resolve_handoff(*, handoff_id: int, agent: AbstractUser, outcome: str, disposition: str = "") -> Handoff:
    """Close the handoff and its conversation with an outcome (resolved, escalated, abandoned, ...)."""
    if outcome not in Conversation.Outcome.values:
        raise ValueError(f"outcome must be one of {', '.join(Conversation.Outcome.values)}")
    with transaction.atomic():
        handoff = _close_for(handoff_id=handoff_id, agent=agent, verb="resolve", disposition=disposition)
        # The one way a conversation closes: outcome, handle time and the closed-conversations metric.
        conversation = conversation_services.close_conversation(
            conversation=Conversation.objects.get(id=handoff.conversation_id), outcome=outcome
        )
        send_event_on_commit(
            [supervisors_group(), conversation_staff_group(conversation.id)],
            event_types.HANDOFF_CHANGED,
            {
                "status": "closed",
                "handoff_id": handoff.pk,
                "conversation_id": str(conversation.id),
                "outcome": outcome,
            },
        )
    return handoff


def add_queue_member(*, queue: Queue, user: AbstractUser) -> QueueMembership:
    """Make `user` a member of `queue` (idempotent)."""
    membership, _ = QueueMembership.objects.get_or_create(queue=queue, user=user)
    return membership


__all__ = [
    "HandoffError",
    "accept_handoff",
    "add_queue_member",
    "build_packet",
    "check_waiting_conversations",
    "evaluate_rules",
    "observe_ai_message",
    "observe_customer_message",
    "record_agent_reply",
    "resolve_handoff",
    "screen_inbound_text",
    "start_handoff",
    "write_llm_summary",
]


# --- the desk: hand back, take over, reassign, copilot drafts -------------------------------------


def hand_back_to_ai(*, handoff_id: int, agent) -> Handoff:
    """The agent returns the conversation to the AI: the handoff closes, the AI answers the next message."""
    with transaction.atomic():
        handoff = _close_for(handoff_id=handoff_id, agent=agent, verb="hand back")
        conversation = Conversation.objects.select_for_update().get(id=handoff.conversation_id)
        conversation_services.set_conversation_state(
            conversation=conversation, status=Conversation.Status.OPEN, handler=Conversation.Handler.AI
        )
        conversation_services.record_reply(
            conversation_id=conversation.id,
            role=Message.Role.SYSTEM,
            text="You're back with our automated assistant. Ask for a person at any time.",
        )
        _publish_handoff_change(handoff, "closed", customer=False, agent=agent)
    return handoff


def reassign_handoff(*, handoff_id: int, supervisor, agent) -> Handoff:
    """A supervisor gives a live handoff to another agent, who holds it from now on."""
    from deskapp.permissions import is_agent, is_supervisor

    if not is_supervisor(supervisor):
        raise HandoffError("only supervisors may reassign conversations")
    if not is_agent(agent):
        raise HandoffError(f"{agent.get_username()} is not an agent")
    now = timezone.now()
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update().filter(pk=handoff_id).first()
        if handoff is None or handoff.status == Handoff.Status.CLOSED:
            raise HandoffError("that handoff is already closed")
        handoff.agent = agent
        handoff.status = Handoff.Status.ACCEPTED
        handoff.accepted_at = handoff.accepted_at or now
        handoff.save(update_fields=["agent", "status", "accepted_at", "updated_at"])
        conversation = Conversation.objects.select_for_update().get(id=handoff.conversation_id)
        conversation_services.set_conversation_state(
            conversation=conversation,
            status=Conversation.Status.WITH_AGENT,
            handler=Conversation.Handler.HUMAN,
        )
        _publish_handoff_change(handoff, "accepted", customer=True, agent=agent)
    return handoff


def take_over(*, conversation_id: uuid.UUID, supervisor) -> Handoff:
    """A supervisor takes a conversation from the AI or the queue and holds it themselves."""
    from deskapp.permissions import is_supervisor

    if not is_supervisor(supervisor):
        raise HandoffError("only supervisors may take over conversations")
    handoff = selectors.live_handoff(conversation_id)
    if handoff is None:
        handoff = start_handoff(
            conversation_id=conversation_id,
            reason=Handoff.Reason.SUPERVISOR,
            detail=f"taken over by {_display_name(supervisor)}",
        )
    if handoff.status == Handoff.Status.QUEUED:
        try:
            return accept_handoff(handoff_id=handoff.pk, agent=supervisor)
        except HandoffError:
            handoff.refresh_from_db()
    if handoff.agent_id != supervisor.pk:
        return reassign_handoff(handoff_id=handoff.pk, supervisor=supervisor, agent=supervisor)
    return handoff


def send_agent_reply(*, handoff_id: int, agent, text: str, draft_id: int | None = None) -> Message:
    """The agent's reply to the customer; when it came from an AI draft, record sent as is or edited."""
    from . import copilot
    from .models import CopilotDraft

    with transaction.atomic():
        message = record_agent_reply(handoff_id=handoff_id, agent=agent, text=text)
        if (
            draft_id
            and CopilotDraft.objects.filter(
                pk=draft_id, conversation_id=message.conversation_id, status=CopilotDraft.Status.PENDING
            ).exists()
        ):
            copilot.record_draft_use(draft_id=draft_id, agent=agent, sent_text=message.text)
    return message


def add_agent_note(*, conversation_id: uuid.UUID, agent, text: str):
    """Save an agent's note about the customer into their memory, recalled like any observation."""
    from memory import services as memory_services

    text = (text or "").strip()
    if not text:
        raise ValueError("a note needs text")
    conversation = Conversation.objects.get(id=conversation_id)
    return memory_services.add_observations(
        customer_id=conversation.customer_id,
        items=[{"text": text[:1000], "kind": "fact", "confidence": 1.0}],
        conversation_id=conversation_id,
    )

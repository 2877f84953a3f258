"""After a customer or AI message is stored: run the operators, store and publish their signals, apply the rules."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction

from conversations.actions import selectors as action_selectors
from conversations.models import Conversation, Message
from infra import metrics

from .. import operators as ops
from .. import selectors
from ..models import Handoff, Operator, RuleDecision, Signal
from . import notify
from .rules import Known, evaluate_rules
from .screening import Screened


@dataclass(frozen=True)
class Observed:
    signals: list[Signal]
    decisions: list[RuleDecision]
    handoff: Handoff | None

    @property
    def handed_off(self) -> bool:
        return self.handoff is not None


# Operators read at most this many earlier customer turns (a sentiment or repeat window).
EARLIER_TEXTS = 10


def _earlier_customer_texts(
    message: Message, conversation_id: uuid.UUID, *, failed_actions: bool = False
) -> tuple[tuple[str, ...], Known]:
    """The customer texts before `message` (oldest first, at most EARLIER_TEXTS), how many customer
    messages the conversation holds and (with `failed_actions`) how many of its actions failed, in one
    query."""
    # Written out: it runs on every customer message, and the ORM took several times longer to build
    # this statement (a window count, a subquery) than PostgreSQL to run it.
    failed = action_selectors.failed_actions_count_sql("%(conversation)s") if failed_actions else "NULL"
    sql = (
        f"SELECT text, created_at, count(*) OVER (), {failed} FROM {Message._meta.db_table}"
        " WHERE conversation_id = %(conversation)s AND role = %(role)s"
        f" ORDER BY created_at DESC LIMIT {EARLIER_TEXTS + 1}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"conversation": conversation_id, "role": Message.Role.CUSTOMER})
        rows = [
            {"text": t, "created_at": at, "total": total, "failed": n}
            for t, at, total, n in cursor.fetchall()
        ]
    first = rows[0] if rows else {}
    known = Known(turns=first.get("total"), failed_actions=first.get("failed"))
    earlier = [r["text"] for r in rows if r["created_at"] < message.created_at][:EARLIER_TEXTS]
    if len(earlier) < EARLIER_TEXTS and len(rows) > EARLIER_TEXTS:
        # Later customer messages (stored meanwhile) took the places of earlier ones: read those alone.
        earlier = list(
            Message.objects.filter(
                conversation_id=conversation_id, role=Message.Role.CUSTOMER, created_at__lt=message.created_at
            )
            .order_by("-created_at")
            .values_list("text", flat=True)[:EARLIER_TEXTS]
        )
    return tuple(reversed(earlier)), known


def _view_for(
    message: Message,
    conversation: Conversation,
    *,
    previous_customer_texts: tuple[str, ...] | None = None,
    ai_before: int | None = None,
) -> ops.MessageView:
    if previous_customer_texts is None:
        previous_customer_texts, _ = _earlier_customer_texts(message, conversation.id)
    if ai_before is None:
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
        previous_customer_texts=previous_customer_texts,
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
        _announce(signal)
    return signals


def _announce(signal: Signal) -> None:
    """Count a stored signal and push it to supervisors once the transaction commits."""
    operator, label = signal.operator_slug, signal.label
    transaction.on_commit(lambda: metrics.SIGNALS.labels(operator=operator, label=label).inc())
    notify.signal_raised(signal)


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
    earlier, known = _earlier_customer_texts(
        message,
        conversation.id,
        failed_actions=any("failed_actions" in (rule.condition or {}) for rule in screened.rules),
    )
    view = _view_for(message, conversation, previous_customer_texts=earlier)
    done = {f.operator.pk for f in screened.findings}
    findings = list(screened.findings)
    for operator in screened.operators:
        if operator.pk not in done:
            findings.extend(ops.run_operator(operator, view))
    with transaction.atomic():
        signals = _store_signals(message, findings)
    decisions, handoff = evaluate_rules(
        conversation_id=conversation.id,
        message=message,
        new_signals=signals,
        rules=screened.rules,
        known=known,
    )
    return Observed(signals=signals, decisions=decisions, handoff=handoff)


def observe_ai_message(
    *,
    message: Message,
    conversation: Conversation | None = None,
    earlier: Sequence[Message] | None = None,
    earlier_complete: bool = False,
) -> Observed:
    """Run the policy operators on an AI message as stored, store and publish their signals, apply the rules.

    The AI turn passes what it already read: `conversation` (with its use case and LLM provider) and
    `earlier`, the conversation's latest messages before this one, oldest first, as the reply answered
    them; `earlier_complete` when no older message was left out. Otherwise they are read here.
    """
    operators = selectors.enabled_operators(applies_to=Operator.AppliesTo.AI)
    if not operators:
        return Observed(signals=[], decisions=[], handoff=None)
    if conversation is None:
        conversation = Conversation.objects.select_related("use_case__llm_provider").get(
            id=message.conversation_id
        )
    previous_customer_texts = ai_before = None
    if earlier is not None:
        # The same bounds as the queries of `_view_for`.
        texts = [
            m.text for m in earlier if m.role == Message.Role.CUSTOMER and m.created_at < message.created_at
        ][-EARLIER_TEXTS:]
        if earlier_complete or len(texts) == EARLIER_TEXTS:
            previous_customer_texts = tuple(texts)
        if earlier_complete:
            ai_before = sum(
                1
                for m in earlier
                if m.role == Message.Role.AI and m.id != message.id and m.created_at <= message.created_at
            )
    view = _view_for(
        message, conversation, previous_customer_texts=previous_customer_texts, ai_before=ai_before
    )
    findings = []
    for operator in operators:
        findings.extend(ops.run_operator(operator, view))
    if not findings:
        return Observed(signals=[], decisions=[], handoff=None)
    with transaction.atomic():
        signals = _store_signals(message, findings)
    decisions, handoff = evaluate_rules(conversation_id=conversation.id, message=message, new_signals=signals)
    return Observed(signals=signals, decisions=decisions, handoff=handoff)


DELIVERY_OPERATOR = "delivery"
KNOWLEDGE_OPERATOR = "knowledge"
KNOWLEDGE_GAP = "knowledge_gap"


def _record_once(
    message_id: uuid.UUID, *, operator: str, label: str, severity: str, span, then=None
) -> Signal | None:
    """A signal raised by Baton itself (not an operator) on a message, once per message and label;
    published, then the rules apply. `span(message)` says what the signal shows; `then(message)`
    runs in the same transaction."""
    message = Message.objects.select_related("sender").filter(id=message_id).first()
    if message is None:
        return None
    with transaction.atomic():
        if Signal.objects.filter(message=message, operator_slug=operator, label=label).exists():
            return None
        signal = Signal.objects.create(
            conversation_id=message.conversation_id,
            message=message,
            operator_slug=operator,
            label=label,
            severity=severity,
            span=span(message),
        )
        _announce(signal)
        if then is not None:
            then(message)
    evaluate_rules(conversation_id=message.conversation_id, message=message, new_signals=[signal])
    return signal


def record_failed_delivery(*, message_id: uuid.UUID, channel: str, error: str) -> Signal | None:
    """A message never reached its customer: a critical signal on it, the desk marks it, the rules apply.

    Receiver of `conversations.signals.delivery_failed` (after the outbox gave up or Twilio reported
    it undelivered). Idempotent per message: a second report of the same failure adds nothing.
    """
    return _record_once(
        message_id,
        operator=DELIVERY_OPERATOR,
        label="delivery_failed",
        severity=Operator.Severity.CRITICAL,
        span=lambda m: {"excerpt": m.text[:200], "channel": channel, "error": error[:500]},
        then=lambda m: notify.delivery_failed(m, error=error),
    )


def record_knowledge_gap(*, message_id: uuid.UUID, best_score: float | None) -> Signal | None:
    """No article answered this customer question: a `knowledge_gap` signal on it, the rules apply.

    The runtime calls it when the AI declined for want of an article; escalation rules can match
    `{"label": "knowledge_gap"}`, and the knowledge gaps page groups these questions. Idempotent per
    message.
    """
    return _record_once(
        message_id,
        operator=KNOWLEDGE_OPERATOR,
        label=KNOWLEDGE_GAP,
        severity=Operator.Severity.WARNING,
        span=lambda m: {
            "excerpt": m.text[:300],
            "best_score": None if best_score is None else round(best_score, 4),
        },
    )

"""Escalation rules: which fire for a message (or a wait, or failed actions), and what they do."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction

from conversations.actions.selectors import actions_taken
from conversations.models import Conversation, Message

from .. import operators as ops
from .. import selectors
from ..models import EscalationRule, Handoff, RuleDecision, Signal
from . import notify
from .handoffs import start_handoff


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


@dataclass(frozen=True)
class Known:
    """What the caller has just read of the conversation, so the rules need not read it again."""

    turns: int | None = None  # its customer messages
    failed_actions: int | None = None  # its actions that ran and failed (`operators.action_failed`)


def _condition_holds(
    rule: EscalationRule, conversation_id: uuid.UUID, new_signals: list[Signal], known: Known
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
        failed = known.failed_actions
        if failed is None:
            failed = sum(1 for a in actions_taken(conversation_id) if ops.action_failed(a))
        if failed < int(condition["failed_actions"]):
            return False, {}
        detail["failed_actions"] = failed
    if "min_turns" in condition:
        turns = known.turns
        if turns is None:
            turns = Message.objects.filter(
                conversation_id=conversation_id, role=Message.Role.CUSTOMER
            ).count()
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
    known: Known | None = None,
) -> tuple[list[RuleDecision], Handoff | None]:
    """Apply the enabled rules in priority order; log each one that fires; the first `escalate` hands off.

    Call with no message after an action fails so `failed_actions` rules can fire.
    """
    new_signals = new_signals or []
    known = known or Known()
    decisions: list[RuleDecision] = []
    handoff = None
    for rule in selectors.enabled_rules() if rules is None else rules:
        holds, detail = _condition_holds(rule, conversation_id, new_signals, known)
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
                notify.flag_raised(
                    conversation_id=conversation_id,
                    rule_name=rule.name,
                    decision_id=decision.pk,
                    message=message,
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

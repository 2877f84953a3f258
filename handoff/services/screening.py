"""Before a customer message is stored: mask what must never be stored (card numbers)."""

import logging
from dataclasses import dataclass, field

from infra import entities

from .. import operators as ops
from .. import selectors
from ..models import EscalationRule, Operator

logger = logging.getLogger(__name__)


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
            spans = entities.card_number_spans(text)
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

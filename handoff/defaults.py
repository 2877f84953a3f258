"""The default operators, escalation rules and queue the demo seed installs (idempotent)."""

from django.contrib.auth.models import User
from django.db import transaction

from infra import entities

from .models import EscalationRule, Operator, Queue, QueueMembership

# Negated requests for a person: "I don't need a human", "no need for an agent".
NEGATED_HUMAN = (
    r"\b(?:don'?t|do not|doesn'?t|no need|not|never|without|no)\b[^.?!]{0,25}"
    r"\b(?:human|person|agent|representative|operator|someone)\b"
)

OPERATORS = [
    {
        "slug": "card-number",
        "name": "Payment card number",
        "kind": Operator.Kind.PATTERN,
        "label": "card_number",
        "severity": Operator.Severity.CRITICAL,
        "description": "13-19 digits (spaces or dashes allowed) that pass the Luhn check; masked before storage.",
        "config": {
            "patterns": [entities.CARD_NUMBER],
            "luhn": True,
            "redact": True,
            "mask": "[card number redacted]",
        },
    },
    {
        "slug": "human-request",
        "name": "Asks for a human (keywords)",
        "kind": Operator.Kind.PATTERN,
        "label": "asks_for_human",
        "severity": Operator.Severity.WARNING,
        "config": {
            "patterns": [
                r"\b(?:talk|speak|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|the\s+)?(?:real\s+|live\s+)?"
                r"(?:human|person|agent|representative|someone|somebody|manager|supervisor)\b",
                r"\b(?:real|live)\s+(?:person|human|agent)\b",
                r"\b(?:human|representative)\s+please\b",
                r"^\s*(?:agent|representative|human|operator)[\s!.]*$",
                r"\bget\s+me\s+(?:a\s+)?(?:human|person|manager|supervisor|someone)\b",
            ],
            "negations": [NEGATED_HUMAN],
        },
    },
    {
        "slug": "asks-for-human",
        "name": "Asks for a human (meaning)",
        "kind": Operator.Kind.SEMANTIC,
        "label": "asks_for_human",
        "severity": Operator.Severity.WARNING,
        "config": {
            "mode": "examples",
            "threshold": 0.72,
            "examples": [
                "I want to talk to a human",
                "let me speak to a real person",
                "can I get a representative",
                "connect me with an agent please",
                "I need to speak with someone from your team",
                "transfer me to customer service",
                "is there a person I can talk to",
            ],
            "negative_examples": [
                "I don't need a human",
                "no need for an agent, you can help me",
                "I don't want to talk to a person",
                "you are doing fine, no human needed",
            ],
        },
    },
    {
        "slug": "abuse",
        "name": "Profanity and abuse",
        "kind": Operator.Kind.PATTERN,
        "label": "abuse",
        "severity": Operator.Severity.WARNING,
        "config": {
            "keywords": [
                "fuck",
                "fucking",
                "fucked",
                "shit",
                "shitty",
                "bullshit",
                "asshole",
                "bastard",
                "bitch",
                "crap",
                "damn you",
                "idiot",
                "idiots",
                "moron",
                "stupid bot",
                "useless bot",
                "screw you",
                "piece of shit",
                "go to hell",
                "shut up",
            ],
        },
    },
    {
        "slug": "repeated-question",
        "name": "Customer repeats themselves",
        "kind": Operator.Kind.SEMANTIC,
        "label": "repeated",
        "severity": Operator.Severity.WARNING,
        "config": {"mode": "repeat", "threshold": 0.82, "window": 6, "min_words": 4},
    },
    {
        "slug": "legal-threat",
        "name": "Legal threat",
        "kind": Operator.Kind.PATTERN,
        "label": "legal_threat",
        "severity": Operator.Severity.CRITICAL,
        "config": {
            "patterns": [
                r"\b(?:lawyer|attorney|solicitor|lawsuit|legal action|small claims|class action)s?\b",
                r"\b(?:sue|suing)\s+(?:you|your|the|this)\b",
                r"\btake\s+(?:you|this|it)\s+to\s+court\b",
                r"\breport(?:ing)?\s+(?:you|this)\s+to\s+the\s+(?:FTC|BBB|attorney general|consumer protection)\b",
                r"\bchargeback\b",
            ],
        },
    },
    {
        "slug": "churn-intent",
        "name": "Cancellation / churn intent",
        "kind": Operator.Kind.PATTERN,
        "label": "churn_risk",
        "severity": Operator.Severity.WARNING,
        "config": {
            "patterns": [
                r"\b(?:close|delete|cancel|terminate)\s+(?:my|the)\s+(?:account|membership|subscription)\b",
                r"\b(?:never|won'?t)\s+(?:shop|order|buy)(?:ping)?\s+(?:here|from you|with you)\s+again\b",
                r"\b(?:switch(?:ing)?|go(?:ing)?|mov(?:e|ing))\s+to\s+(?:a\s+)?(?:competitor|another store|amazon|walmart)\b",
                r"\btak(?:e|ing)\s+my\s+business\s+elsewhere\b",
                r"\bunsubscribe\b",
            ],
        },
    },
    {
        "slug": "frustration",
        "name": "Frustration over recent turns",
        "kind": Operator.Kind.SENTIMENT,
        "label": "frustrated",
        "severity": Operator.Severity.WARNING,
        "config": {"window": 3, "threshold": -0.35},
    },
    {
        "slug": "intent-llm",
        "name": "Intent (LLM, JSON label)",
        "kind": Operator.Kind.GENERATIVE,
        "label": "intent",
        "severity": Operator.Severity.INFO,
        "enabled": False,  # one extra LLM call per message: an admin opts in
        "config": {
            "labels": ["cancel_order", "return_items", "complaint", "asks_for_human", "churn_risk"],
            "threshold": 0.6,
            "timeout_seconds": 4,
            "prompt": "Classify the customer's message for a store's support team. Reply with JSON only: "
            '{"label": one of LABELS, "score": a confidence from 0 to 1}.',
        },
    },
    {
        "slug": "action-claimed-not-logged",
        "name": "AI claims an action that is not in the audit log",
        "kind": Operator.Kind.POLICY,
        "applies_to": Operator.AppliesTo.AI,
        "label": "policy_breach",
        "severity": Operator.Severity.CRITICAL,
        "config": {"check": "claimed_action"},
    },
    {
        "slug": "promise-outside-policy",
        "name": "AI promises something outside policy",
        "kind": Operator.Kind.POLICY,
        "applies_to": Operator.AppliesTo.AI,
        "label": "policy_breach",
        "severity": Operator.Severity.WARNING,
        "config": {
            "check": "promise",
            "patterns": [
                r"\bI (?:promise|guarantee)\b",
                r"\bguaranteed?\b",
                r"\b(?:full|instant|immediate)\s+refund\b(?![^.]*gift card)",
                r"\bfree of charge\b",
                r"\b\d{1,3}\s?% (?:off|discount)\b",
                r"\bI(?:'ll| will| can)\s+(?:give|send|offer)\s+you\s+(?:a\s+|an\s+)?(?:voucher|coupon|credit|discount|compensation)\b",
                r"\bwithin (?:the hour|24 hours|one day)\b",
            ],
        },
    },
    {
        "slug": "disclosure-missing",
        "name": "AI disclosure missing from the first reply",
        "kind": Operator.Kind.POLICY,
        "applies_to": Operator.AppliesTo.AI,
        "label": "disclosure_missing",
        "severity": Operator.Severity.INFO,
        "enabled": False,  # only where the law requires it: an admin opts in and sets the wording
        "config": {"check": "disclosure", "required": r"\b(?:AI|automated|virtual assistant)\b"},
    },
]

RULES = [
    {
        "name": "Redact payment card numbers",
        "priority": 1,
        "effect": EscalationRule.Effect.REDACT,
        "condition": {"signal": {"operator": "card-number"}},
    },
    {
        "name": "Legal threat",
        "priority": 5,
        "effect": EscalationRule.Effect.ESCALATE,
        "condition": {"signal": {"label": "legal_threat"}},
        "handoff_priority": 10,
    },
    {
        "name": "Customer asks for a person",
        "priority": 10,
        "effect": EscalationRule.Effect.ESCALATE,
        "condition": {"signal": {"label": "asks_for_human"}},
        "handoff_priority": 30,
        "handoff_reason": "customer_request",
    },
    {
        "name": "Action keeps failing",
        "priority": 15,
        "effect": EscalationRule.Effect.ESCALATE,
        "condition": {"failed_actions": 2},
        "handoff_priority": 20,
        "handoff_reason": "action_failed",
    },
    {
        "name": "Customer repeats themselves twice",
        "priority": 20,
        "effect": EscalationRule.Effect.ESCALATE,
        "condition": {"signal": {"label": "repeated", "min_count": 2, "within_turns": 6}},
        "handoff_priority": 30,
    },
    {
        "name": "Frustrated over several turns",
        "priority": 25,
        "effect": EscalationRule.Effect.ESCALATE,
        "condition": {"signal": {"label": "frustrated", "min_score": 0.5, "min_count": 2, "within_turns": 3}},
        "handoff_priority": 30,
    },
    {
        "name": "Abusive language",
        "priority": 30,
        "effect": EscalationRule.Effect.FLAG,
        "condition": {"signal": {"label": "abuse"}},
    },
    {
        "name": "Churn risk",
        "priority": 35,
        "effect": EscalationRule.Effect.FLAG,
        "condition": {"signal": {"label": "churn_risk"}},
    },
    {
        "name": "AI broke policy",
        "priority": 40,
        "effect": EscalationRule.Effect.FLAG,
        "condition": {"signal": {"label": "policy_breach"}},
    },
    {
        "name": "A message could not be delivered",
        "priority": 45,
        "effect": EscalationRule.Effect.FLAG,
        "condition": {"signal": {"label": "delivery_failed"}},
    },
    {
        # The AI had no article for the question and offered a person (admin: Knowledge gaps).
        "name": "Knowledge gap",
        "priority": 50,
        "effect": EscalationRule.Effect.FLAG,
        "condition": {"signal": {"label": "knowledge_gap"}},
    },
    {
        "name": "Long conversation",
        "priority": 60,
        "effect": EscalationRule.Effect.FLAG,
        "condition": {"min_turns": 20},
    },
]


@transaction.atomic
def seed_handoff_defaults(*, members: list[User] | None = None) -> dict:
    """Install the default queue, operators and rules; existing rows (maybe edited in admin) are kept."""
    queue, _ = Queue.objects.get_or_create(name="general", defaults={"skills": []})
    for user in members or []:
        QueueMembership.objects.get_or_create(queue=queue, user=user)
    created_operators = 0
    for spec in OPERATORS:
        _, created = Operator.objects.get_or_create(slug=spec["slug"], defaults=spec)
        created_operators += created
    created_rules = 0
    for spec in RULES:
        defaults = {**spec, "queue": queue}
        _, created = EscalationRule.objects.get_or_create(name=spec["name"], defaults=defaults)
        created_rules += created
    return {"queue": queue.name, "operators": created_operators, "rules": created_rules}

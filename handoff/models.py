import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from conversations.models import Conversation, Message
from infra.models import TimeStamped


class Queue(TimeStamped):
    name = models.CharField(max_length=100, unique=True)
    skills = models.JSONField(
        default=list, blank=True, help_text='Skills this queue needs, e.g. ["returns"].'
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="QueueMembership", related_name="handoff_queues", blank=True
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class QueueMembership(TimeStamped):
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="queue_memberships"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "user"], name="queue_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.queue}"


class Operator(TimeStamped):
    """A language operator: reads a message and emits signals. Configured in admin."""

    class Kind(models.TextChoices):
        PATTERN = "pattern", "Pattern (regex / keywords)"
        SENTIMENT = "sentiment", "Sentiment (VADER lexicon)"
        SEMANTIC = "semantic", "Semantic (similarity to example phrases)"
        GENERATIVE = "generative", "Generative (LLM returns a JSON label)"
        POLICY = "policy", "Policy (checks the AI's own messages)"

    class AppliesTo(models.TextChoices):
        CUSTOMER = "customer", "Customer messages"
        AI = "ai", "AI messages"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    applies_to = models.CharField(max_length=16, choices=AppliesTo.choices, default=AppliesTo.CUSTOMER)
    label = models.CharField(max_length=64, help_text="The label of the signals it emits.")
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.INFO)
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text="Kind-specific settings: patterns, keywords, luhn, redact, examples, threshold, prompt, ...",
    )
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        """Reject a config the operator could not run, with a message that says what to fix."""
        config = self.config if isinstance(self.config, dict) else None
        if config is None:
            raise ValidationError({"config": "config must be a JSON object"})
        for key in ("patterns", "negations"):
            for pattern in config.get(key, []):
                try:
                    re.compile(pattern)
                except (re.error, TypeError) as exc:
                    raise ValidationError(
                        {"config": f"{key}: {pattern!r} is not a valid regex ({exc})"}
                    ) from exc
        if self.kind == self.Kind.PATTERN and not (config.get("patterns") or config.get("keywords")):
            raise ValidationError({"config": 'a pattern operator needs "patterns" or "keywords"'})
        if self.kind == self.Kind.SEMANTIC and config.get("mode") != "repeat" and not config.get("examples"):
            raise ValidationError({"config": 'a semantic operator needs "examples" (or "mode": "repeat")'})
        if self.kind == self.Kind.POLICY and self.applies_to != self.AppliesTo.AI:
            raise ValidationError({"applies_to": "policy operators check the AI's own messages"})


class Signal(models.Model):
    """One operator finding on one message; never shown to the customer."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="signals")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="signals"
    )
    operator = models.ForeignKey(
        Operator, null=True, blank=True, on_delete=models.SET_NULL, related_name="signals"
    )
    operator_slug = models.CharField(max_length=80)
    label = models.CharField(max_length=64)
    score = models.FloatField(default=1.0)
    severity = models.CharField(
        max_length=16, choices=Operator.Severity.choices, default=Operator.Severity.INFO
    )
    # The matched text with anything sensitive already masked, plus offsets in the stored text.
    span = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="signal_conv_created")]

    def __str__(self) -> str:
        return f"{self.operator_slug}:{self.label} ({self.score:.2f})"


class EscalationRule(TimeStamped):
    """Maps signals, intents, failed actions, turn counts or waiting time to an effect. Configured in admin."""

    class Effect(models.TextChoices):
        ESCALATE = "escalate", "Escalate now"
        FLAG = "flag", "Flag for a supervisor"
        REDACT = "redact", "Redact the matched text"

    name = models.CharField(max_length=200, unique=True)
    enabled = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(default=50, help_text="Rules run lowest first.")
    condition = models.JSONField(
        default=dict,
        help_text=(
            'All given keys must hold: {"signal": {"operator": slug, "label": l, "min_score": 0.5, '
            '"min_count": 1, "within_turns": 5}, "intent": label, "failed_actions": 2, "min_turns": 10, '
            '"min_wait_seconds": 120}'
        ),
    )
    effect = models.CharField(max_length=16, choices=Effect.choices, default=Effect.ESCALATE)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL)
    handoff_priority = models.PositiveSmallIntegerField(default=50, help_text="Lower is more urgent.")
    handoff_reason = models.CharField(
        max_length=32, default="rule", help_text="Reason recorded on the handoff."
    )

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.effect})"

    CONDITION_KEYS = frozenset({"signal", "intent", "failed_actions", "min_turns", "min_wait_seconds"})
    SIGNAL_KEYS = frozenset({"operator", "label", "min_score", "min_count", "within_turns"})

    def clean(self) -> None:
        """Reject a condition the rule engine would not understand, naming the bad key."""
        condition = self.condition
        if not isinstance(condition, dict) or not condition:
            raise ValidationError({"condition": f"a JSON object with any of {sorted(self.CONDITION_KEYS)}"})
        unknown = set(condition) - self.CONDITION_KEYS
        if unknown:
            raise ValidationError(
                {"condition": f"unknown keys {sorted(unknown)}; use {sorted(self.CONDITION_KEYS)}"}
            )
        spec = condition.get("signal")
        if spec is not None:
            if not isinstance(spec, dict) or not (spec.get("operator") or spec.get("label")):
                raise ValidationError({"condition": 'signal needs an "operator" slug or a "label"'})
            unknown = set(spec) - self.SIGNAL_KEYS
            if unknown:
                raise ValidationError({"condition": f"unknown signal keys {sorted(unknown)}"})
        if self.effect == self.Effect.REDACT and not (spec or {}).get("operator"):
            raise ValidationError(
                {
                    "condition": 'a redact rule names the operator whose matches it masks: {"signal": {"operator": slug}}'
                }
            )
        for key in ("failed_actions", "min_turns", "min_wait_seconds"):
            if key in condition and not isinstance(condition[key], int | float):
                raise ValidationError({"condition": f"{key} must be a number"})


class RuleDecision(models.Model):
    """The log of every rule that fired, with what it decided."""

    rule = models.ForeignKey(EscalationRule, null=True, on_delete=models.SET_NULL, related_name="decisions")
    rule_name = models.CharField(max_length=200)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="rule_decisions")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL)
    effect = models.CharField(max_length=16, choices=EscalationRule.Effect.choices)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.rule_name} → {self.effect}"


class Handoff(TimeStamped):
    # QUEUED and ACCEPTED are mirrored on Conversation.Status (WAITING, WITH_AGENT): see the reason there.
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        ACCEPTED = "accepted", "Accepted"
        CLOSED = "closed", "Closed"

    class Reason(models.TextChoices):
        CUSTOMER_REQUEST = "customer_request", "Customer asked for a person"
        LLM_FAILURE = "llm_failure", "LLM failure"
        ACTION_FAILED = "action_failed", "Action kept failing"
        RULE = "rule", "Escalation rule"
        OUT_OF_POLICY = "out_of_policy", "Outside policy"
        SUPERVISOR = "supervisor", "Supervisor took over"
        ROLLOUT = "rollout", "Rollout: humans handle this conversation"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="handoffs")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    detail = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    priority = models.PositiveSmallIntegerField(default=50, help_text="Lower is more urgent.")
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    rule = models.ForeignKey(EscalationRule, null=True, blank=True, on_delete=models.SET_NULL)
    packet = models.JSONField(default=dict, blank=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    accepted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    disposition = models.CharField(max_length=200, blank=True, help_text="The agent's closing note.")

    class Meta:
        ordering = ["priority", "created_at"]
        constraints = [
            # At most one live handoff per conversation.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=~Q(status="closed"),
                name="handoff_one_open_per_conversation",
            )
        ]
        indexes = [
            models.Index(fields=["status", "priority", "created_at"], name="handoff_status_prio"),
            models.Index(fields=["queue", "status"], name="handoff_queue_status"),
        ]

    def __str__(self) -> str:
        return f"handoff {self.pk} ({self.reason}, {self.status})"


class CopilotDraft(TimeStamped):
    """What the AI would answer to one customer message, offered to the agent (and, in shadow mode, measured)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT_AS_IS = "sent_as_is", "Sent as is"
        EDITED = "edited", "Sent edited"
        IGNORED = "ignored", "Ignored"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="copilot_drafts")
    customer_message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="copilot_drafts")
    text = models.TextField()
    # Tools the AI would call: shown to the agent as suggestions, never run from a draft.
    suggested_actions = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    sent_text = models.TextField(blank=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # One draft per customer message: a retried task must not draft twice.
            models.UniqueConstraint(fields=["customer_message"], name="copilotdraft_one_per_message")
        ]
        indexes = [models.Index(fields=["conversation", "status"], name="copilotdraft_conv_status")]

    def __str__(self) -> str:
        return f"draft {self.pk} ({self.status})"

"""Models of the insights app: alert rules on operational metrics and the history of their firing,
and the knowledge gaps (a view of handoff's signals) that the admin groups by meaning."""

from django.db import models

from conversations.models import UseCase
from handoff.models import Signal
from handoff.services import KNOWLEDGE_GAP
from infra.models import TimeStamped


class AlertRule(TimeStamped):
    class Metric(models.TextChoices):
        ESCALATION_RATE = "escalation_rate", "Escalation rate (share of AI conversations handed off)"
        LLM_ERROR_RATE = "llm_error_rate", "LLM error rate (failed turns / AI turns)"
        ABANDONMENT_RATE = "abandonment_rate", "Abandonment rate (share of closed conversations)"
        QUEUE_WAIT_SECONDS = "queue_wait_seconds", "Longest wait in the human queue (seconds)"
        HANDOFFS = "handoffs", "Handoffs started in the window"
        WORKER_HEARTBEAT_AGE = (
            "worker_heartbeat_age",
            "Seconds since the background worker's last heartbeat (none at all: fires)",
        )

    class Comparison(models.TextChoices):
        ABOVE = "above", "above"
        BELOW = "below", "below"

    class State(models.TextChoices):
        OK = "ok", "OK"
        FIRING = "firing", "Firing"

    name = models.CharField(max_length=200, unique=True)
    metric = models.CharField(max_length=32, choices=Metric.choices)
    use_case = models.ForeignKey(
        UseCase, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: every use case."
    )
    comparison = models.CharField(max_length=8, choices=Comparison.choices, default=Comparison.ABOVE)
    threshold = models.FloatField(help_text="Rates are fractions: 0.2 means 20%.")
    window_minutes = models.PositiveIntegerField(default=15)
    min_samples = models.PositiveIntegerField(
        default=10, help_text="A rate over fewer conversations or turns than this never fires."
    )
    webhook_url = models.URLField(blank=True, help_text="POSTed a JSON body when the alert fires or clears.")
    enabled = models.BooleanField(default=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OK)
    last_value = models.FloatField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(window_minutes__gt=0), name="alertrule_window_positive")
        ]

    def __str__(self) -> str:
        return self.name


class AlertEvent(models.Model):
    """One change of an alert's state, with how the webhook delivery went."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    state = models.CharField(max_length=8, choices=AlertRule.State.choices)
    value = models.FloatField(null=True, blank=True)
    samples = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    webhook_status = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.rule} {self.state} at {self.created_at:%Y-%m-%d %H:%M}"


class KnowledgeGapManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(label=KNOWLEDGE_GAP)


class KnowledgeGap(Signal):
    """A customer question no article answered (a `knowledge_gap` signal): what the admin's page groups.

    A proxy, so its page has its own permission (`insights.view_knowledgegap`) and admin index entry.
    """

    objects = KnowledgeGapManager()

    class Meta:
        proxy = True
        ordering = ["-created_at", "-id"]
        verbose_name = "knowledge gap"

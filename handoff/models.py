from django.conf import settings
from django.db import models
from django.db.models import Q

from conversations.models import Conversation, TimeStamped


class Handoff(TimeStamped):
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

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="handoffs")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    detail = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    priority = models.PositiveSmallIntegerField(default=50, help_text="Lower is more urgent.")
    packet = models.JSONField(default=dict, blank=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    accepted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

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
        indexes = [models.Index(fields=["status", "priority", "created_at"], name="handoff_status_prio")]

    def __str__(self) -> str:
        return f"handoff {self.pk} ({self.reason}, {self.status})"

from django.conf import settings
from django.db import models
from django.db.models import Q

from conversations.models import Conversation, Message, TimeStamped


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
        ROLLOUT = "rollout", "Rollout: humans handle this conversation"

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

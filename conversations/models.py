import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from infra.models import TimeStamped


class Customer(TimeStamped):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=200, blank=True)
    # The id a CRM or an imported transcript file knows this customer by.
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.display_name or f"customer {str(self.id)[:8]}"


class Identity(TimeStamped):
    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone (SMS and voice)"
        WEBCHAT = "webchat", "Web chat visitor"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    address = models.CharField(max_length=320)
    verified = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="identity_unique_address")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address}"


class LLMProvider(TimeStamped):
    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible endpoint"
        OFFLINE = "offline", "Offline engine (no network)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OFFLINE)
    base_url = models.URLField(
        blank=True, help_text="e.g. https://api.openai.com/v1 or http://localhost:11434/v1"
    )
    model = models.CharField(max_length=200, blank=True)
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable that holds the key (the key itself is never stored).",
    )
    timeout_seconds = models.FloatField(default=30.0)
    max_retries = models.PositiveSmallIntegerField(default=2)
    temperature = models.FloatField(default=0.2)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}{': ' + self.model if self.model else ''})"


ROLLOUT_CHANNELS = ("webchat", "sms", "voice")


def validate_live_percentages(value: object) -> None:
    """A JSON object mapping rollout channels to whole percentages 0..100."""
    if not isinstance(value, dict):
        raise ValidationError('enter an object such as {"webchat": 30, "sms": 100, "voice": 0}')
    for channel, share in value.items():
        if channel not in ROLLOUT_CHANNELS:
            raise ValidationError(f"unknown channel {channel!r}; use {', '.join(ROLLOUT_CHANNELS)}")
        if isinstance(share, bool) or not isinstance(share, int) or not 0 <= share <= 100:
            raise ValidationError(f"{channel}: the share must be a whole number from 0 to 100")


def default_live_percentages() -> dict[str, int]:
    return {"webchat": 100, "sms": 100, "voice": 100}


class UseCase(TimeStamped):
    class Mode(models.TextChoices):
        OFF = "off", "Off: humans handle every conversation"
        SHADOW = "shadow", "Shadow: humans handle it, the AI drafts for them"
        LIVE = "live", "Live: the AI handles its traffic slice"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="What customers come for; used to route them.")
    instructions = models.TextField(blank=True, help_text="What the AI agent must know and do.")
    resolution_definition = models.TextField(blank=True, help_text="What 'resolved' means for this use case.")
    greeting = models.CharField(max_length=500, blank=True)
    llm_provider = models.ForeignKey(LLMProvider, null=True, blank=True, on_delete=models.SET_NULL)
    is_default = models.BooleanField(default=False, help_text="Used when a conversation names no use case.")
    enabled = models.BooleanField(default=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.LIVE)
    live_percentages = models.JSONField(
        default=default_live_percentages,
        validators=[validate_live_percentages],
        help_text="In live mode, the share (0-100) of each channel's customers the AI handles, e.g. "
        '{"webchat": 30, "sms": 100, "voice": 0}. A channel left out gets 100.',
    )
    actions = models.ManyToManyField(
        "conversations.Action",
        blank=True,
        related_name="use_cases",
        help_text="What the AI may do here (its tools).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Conversation(TimeStamped):
    class Channel(models.TextChoices):
        WEBCHAT = "webchat", "Web chat"
        SMS = "sms", "SMS"
        VOICE = "voice", "Voice"
        EMAIL = "email", "Email"
        IMPORT = "import", "Imported transcript"

    # WAITING and WITH_AGENT mirror the live Handoff's QUEUED and ACCEPTED on purpose: this layer (and the
    # channels, the rollout and the AI turn) must know who holds the conversation without reading the
    # handoff app above it, and a conversation keeps its state between handoffs (several per
    # conversation, each with its own history). Only handoff services move a conversation into these two
    # states, in the same transaction as the handoff's own change, so the two cannot drift apart.
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        WAITING = "waiting", "Waiting for an agent"
        WITH_AGENT = "with_agent", "With an agent"
        CLOSED = "closed", "Closed"

    class Handler(models.TextChoices):
        AI = "ai", "AI"
        HUMAN = "human", "Human"

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", "Resolved"
        ESCALATED = "escalated", "Escalated"
        ABANDONED = "abandoned", "Abandoned"
        FOLLOW_UP = "follow_up", "Follow-up"
        NOT_RESOLVED = "not_resolved", "Not resolved"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    use_case = models.ForeignKey(UseCase, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    handler = models.CharField(max_length=8, choices=Handler.choices, default=Handler.AI)
    handler_reason = models.CharField(max_length=200, blank=True, help_text="Why this handler was chosen.")
    # The rollout's choice when the conversation opened; `handler` changes on a handoff, this never does,
    # so AI and human resolution are compared on the arms customers were assigned to.
    assigned_handler = models.CharField(max_length=8, choices=Handler.choices, default=Handler.AI)
    shadow = models.BooleanField(default=False, help_text="Shadow mode: the AI drafts, a person replies.")
    escalation_reason = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    # The transport's id for this conversation: a Twilio CallSid, an SMS thread, ...
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["customer", "channel", "status"], name="conv_customer_channel_status"),
            models.Index(fields=["status", "handler"], name="conv_status_handler"),
            models.Index(fields=["use_case", "created_at"], name="conv_usecase_created"),
            models.Index(fields=["status", "last_message_at"], name="conv_status_last_message"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} conversation {str(self.id)[:8]}"

    @property
    def handle_seconds(self) -> float | None:
        if not self.closed_at:
            return None
        return (self.closed_at - self.created_at).total_seconds()


class Message(models.Model):
    class Role(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        AI = "ai", "AI"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField()
    # The client's or transport's id (web chat client_id, Twilio MessageSid, transcript id).
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_index=True)
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # For AI messages: which model wrote it, how long it took, what it cost.
    model = models.CharField(max_length=200, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    interrupted = models.BooleanField(default=False, help_text="Voice: the customer cut this reply short.")
    # The articles an AI reply answered from: [{"document_id", "external_id", "title", "url"}].
    citations = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "external_id"],
                condition=~Q(external_id=""),
                name="message_unique_external_id",
            )
        ]
        indexes = [models.Index(fields=["conversation", "created_at"], name="message_conv_created")]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class Delivery(TimeStamped):
    """The outbox: one message a customer should see, to be sent on its conversation's channel.

    Written in the same transaction as the message, sent after commit, retried with backoff by
    `conversations.delivery.retry_due_deliveries` until sent or failed for good.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed for good"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Conversation.Channel.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=1)
    next_attempt_at = models.DateTimeField(help_text="When the retry sweep tries again if still pending.")
    # A sender holds the delivery until then, so a retry never sends it twice at the same time.
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["message", "channel"], name="delivery_unique_message_channel")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due")]

    def __str__(self) -> str:
        return f"{self.channel} delivery of {self.message_id}: {self.status}"


class TwilioMessage(TimeStamped):
    """One SMS through Twilio, in or out, with its delivery status (status callbacks update it)."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class Status(models.TextChoices):
        PENDING = "pending", "Stored, not yet handed to Twilio"
        RECEIVED = "received", "Received"
        ACCEPTED = "accepted", "Accepted"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        READ = "read", "Read"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="twilio_messages")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="twilio_messages")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    # Outbound replies longer than one SMS are sent as several parts, in order.
    part = models.PositiveSmallIntegerField(default=0)
    sid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    # Every status callback as Twilio sent it, in arrival order (they can arrive out of order).
    status_history = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "direction", "part"], name="twilio_message_unique_part"
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "direction", "created_at"], name="twilio_msg_conv_dir"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} SMS {self.sid or '(unsent)'} {self.status}"


class ApiToken(models.Model):
    """A bearer token of the HTTP APIs (memory recall, knowledge search)."""

    name = models.CharField(max_length=100, unique=True)
    # Only a SHA-256 of the token is stored; the token is shown once, when created.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="The token's first characters.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


# Action models belong to this app; importing them here registers them (they import nothing from here).
from .actions.models import Action, ActionInvocation, CustomerVerification  # noqa: E402,F401

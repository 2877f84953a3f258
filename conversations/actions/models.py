"""Action definitions, per-conversation verification and the invocation audit log (app: conversations)."""

import jsonschema
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from infra.models import TimeStamped

from . import sentences

TOOL_NAME = RegexValidator(r"^[a-zA-Z0-9_-]{1,64}$", "letters, digits, _ and - only (a tool name)")
SETTING_NAME = RegexValidator(r"^[A-Z][A-Z0-9_]*_BASE_URL$", "the name of a setting ending in _BASE_URL")


class Action(TimeStamped):
    class Kind(models.TextChoices):
        HTTP = "http", "HTTP request"
        PYTHON = "python", "Python function"

    class Scope(models.TextChoices):
        NONE = "none", "None"
        ACCOUNT = "account", "The user_id argument is the verified customer's"
        ORDER = "order", "The order_id argument is one of the verified customer's orders"

    name = models.CharField(max_length=64, unique=True, validators=[TOOL_NAME])
    description = models.TextField(help_text="What it does and when to use it; the LLM reads this.")
    examples = models.TextField(
        blank=True,
        help_text="Customer phrasings that call for it, one per line (the offline engine reads them).",
    )
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text='A JSON schema object, e.g. {"type": "object", "properties": {...}}.',
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.HTTP)
    http_method = models.CharField(
        max_length=8, default="GET", choices=[(m, m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")]
    )
    base_url_setting = models.CharField(
        max_length=64,
        blank=True,
        validators=[SETTING_NAME],
        help_text="A setting holding the base URL, read at each call (e.g. DEMOSTORE_BASE_URL).",
    )
    url_template = models.CharField(
        max_length=500,
        blank=True,
        help_text="Path after the base URL, or a whole URL; {argument} is replaced by the URL-encoded argument.",
    )
    headers = models.JSONField(
        default=dict,
        blank=True,
        help_text='Header values may name environment variables: {"Authorization": "Bearer ${DEMOSTORE_API_TOKEN}"}.',
    )
    timeout_seconds = models.FloatField(default=10.0)
    retries = models.PositiveSmallIntegerField(
        default=1, help_text="Extra tries, for idempotent methods only."
    )
    python_path = models.CharField(
        max_length=200, blank=True, help_text="Dotted path of a callable(**arguments)."
    )
    requires_verified_customer = models.BooleanField(default=True)
    requires_confirmation = models.BooleanField(
        default=False, help_text="Consequential: ask for a yes first."
    )
    identifies_customer = models.BooleanField(
        default=False, help_text="A look-up whose result's user_id is who the customer proved to be."
    )
    reads_account = models.BooleanField(
        default=False,
        help_text="Returns the account (with its `orders`) for a user_id; used for scope checks.",
    )
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.NONE)
    confirmation_template = models.CharField(
        max_length=300,
        blank=True,
        help_text="The exact change stated to the customer, e.g. 'cancel order {order_id}'; an argument "
        'whose parameter has an x-baton "describe" hint is said as described (an item by name, options '
        "and price). Write {{ or }} for a brace.",
    )
    result_template = models.CharField(
        max_length=1000,
        blank=True,
        help_text="The result said to the customer, from the result JSON: a dotted path per placeholder, "
        "collecting from lists, e.g. 'Order {order_id} is now {status}; tracking number "
        "{fulfillments.tracking_id}'; [field=value] or [-1] picks list elements. One sentence per line: "
        "the first whose placeholders all have values is said.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.kind == self.Kind.HTTP and not self.url_template:
            raise ValidationError({"url_template": "an HTTP action needs a URL template"})
        if self.kind == self.Kind.PYTHON and not self.python_path:
            raise ValidationError({"python_path": "a Python action needs a dotted path"})
        if self.parameters and self.parameters.get("type") != "object":
            raise ValidationError({"parameters": 'the schema must be {"type": "object", ...}'})
        try:
            jsonschema.Draft202012Validator.check_schema(self.parameters or {})
        except jsonschema.SchemaError as exc:
            raise ValidationError({"parameters": f"not a valid JSON schema: {exc.message}"}) from exc
        try:
            sentences.change(self.confirmation_template, self.parameters or {}, {}, [])
        except sentences.TemplateError as exc:
            raise ValidationError({"confirmation_template": str(exc)}) from exc
        for line in self.result_template.splitlines():
            try:
                sentences.placeholders(line)
            except sentences.TemplateError as exc:
                raise ValidationError({"result_template": str(exc)}) from exc


class CustomerVerification(TimeStamped):
    """Who the customer proved to be in one conversation (a backend user id)."""

    class Method(models.TextChoices):
        LOOKUP = "lookup", "Proved in the conversation"
        LINKED_IDENTITY = "linked_identity", "Channel identity linked to the account"

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="verification"
    )
    user_id = models.CharField(max_length=200)
    method = models.CharField(max_length=16, choices=Method.choices)
    evidence = models.CharField(max_length=320, blank=True, help_text="The email or name + zip given.")

    def __str__(self) -> str:
        return f"{self.user_id} ({self.method})"


class ActionInvocation(TimeStamped):
    class Status(models.TextChoices):
        AWAITING_CONFIRMATION = "awaiting_confirmation", "Awaiting the customer's yes"
        DECLINED = "declined", "Customer declined"
        REFUSED = "refused", "Refused by policy"
        SUCCEEDED = "succeeded", "Succeeded"
        REJECTED = "rejected", "Rejected by the backend"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="action_invocations"
    )
    action = models.ForeignKey(Action, null=True, on_delete=models.SET_NULL, related_name="invocations")
    action_name = models.CharField(max_length=64)
    call_id = models.CharField(max_length=100, blank=True)
    arguments = models.JSONField(default=dict)
    status = models.CharField(max_length=24, choices=Status.choices)
    summary = models.CharField(max_length=2000, blank=True, help_text="The change as stated to the customer.")
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    verified_user_id = models.CharField(max_length=200, blank=True)
    confirmed_by = models.ForeignKey(
        "conversations.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The customer message that said yes.",
    )

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["conversation", "status"], name="invocation_conv_status")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(error=""), name="invocation_success_has_no_error"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action_name} ({self.status})"

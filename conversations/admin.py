from django.contrib import admin, messages

from . import services
from .actions.admin import ActionInvocationInline, CustomerVerificationInline
from .api_tokens import create_api_token
from .models import (
    ApiToken,
    Conversation,
    Customer,
    Delivery,
    Identity,
    LLMProvider,
    Message,
    TwilioMessage,
    UseCase,
)


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("channel", "address", "verified", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("__str__", "external_id", "identity_list", "created_at")
    search_fields = ("display_name", "external_id", "identities__address")
    inlines = [IdentityInline]
    actions = ["merge_into_oldest"]

    @admin.action(description="Merge selected customers into the oldest (identities, conversations, memory)")
    def merge_into_oldest(self, request, queryset) -> None:
        customers = list(queryset.order_by("created_at"))
        if len(customers) < 2:
            self.message_user(request, "Select at least two customers to merge.", messages.ERROR)
            return
        survivor, merged = customers[0], customers[1:]
        services.merge_customers(survivor=survivor, merged=merged)
        self.message_user(request, f"Merged {len(merged)} customer(s) into {survivor}.", messages.SUCCESS)

    @admin.display(description="identities")
    def identity_list(self, obj: Customer) -> str:
        return ", ".join(str(i) for i in obj.identities.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("identities")


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ("address", "channel", "customer", "verified", "created_at")
    list_filter = ("channel", "verified")
    search_fields = ("address", "customer__display_name")
    raw_id_fields = ("customer",)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("created_at", "role", "text", "model", "latency_ms", "external_id")
    readonly_fields = fields
    ordering = ("created_at",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "customer",
        "channel",
        "use_case",
        "status",
        "handler",
        "assigned_handler",
        "outcome",
        "created_at",
        "last_message_at",
    )
    list_filter = (
        "channel",
        "status",
        "handler",
        "assigned_handler",
        "shadow",
        "outcome",
        "use_case",
        "escalation_reason",
    )
    search_fields = ("id", "customer__display_name", "customer__identities__address", "external_id")
    date_hierarchy = "created_at"
    raw_id_fields = ("customer",)
    readonly_fields = (
        "created_at",
        "updated_at",
        "last_message_at",
        "closed_at",
        "assigned_handler",
        "handler_reason",
        "shadow",
    )
    inlines = [MessageInline, CustomerVerificationInline, ActionInvocationInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "conversation",
        "role",
        "short_text",
        "model",
        "latency_ms",
        "completion_tokens",
    )
    list_filter = ("role", "model", "interrupted")
    search_fields = ("text", "external_id", "conversation__id")
    raw_id_fields = ("conversation", "sender")
    date_hierarchy = "created_at"

    @admin.display(description="text")
    def short_text(self, obj: Message) -> str:
        return obj.text[:80]


@admin.register(UseCase)
class UseCaseAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "mode",
        "live_percentages",
        "llm_provider",
        "is_default",
        "enabled",
        "updated_at",
    )
    list_filter = ("enabled", "mode", "is_default", "llm_provider")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("actions",)


@admin.register(LLMProvider)
class LLMProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "model", "base_url", "api_key_env", "timeout_seconds", "max_retries")
    list_filter = ("kind",)
    search_fields = ("name", "model", "base_url")


@admin.register(TwilioMessage)
class TwilioMessageAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "direction",
        "sid",
        "from_number",
        "to_number",
        "part",
        "status",
        "error_code",
    )
    list_filter = ("direction", "status")
    search_fields = ("sid", "from_number", "to_number", "conversation__id")
    raw_id_fields = ("conversation", "message")
    readonly_fields = ("status_history", "created_at", "updated_at")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The outbox, read-only: what reached customers, what is being retried, what failed and why."""

    list_display = ("created_at", "channel", "status", "attempts", "next_attempt_at", "sent_at", "last_error")
    list_filter = ("status", "channel")
    search_fields = ("message__id", "message__conversation__id", "last_error")
    raw_id_fields = ("message",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "active", "created_at", "last_used_at")
    list_filter = ("active",)
    fields = ("name", "active", "prefix", "created_at", "last_used_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "name") if obj else self.readonly_fields

    def save_model(self, request, obj: ApiToken, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = create_api_token(name=obj.name)
        obj.pk, obj.token_hash, obj.prefix = created.token.pk, created.token.token_hash, created.token.prefix
        # Shown once: only the hash is kept.
        self.message_user(
            request,
            f"API token for {obj.name}: {created.raw} — copy it now, it will not be shown again.",
            messages.WARNING,
        )

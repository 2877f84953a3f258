from django.contrib import admin, messages

from . import services
from .models import ApiToken, CustomerProfile, Observation


@admin.register(Observation)
class ObservationAdmin(admin.ModelAdmin):
    list_display = ("text_short", "kind", "customer", "confidence", "trait", "superseded_by", "created_at")
    list_filter = ("kind", "trait")
    search_fields = ("text", "customer__display_name", "customer__identities__address")
    raw_id_fields = ("customer", "conversation", "superseded_by")
    exclude = ("embedding",)
    readonly_fields = ("fingerprint", "message_external_ids", "created_at", "updated_at")

    @admin.display(description="text")
    def text_short(self, obj: Observation) -> str:
        return obj.text[:90]


@admin.register(CustomerProfile)
class CustomerProfileAdmin(admin.ModelAdmin):
    list_display = ("customer", "summary", "updated_at")
    search_fields = ("customer__display_name", "summary")
    raw_id_fields = ("customer",)
    readonly_fields = ("traits", "summary", "updated_at")


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
        created = services.create_api_token(name=obj.name)
        obj.pk, obj.token_hash, obj.prefix = created.token.pk, created.token.token_hash, created.token.prefix
        # Shown once: only the hash is kept.
        self.message_user(
            request,
            f"API token for {obj.name}: {created.raw} — copy it now, it will not be shown again.",
            messages.WARNING,
        )

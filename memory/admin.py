from django.contrib import admin

from .models import CustomerProfile, Observation


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

from django.contrib import admin

from .models import CustomerProfile, Observation
from .services import reconcile_profile


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

    # Recordings keep the profile up to date with what they change; an edit here is one they never see.
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        reconcile_profile(customer_id=obj.customer_id)

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        reconcile_profile(customer_id=obj.customer_id)

    def delete_queryset(self, request, queryset) -> None:
        customers = set(queryset.values_list("customer_id", flat=True))
        super().delete_queryset(request, queryset)
        for customer_id in customers:
            reconcile_profile(customer_id=customer_id)


@admin.register(CustomerProfile)
class CustomerProfileAdmin(admin.ModelAdmin):
    list_display = ("customer", "summary", "updated_at")
    search_fields = ("customer__display_name", "summary")
    raw_id_fields = ("customer",)
    readonly_fields = ("traits", "summary", "updated_at")

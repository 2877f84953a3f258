from django.contrib import admin

from .models import CopilotDraft, Handoff


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "conversation",
        "reason",
        "status",
        "priority",
        "agent",
        "created_at",
        "accepted_at",
    )
    list_filter = ("status", "reason")
    raw_id_fields = ("conversation", "agent")
    readonly_fields = ("created_at", "updated_at")


@admin.register(CopilotDraft)
class CopilotDraftAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "status", "agent", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("conversation", "customer_message", "agent")
    readonly_fields = ("created_at", "updated_at")

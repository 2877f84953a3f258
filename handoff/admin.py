from django.contrib import admin

from .models import Handoff


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

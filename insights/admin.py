from django.contrib import admin

from .models import AlertEvent, AlertRule


class AlertEventInline(admin.TabularInline):
    model = AlertEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "state", "value", "samples", "webhook_status")
    readonly_fields = fields
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "metric",
        "use_case",
        "comparison",
        "threshold",
        "window_minutes",
        "enabled",
        "state",
        "last_value",
        "last_evaluated_at",
    )
    list_filter = ("metric", "state", "enabled")
    search_fields = ("name",)
    readonly_fields = ("state", "last_value", "last_evaluated_at", "created_at", "updated_at")
    inlines = [AlertEventInline]


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "rule", "state", "value", "samples", "webhook_status")
    list_filter = ("state", "rule")
    readonly_fields = ("rule", "state", "value", "samples", "created_at", "webhook_status")

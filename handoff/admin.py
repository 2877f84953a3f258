from django.contrib import admin

from .models import (
    CopilotDraft,
    EscalationRule,
    Handoff,
    Operator,
    Queue,
    QueueMembership,
    RuleDecision,
    Signal,
)


class QueueMembershipInline(admin.TabularInline):
    model = QueueMembership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ("name", "skills", "created_at")
    search_fields = ("name",)
    inlines = [QueueMembershipInline]


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "kind", "applies_to", "label", "severity", "enabled")
    list_filter = ("kind", "applies_to", "severity", "enabled")
    list_editable = ("enabled",)
    search_fields = ("slug", "name", "label")


@admin.register(EscalationRule)
class EscalationRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "priority", "effect", "queue", "handoff_priority", "handoff_reason", "enabled")
    list_filter = ("effect", "enabled")
    list_editable = ("priority", "enabled")
    ordering = ("priority", "id")


@admin.register(Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = ("operator_slug", "label", "score", "severity", "conversation", "created_at")
    list_filter = ("label", "severity", "operator_slug")
    raw_id_fields = ("conversation", "message", "operator")
    readonly_fields = ("created_at",)


@admin.register(RuleDecision)
class RuleDecisionAdmin(admin.ModelAdmin):
    list_display = ("rule_name", "effect", "conversation", "created_at")
    list_filter = ("effect", "rule_name")
    raw_id_fields = ("rule", "conversation", "message")
    readonly_fields = ("created_at",)


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "conversation",
        "reason",
        "status",
        "priority",
        "queue",
        "rule",
        "agent",
        "created_at",
        "accepted_at",
    )
    list_filter = ("status", "reason", "queue")
    raw_id_fields = ("conversation", "agent", "rule")
    readonly_fields = ("created_at", "updated_at")


@admin.register(CopilotDraft)
class CopilotDraftAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "status", "agent", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("conversation", "customer_message", "agent")
    readonly_fields = ("created_at", "updated_at")

"""Admin for actions, and the audit inlines shown on a conversation."""

import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from .models import Action, ActionInvocation, CustomerVerification


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "http_method",
        "url_template",
        "requires_verified_customer",
        "requires_confirmation",
        "scope",
        "enabled",
    )
    list_filter = ("kind", "requires_verified_customer", "requires_confirmation", "scope", "enabled")
    search_fields = ("name", "description")
    fieldsets = (
        (None, {"fields": ("name", "description", "examples", "parameters", "enabled")}),
        (
            "Policy",
            {
                "fields": (
                    "requires_verified_customer",
                    "requires_confirmation",
                    "confirmation_template",
                    "result_template",
                    "scope",
                    "identifies_customer",
                    "reads_account",
                )
            },
        ),
        (
            "HTTP",
            {
                "fields": (
                    "http_method",
                    "base_url_setting",
                    "url_template",
                    "headers",
                    "timeout_seconds",
                    "retries",
                )
            },
        ),
        ("Python", {"fields": ("python_path",)}),
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "result_template":  # one sentence per line
            kwargs["widget"] = forms.Textarea(attrs={"rows": 4, "cols": 100})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class ActionInvocationInline(admin.TabularInline):
    model = ActionInvocation
    extra = 0
    can_delete = False
    fields = (
        "created_at",
        "action_name",
        "status",
        "arguments_json",
        "summary",
        "outcome",
        "latency_ms",
        "verified_user_id",
        "confirmed_by_text",
    )
    readonly_fields = fields
    ordering = ("created_at",)
    verbose_name = "action taken"
    verbose_name_plural = "actions taken"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="arguments")
    def arguments_json(self, obj: ActionInvocation) -> str:
        return format_html("<code>{}</code>", json.dumps(obj.arguments, sort_keys=True))

    @admin.display(description="result or error")
    def outcome(self, obj: ActionInvocation) -> str:
        text = obj.error or json.dumps(obj.result, sort_keys=True, default=str)
        return text if len(text) <= 300 else text[:300] + "…"

    @admin.display(description="confirmed by")
    def confirmed_by_text(self, obj: ActionInvocation) -> str:
        return f'customer: "{obj.confirmed_by.text[:80]}"' if obj.confirmed_by else "—"


class CustomerVerificationInline(admin.StackedInline):
    model = CustomerVerification
    extra = 0
    can_delete = False
    fields = ("user_id", "method", "evidence", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ActionInvocation)
class ActionInvocationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action_name", "status", "conversation", "verified_user_id", "latency_ms")
    list_filter = ("status", "action_name")
    search_fields = ("action_name", "conversation__id", "verified_user_id")
    raw_id_fields = ("conversation", "confirmed_by", "action")
    date_hierarchy = "created_at"

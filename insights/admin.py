from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from knowledge.reading import UnreadableDocument

from . import selectors, services
from .models import AlertEvent, AlertRule, KnowledgeGap

GAP_WINDOWS = (7, 30, 90)  # days
GAP_DEFAULT_WINDOW = 30
DRAFT_PERMISSION = "knowledge.add_document"


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


@admin.register(KnowledgeGap)
class KnowledgeGapAdmin(admin.ModelAdmin):
    """Not a list of rows: the questions grouped by meaning, with the agents' replies to draft from."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("", self.admin_site.admin_view(self.changelist_view), name="{}_{}_changelist".format(*info)),
            path(
                "<int:signal_id>/replies/<uuid:message_id>/draft/",
                self.admin_site.admin_view(self.draft_view),
                name="{}_{}_draft".format(*info),
            ),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = int(request.GET.get("days", GAP_DEFAULT_WINDOW))
        except ValueError:
            days = GAP_DEFAULT_WINDOW
        if days not in GAP_WINDOWS:
            days = GAP_DEFAULT_WINDOW
        since = timezone.now() - timedelta(days=days)
        groups = selectors.knowledge_gap_groups(since=since)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Knowledge gaps",
            "groups": groups,
            "questions": sum(g.count for g in groups),
            "total": selectors.knowledge_gap_count(since=since),
            "days": days,
            "windows": GAP_WINDOWS,
            "can_draft": request.user.has_perm(DRAFT_PERMISSION),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/insights/knowledge_gaps.html", context)

    def draft_view(self, request: HttpRequest, signal_id: int, message_id) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_view_permission(request) and request.user.has_perm(DRAFT_PERMISSION)):
            raise PermissionDenied
        try:
            title_signal_id = int(request.POST.get("question") or signal_id)
        except ValueError:
            return HttpResponseBadRequest(
                "question: the id of the knowledge gap whose question titles the draft"
            )
        try:
            draft, created = services.draft_article_from_gap_reply(
                signal_id=signal_id, message_id=message_id, title_signal_id=title_signal_id
            )
        except services.GapReplyNotFound:
            raise Http404("no such reply to a knowledge gap") from None
        except UnreadableDocument as exc:  # e.g. a reply longer than an article may be
            messages.error(request, f"No draft: {exc}")
            return redirect("admin:insights_knowledgegap_changelist")
        if created:
            messages.success(request, "Draft created: review it, then publish")
        else:
            messages.info(request, "This reply has a draft already: review it, then publish")
        return redirect(reverse("admin:knowledge_document_change", args=[draft.pk]))

"""Insights pages and APIs: thin — parse, call a selector, render."""

import hmac
from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from conversations import selectors as conversation_selectors
from infra.permissions import is_supervisor

from . import selectors
from .database_metrics import DATABASE_REGISTRY
from .models import AlertRule

DEFAULT_DAYS = 30


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "detail": detail}}, status=status)


def parse_since(raw: str | None, *, default_days: int = DEFAULT_DAYS) -> datetime:
    """`since` as an ISO date (midnight, local time) or datetime; the last `default_days` days when absent."""
    if not raw:
        return timezone.now() - timedelta(days=default_days)
    moment = parse_datetime(raw)
    if moment is None:
        day = parse_date(raw)
        if day is None:
            raise ValueError("since must be an ISO date (2026-11-01) or datetime (2026-11-01T09:00:00Z)")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


@require_GET
def summary_api(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return _error(401, "unauthenticated", "log in as a supervisor to read insights")
    if not is_supervisor(request.user):
        return _error(403, "forbidden", "insights are for supervisors")
    try:
        since = parse_since(request.GET.get("since"))
    except ValueError as exc:
        return _error(400, "invalid_since", str(exc))
    use_case = None
    slug = request.GET.get("use_case", "").strip()
    if slug:
        use_case = conversation_selectors.use_case_by_slug(slug)
        if use_case is None:
            return _error(400, "unknown_use_case", f"no enabled use case has the slug {slug!r}")
    return JsonResponse(selectors.summary(use_case=use_case, since=since))


@require_GET
def insights_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not is_supervisor(request.user):
        raise PermissionDenied("insights are for supervisors")
    try:
        days = min(max(int(request.GET.get("days", DEFAULT_DAYS)), 1), 365)
    except ValueError:
        days = DEFAULT_DAYS
    since = timezone.now() - timedelta(days=days)
    rows = selectors.conversation_rows(since=since)
    reports = selectors.use_case_reports(since=since, rows=rows)
    overall = selectors.arm_stats(rows)
    chart = {
        "series": selectors.daily_series(since=since, rows=rows),
        "use_cases": [
            {
                "name": r.name,
                "ai": r.arms["ai"].as_dict(),
                "human": r.arms["human"].as_dict(),
            }
            for r in reports
        ],
    }
    return render(
        request,
        "insights/insights.html",
        {
            "days": days,
            "since": since,
            "reports": reports,
            "overall": overall,
            "chart": chart,
            "alerts": AlertRule.objects.filter(enabled=True).select_related("use_case"),
            "parity_min": selectors.PARITY_MIN_CLOSED,
            "parity_margin": int(selectors.PARITY_MARGIN * 100),
        },
    )


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    token = settings.BATON_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return HttpResponse("metrics need Authorization: Bearer <BATON_METRICS_TOKEN>\n", status=401)
    body = generate_latest(REGISTRY) + generate_latest(DATABASE_REGISTRY)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)

"""Gauges read from the database at scrape time, so several processes never disagree about them."""

import logging

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from conversations.models import Delivery
from handoff.models import Handoff

logger = logging.getLogger(__name__)


class DatabaseCollector:
    """Gauges read from the database at scrape time: the human queue and the undelivered messages."""

    def collect(self):
        waiting = GaugeMetricFamily(
            "baton_queue_waiting", "Handoffs waiting for an agent now", labels=["reason"]
        )
        oldest = GaugeMetricFamily(
            "baton_queue_oldest_wait_seconds", "Longest current wait in the human queue"
        )
        undelivered = GaugeMetricFamily(
            "baton_deliveries",
            "Messages not delivered to their customer: pending (being retried) or failed for good",
            labels=["channel", "status"],
        )
        try:
            queued = Handoff.objects.filter(status=Handoff.Status.QUEUED)
            for row in queued.values("reason").annotate(n=Count("id")).order_by("reason"):
                waiting.add_metric([row["reason"]], row["n"])
            first = queued.aggregate(first=Min("created_at"))["first"]
            oldest.add_metric([], (timezone.now() - first).total_seconds() if first else 0.0)
            for row in (
                Delivery.objects.exclude(status=Delivery.Status.SENT)
                .values("channel", "status")
                .annotate(n=Count("id"))
                .order_by("channel", "status")
            ):
                undelivered.add_metric([row["channel"], row["status"]], row["n"])
        except Exception:  # a scrape must answer even when the database does not
            logger.exception("metrics: could not read the queue from the database")
            return
        yield waiting
        yield oldest
        yield undelivered


DATABASE_REGISTRY = CollectorRegistry(auto_describe=False)
DATABASE_REGISTRY.register(DatabaseCollector())

"""The one way to publish to Channels groups."""

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def _send(groups: Iterable[str], event_type: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, {"type": event_type, **payload})
        except Exception:  # a lost live update must never undo a stored write
            logger.exception("could not publish %s to %s", event_type, group)


def send_event_on_commit(groups: Iterable[str], event_type: str, payload: dict[str, Any]) -> None:
    """Publish `payload` as `event_type` to `groups` once the current transaction commits."""
    groups = list(groups)
    transaction.on_commit(lambda: _send(groups, event_type, payload))


async def publish_now(groups: Iterable[str], event_type: str, payload: dict[str, Any]) -> None:
    """Publish at once from async code; for transient events with no stored row (streamed tokens)."""
    layer = get_channel_layer()
    for group in groups:
        await layer.group_send(group, {"type": event_type, **payload})

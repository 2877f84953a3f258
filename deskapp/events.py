"""The one way to publish to Channels groups."""

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def _send(groups: Iterable[str], event_type: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    groups = list(groups)

    async def send_all() -> list[Any]:
        # One hop to the event loop and concurrent sends: this runs on the path of every message
        # (a voice turn waits for it), and each group costs a few Redis round trips.
        message = {"type": event_type, **payload}
        return await asyncio.gather(*(layer.group_send(g, message) for g in groups), return_exceptions=True)

    try:
        results = async_to_sync(send_all)()
    except Exception:  # a lost live update must never undo a stored write
        logger.exception("could not publish %s to %s", event_type, groups)
        return
    for group, result in zip(groups, results, strict=True):
        if isinstance(result, BaseException):
            logger.error("could not publish %s to %s: %r", event_type, group, result)


def send_event_on_commit(groups: Iterable[str], event_type: str, payload: dict[str, Any]) -> None:
    """Publish `payload` as `event_type` to `groups` once the current transaction commits."""
    groups = list(groups)
    transaction.on_commit(lambda: _send(groups, event_type, payload))


async def publish_now(groups: Iterable[str], event_type: str, payload: dict[str, Any]) -> None:
    """Publish at once from async code; for transient events with no stored row (streamed tokens)."""
    layer = get_channel_layer()
    for group in groups:
        await layer.group_send(group, {"type": event_type, **payload})

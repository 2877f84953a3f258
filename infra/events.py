"""The one way to publish to Channels groups."""

import asyncio
import collections
import contextvars
import logging
import os
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from infra import event_types
from infra.db import database_sync_to_async

logger = logging.getLogger(__name__)


# Called when a group did not take the event; sync code that may use the database.
OnFailed = Callable[[], None]


async def _send_all(groups: list[str], message: dict[str, Any]) -> bool:
    """Send to every group at once (each costs a few Redis round trips); True when all took it."""
    layer = get_channel_layer()
    results = await asyncio.gather(*(layer.group_send(g, message) for g in groups), return_exceptions=True)
    sent = True
    for group, result in zip(groups, results, strict=True):
        if isinstance(result, BaseException):
            logger.error("could not publish %s to %s: %r", message["type"], group, result)
            sent = False
    return sent


class _LoopPublisher:
    """Events handed over by sync code, sent in order by one task on the server's event loop.

    The sync code (a database thread inside Daphne) does not wait for Redis: a voice turn's
    message store would otherwise wait for every group send. Order is kept: one sender at a time.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: collections.deque[tuple[list[str], dict[str, Any], OnFailed | None]] = (
            collections.deque()
        )
        self.sending = False

    def hand_over(self, groups: list[str], message: dict[str, Any], on_failed: OnFailed | None) -> None:
        self.loop.call_soon_threadsafe(self._enqueue, groups, message, on_failed)

    def _enqueue(self, groups: list[str], message: dict[str, Any], on_failed: OnFailed | None) -> None:
        # Runs on the loop, like `_drain`: no lock needed.
        self.pending.append((groups, message, on_failed))
        if not self.sending:
            self.sending = True
            # A fresh context: this runs in the sync thread's copied context, and asgiref refuses a
            # `database_sync_to_async` (the `on_failed` callbacks) from a context marked as inside one.
            self.loop.create_task(self._drain(), context=contextvars.Context())

    async def _drain(self) -> None:
        try:
            while self.pending:
                groups, message, on_failed = self.pending.popleft()
                try:
                    message = self._with_tokens_queued_behind(groups, message)
                    if not await _send_all(groups, message) and on_failed:
                        await database_sync_to_async(on_failed)()
                except Exception:  # a lost live update must never stop the ones after it
                    logger.exception("could not publish %s to %s", message["type"], groups)
        finally:
            self.sending = False  # the task ends when idle: nothing is left pending when a loop closes

    def _with_tokens_queued_behind(self, groups: list[str], message: dict[str, Any]) -> dict[str, Any]:
        """A token event with the tokens of the same message queued right behind it, their texts joined.

        An offline reply's words are all ready at once: one send instead of one per word (each send
        costs a few Redis round trips per group, and each receiving socket a read and a frame).
        """
        if not _is_token(message):
            return message
        texts = [message["text"]]
        while self.pending:
            next_groups, following, _ = self.pending[0]
            if (
                not _is_token(following)
                or following["message_id"] != message["message_id"]
                or next_groups != groups
            ):
                break
            texts.append(following["text"])
            self.pending.popleft()
        return {**message, "text": "".join(texts)} if len(texts) > 1 else message


def _is_token(message: dict[str, Any]) -> bool:
    return (
        message["type"] == event_types.TOKEN
        and "message_id" in message
        and isinstance(message.get("text"), str)
    )


_publishers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPublisher]" = (
    weakref.WeakKeyDictionary()
)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop that called this sync code through sync_to_async (Daphne's), if any and running."""
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() and not loop.is_closed() else None


def _send(
    groups: Iterable[str], event_type: str, payload: dict[str, Any], on_failed: OnFailed | None = None
) -> None:
    """Publish `payload` as `event_type` to `groups` now (outside a transaction, or after its commit).

    `on_failed` runs when a group did not take the event, so a caller that must know (the outbox)
    can try again later.
    """
    groups = list(groups)
    message = {"type": event_type, **payload}
    loop = _server_loop()
    if loop is not None:
        publisher = _publishers.get(loop)
        if publisher is None:
            publisher = _publishers.setdefault(loop, _LoopPublisher(loop))
        publisher.hand_over(groups, message, on_failed)
        return
    try:  # no server loop (a Celery worker, a management command): send and wait
        sent = async_to_sync(_send_all)(groups, message)
    except Exception:  # a lost live update must never undo a stored write
        logger.exception("could not publish %s to %s", event_type, groups)
        sent = False
    if not sent and on_failed:
        on_failed()


def send_event(
    groups: Iterable[str], event_type: str, payload: dict[str, Any], *, on_failed: OnFailed | None = None
) -> None:
    """Publish now, from sync code outside a transaction (or after its commit); see `_send`."""
    _send(groups, event_type, payload, on_failed)


def send_event_on_commit(groups: Iterable[str], event_type: str, payload: dict[str, Any]) -> None:
    """Publish `payload` as `event_type` to `groups` once the current transaction commits."""
    groups = list(groups)
    transaction.on_commit(lambda: _send(groups, event_type, payload))


def publish_in_order(groups: Iterable[str], event_type: str, payload: dict[str, Any]) -> None:
    """Publish from async code on the server's loop, without waiting, in order with every event queued
    before and after it (a streamed token before its stored message); for events with no stored row."""
    loop = asyncio.get_running_loop()
    publisher = _publishers.get(loop)
    if publisher is None:
        publisher = _publishers.setdefault(loop, _LoopPublisher(loop))
    publisher._enqueue(list(groups), {"type": event_type, **payload}, None)

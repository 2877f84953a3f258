"""Liveness of the database, the channel layer and the background worker, for `/healthz`."""

import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection

from infra import worker_health

logger = logging.getLogger(__name__)


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as exc:
        logger.warning("healthz: database check failed: %s", exc)
        return f"error: {type(exc).__name__}"


async def _round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")


def check_channel_layer() -> str:
    try:
        async_to_sync(_round_trip)()
        return "ok"
    except Exception as exc:
        logger.warning("healthz: channel layer check failed: %s", exc)
        return f"error: {type(exc).__name__}"


def report() -> tuple[dict, bool]:
    """What `/healthz` answers, and whether everything is up; the backlog informs but never fails it."""
    worker = worker_health.worker_status()
    checks = {"database": check_database(), "channel_layer": check_channel_layer(), "worker": worker.state}
    ok = all(value in ("ok", "in-process") for value in checks.values())
    return {"status": "ok" if ok else "error", **checks, "backlog": worker.backlog}, ok

"""Small builders for test data and for talking to the chat endpoints."""

import asyncio
import json
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from deskapp.asgi import application


def start_chat(client: Client | None = None, **fields: Any) -> dict:
    response = (client or Client()).post(
        "/api/chat/sessions", json.dumps(fields), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()


async def connect_chat(token: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive_until(
    communicator: WebsocketCommunicator, frame_type: str, timeout: float = 10
) -> list[dict]:
    """All frames received up to and including the first of `frame_type`."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == frame_type:
            return frames


async def say(communicator: WebsocketCommunicator, text: str, client_id: str) -> list[dict]:
    """Send a customer message; return every frame up to the next whole message."""
    await communicator.send_json_to({"type": "message", "text": text, "client_id": client_id})
    return await receive_until(communicator, "message")


async def eventually(read: Callable[[], Any], until: Callable[[Any], bool] = bool, timeout: float = 5) -> Any:
    """`read()` (a database read) once it returns, without raising, a value `until` accepts; the last
    value when time runs out.

    For what a socket's turn writes after the customer's frame went out: the turn's queries run on
    its connection's database lane, the test's on another thread, so a read at once may come first.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = await database_sync_to_async(read)()
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
        else:
            if until(result) or asyncio.get_running_loop().time() > deadline:
                return result
        await asyncio.sleep(0.02)

"""The real server: Daphne on a free port, HTTP and a real websocket client."""

import json
import urllib.request

import pytest
import websockets

pytestmark = pytest.mark.django_db(transaction=True)


def post_json(url: str, payload: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.loads(response.read())


async def test_chat_over_a_real_websocket(offline_use_case, live_daphne):
    import asyncio

    session = await asyncio.to_thread(post_json, f"http://{live_daphne}/api/chat/sessions", {"name": "Noah"})
    assert session["ws_url"] == f"ws://{live_daphne}/ws/chat/?token={session['token']}"
    async with websockets.connect(session["ws_url"]) as socket:
        await socket.send(json.dumps({"type": "message", "text": "Is shipping free?", "client_id": "e2e-1"}))
        frames = []
        while not frames or frames[-1]["type"] != "message":
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), 15)))
    assert frames[0]["type"] == "ack"
    assert any(f["type"] == "token" for f in frames)
    assert frames[-1]["role"] == "ai" and "free" in frames[-1]["text"].lower()


async def test_bad_token_is_refused_by_the_real_server(live_daphne):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(f"ws://{live_daphne}/ws/chat/?token=forged"):
            pass
    assert refused.value.response.status_code == 403


def test_static_files_and_healthz_are_served(live_daphne):
    with urllib.request.urlopen(f"http://{live_daphne}/static/baton/chat.js", timeout=10) as response:
        assert b"/ws/chat/" in response.read() or response.status == 200
    with urllib.request.urlopen(f"http://{live_daphne}/healthz", timeout=10) as response:
        assert json.loads(response.read()) == {
            "status": "ok",
            "database": "ok",
            "channel_layer": "ok",
            "worker": "in-process",  # background work runs in the server here (no Celery worker)
            "backlog": None,
        }

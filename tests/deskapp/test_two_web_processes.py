"""Nothing is kept in a web process: a customer on one process and an agent on another, one Redis and one
PostgreSQL between them, see every event of the conversation (real sockets, real HTTP)."""

import asyncio
import json
import re

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async

from tests.live_server import running_web_processes
from tests.staff import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

FRAME_TIMEOUT = 15


async def frames_until(socket, done) -> list[dict]:
    """The frames read from `socket` up to and including the first that `done` accepts."""
    seen = []
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), FRAME_TIMEOUT))
        seen.append(frame)
        if done(frame):
            return seen


async def logged_in(http: httpx.AsyncClient, base: str, username: str) -> None:
    page = await http.get(f"{base}/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = await http.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": f"pw-{username}", "csrfmiddlewaretoken": token},
    )
    assert answer.status_code == 302, answer.text


async def test_a_customer_and_an_agent_on_two_web_processes_see_every_event(offline_use_case):
    # A supervisor's desk may watch a conversation the AI still holds, so it sees the token stream too.
    await database_sync_to_async(make_staff)("alex", supervisor=True)
    with running_web_processes() as customer_side, running_web_processes() as agent_side:
        customer_base, agent_base = f"http://{customer_side}", f"http://{agent_side}"
        async with (
            httpx.AsyncClient(trust_env=False, timeout=15) as customer_http,
            httpx.AsyncClient(trust_env=False, timeout=15) as agent_http,
        ):
            session = (
                await customer_http.post(f"{customer_base}/api/chat/sessions", json={"name": "Noah"})
            ).json()
            assert session["ws_url"].startswith(f"ws://{customer_side}/")
            await logged_in(agent_http, agent_base, "alex")
            cookies = "; ".join(f"{k}={v}" for k, v in agent_http.cookies.items())
            async with (
                websockets.connect(session["ws_url"], proxy=None) as chat,
                websockets.connect(
                    f"ws://{agent_side}/ws/desk/",
                    additional_headers={"Cookie": cookies, "Origin": agent_base},
                    proxy=None,
                ) as desk,
            ):
                conversation_id = session["conversation_id"]
                await desk.send(json.dumps({"type": "watch", "conversation_id": conversation_id}))
                await frames_until(desk, lambda f: f.get("event") == "watching")

                # The customer's message and the AI's streamed reply.
                await chat.send(
                    json.dumps({"type": "message", "text": "Is shipping free?", "client_id": "c1"})
                )
                # A greeting sent on connect may come first: the turn's frames start at its ack.
                await frames_until(chat, lambda f: f["type"] == "ack" and f["client_id"] == "c1")
                customer = await frames_until(chat, lambda f: f["type"] == "message" and f["role"] == "ai")
                tokens = [f for f in customer if f["type"] == "token"]
                assert tokens and "free" in customer[-1]["text"].lower()
                agent = await frames_until(
                    desk, lambda f: f.get("event") == "conversation.message_created" and f["role"] == "ai"
                )
                # By id: a supervisor's desk is in the supervisors' group and the watched conversation's both.
                created = {f["message_id"]: f for f in agent if f["event"] == "conversation.message_created"}
                assert [(f["role"], f["text"]) for f in created.values()] == [
                    ("customer", "Is shipping free?"),
                    ("ai", customer[-1]["text"]),
                ]
                streamed = [f for f in agent if f["event"] == "conversation.token"]
                assert "".join(f["text"] for f in streamed) == "".join(f["text"] for f in tokens)

                # A handoff: queued on both sides.
                await chat.send(
                    json.dumps({"type": "message", "text": "get me a human agent now", "client_id": "c2"})
                )
                customer = await frames_until(chat, lambda f: f["type"] == "handoff")
                assert customer[-1]["status"] == "queued"
                agent = await frames_until(
                    desk,
                    lambda f: f.get("event") == "conversation.handoff_changed" and f["status"] == "queued",
                )
                handoff_id = agent[-1]["handoff_id"]
                assert agent[-1]["conversation_id"] == conversation_id

                # The agent accepts and replies over HTTP on their own process.
                csrf = {"X-CSRFToken": agent_http.cookies["csrftoken"], "Referer": f"{agent_base}/desk/"}
                accepted = await agent_http.post(
                    f"{agent_base}/desk/handoffs/{handoff_id}/accept", headers=csrf
                )
                assert accepted.status_code < 400, accepted.text
                customer = await frames_until(
                    chat, lambda f: f["type"] == "handoff" and f["status"] == "accepted"
                )
                agent = await frames_until(
                    desk,
                    lambda f: f.get("event") == "conversation.handoff_changed" and f["status"] == "accepted",
                )
                assert agent[-1]["handoff_id"] == handoff_id

                replied = await agent_http.post(
                    f"{agent_base}/desk/handoffs/{handoff_id}/reply",
                    data={"text": "Hi Noah, Alex here."},
                    headers=csrf,
                )
                assert replied.status_code < 400, replied.text
                customer = await frames_until(chat, lambda f: f["type"] == "message" and f["role"] == "agent")
                assert customer[-1]["text"] == "Hi Noah, Alex here."
                await frames_until(
                    desk,
                    lambda f: (
                        f.get("event") == "conversation.message_created"
                        and (f["role"], f["text"]) == ("agent", "Hi Noah, Alex here.")
                    ),
                )

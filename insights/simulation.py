"""Synthetic traffic through the real chat path, so the insights page shows real numbers on a fresh install.

Each conversation opens a session over HTTP (`POST /api/chat/sessions`), talks to the web chat
consumer over a websocket (Channels' WebsocketCommunicator on the routed application, in
process), gets answers from the use case's LLM (the offline engine in the demo), and is then
finished the way people would: an agent replies where a person holds it, drafts are used or not
in shadow mode, and the conversation closes with an outcome. Only the outcome and the spread over
past days are invented; everything else goes through the same services as real traffic.
"""

import asyncio
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from channels.routing import get_default_application
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation, UseCase
from handoff import services as handoff_services
from handoff.models import CopilotDraft, Handoff
from handoff.selectors import agent_may_take
from infra.db import database_sync_to_async
from infra.permissions import SUPERVISORS

from . import services

QUESTIONS = [
    "Is shipping free?",
    "When is your support team available?",
    "How long do refunds take to reach my card?",
    "Can I return items from a delivered order?",
    "Can I cancel a pending order?",
    "Can I change the address of a pending order?",
    "Do you ship outside the USA?",
    "Where is my order?",
]
FOLLOW_UPS = ["Thanks, and is shipping free?", "OK. How long does a gift card refund take?", "Thank you!"]
ASK_FOR_PERSON = "I'd like to talk to a real person please"
AGENT_REPLIES = [
    "Thanks for waiting — I've checked this for you and it's sorted.",
    "I can help with that. I've made the change on your account.",
    "Happy to help: your request is done, you'll get an email confirmation.",
]
# Outcome odds by how the conversation went; chosen so the demo shows an AI near human parity.
OUTCOMES = {
    "ai": [("resolved", 0.74), ("follow_up", 0.07), ("abandoned", 0.12), ("not_resolved", 0.07)],
    "ai_handed_off": [("resolved", 0.8), ("follow_up", 0.1), ("abandoned", 0.05), ("not_resolved", 0.05)],
    "human": [("resolved", 0.78), ("follow_up", 0.1), ("abandoned", 0.07), ("not_resolved", 0.05)],
}
DRAFT_USE = [("sent_as_is", 0.5), ("edited", 0.3), ("ignored", 0.2)]


@dataclass(frozen=True)
class SimulatedConversation:
    conversation_id: str
    use_case: str
    arm: str
    handed_off: bool
    outcome: str


def simulation_agent(handoff: Handoff | None = None):
    """The staff user who plays the agent: the demo's `agent` when it may take `handoff`, else a supervisor."""
    users = get_user_model().objects.filter(is_active=True)
    agent = users.filter(username="agent").first()
    if agent is not None and (handoff is None or agent_may_take(agent, handoff)):
        return agent
    supervisor = users.filter(groups__name=SUPERVISORS).first() or users.filter(is_superuser=True).first()
    if supervisor is None:
        raise LookupError(
            "the simulation needs staff users to play the agents; run `python manage.py seed_demo`"
        )
    return supervisor


def _pick(rng: random.Random, odds: list[tuple[str, float]]) -> str:
    roll, total = rng.random(), 0.0
    for value, p in odds:
        total += p
        if roll < total:
            return value
    return odds[-1][0]


def _open_session(fields: dict) -> dict:
    # As a browser on this server would: its own host name, which ALLOWED_HOSTS accepts.
    client = Client(HTTP_HOST=f"{settings.BATON_HOST}:{settings.BATON_PORT}")
    response = client.post("/api/chat/sessions", json.dumps(fields), content_type="application/json")
    if response.status_code != 201:
        raise RuntimeError(f"chat session refused: {response.status_code} {response.content[:200]!r}")
    return response.json()


# How long one simulated customer waits for a frame: generous, as the first AI turn of a busy process
# loads the embedding model and the engine's turn shares the CPU with the other simulated customers.
FRAME_WAIT_SECONDS = 90


async def _until(chat: WebsocketCommunicator, done, timeout: float = FRAME_WAIT_SECONDS) -> list[dict]:
    frames = []
    while True:
        frame = await chat.receive_json_from(timeout=timeout)
        frames.append(frame)
        if done(frame):
            return frames


async def _until_all(
    chat: WebsocketCommunicator, types: set[str], timeout: float = FRAME_WAIT_SECONDS
) -> None:
    missing = set(types)
    while missing:
        missing.discard((await chat.receive_json_from(timeout=timeout))["type"])


def _is_reply_or_handoff(frame: dict) -> bool:
    return frame["type"] == "handoff" or (frame["type"] == "message" and frame.get("role") == "ai")


async def simulate_conversation(
    *, application, use_case: UseCase, index: int, rng: random.Random, spread_days: float
) -> SimulatedConversation:
    """Drive one synthetic conversation end to end and close it with an outcome."""
    session = await database_sync_to_async(_open_session)(
        {"name": f"Sim Customer {index}", "email": f"sim-{index}@example.test", "use_case": use_case.slug}
    )
    conversation_id = uuid.UUID(session["conversation_id"])
    conversation = await database_sync_to_async(Conversation.objects.get)(id=conversation_id)
    arm = conversation.assigned_handler
    chat = WebsocketCommunicator(application, f"/ws/chat/?token={session['token']}")
    connected, _ = await chat.connect()
    if not connected:
        raise RuntimeError("the chat socket refused a fresh session token")
    handed_off = arm == "human"
    try:
        texts = [rng.choice(QUESTIONS)]
        if rng.random() < 0.4:
            texts.append(rng.choice(FOLLOW_UPS))
        if arm == "ai" and rng.random() < 0.15:
            texts.append(ASK_FOR_PERSON)
        for turn, text in enumerate(texts):
            await chat.send_json_to({"type": "message", "text": text, "client_id": f"sim-{index}-{turn}"})
            if handed_off:
                # A person holds it: the first message joins the queue (a handoff frame), later ones are acked.
                await _until_all(chat, {"ack", "handoff"} if turn == 0 and arm == "human" else {"ack"})
                continue
            frames = await _until(chat, _is_reply_or_handoff)
            if frames[-1]["type"] == "handoff":
                handed_off = True
                break
    finally:
        # The consumer lets a running AI turn finish before it closes (see ChatConsumer.disconnect).
        await chat.disconnect(timeout=35)
    outcome = await database_sync_to_async(_finish)(
        conversation_id=conversation_id,
        arm=arm,
        handed_off=handed_off,
        rng=rng,
        spread_days=spread_days,
    )
    return SimulatedConversation(str(conversation_id), use_case.slug, arm, handed_off, outcome)


def _finish(
    *, conversation_id: uuid.UUID, arm: str, handed_off: bool, rng: random.Random, spread_days: float
) -> str:
    """End the conversation as people would: an agent accepts, replies (maybe from a draft) and resolves."""
    odds = OUTCOMES["human" if arm == "human" else "ai_handed_off" if handed_off else "ai"]
    outcome = _pick(rng, odds)
    handoff = (
        Handoff.objects.filter(conversation_id=conversation_id).exclude(status=Handoff.Status.CLOSED).first()
    )
    if handoff is None:
        conversation_services.close_conversation(
            conversation=Conversation.objects.get(id=conversation_id), outcome=outcome
        )
    else:
        agent = simulation_agent(handoff)
        if handoff.status == Handoff.Status.QUEUED:
            handoff_services.accept_handoff(handoff_id=handoff.pk, agent=agent)
        reply = rng.choice(AGENT_REPLIES)
        for draft in CopilotDraft.objects.filter(
            conversation_id=conversation_id, status=CopilotDraft.Status.PENDING
        ):
            use = _pick(rng, DRAFT_USE)
            if use == "ignored":
                handoff_services.ignore_draft(draft_id=draft.pk, agent=agent)
            else:
                reply = draft.text if use == "sent_as_is" else f"{draft.text} Anything else I can do?"
                handoff_services.record_draft_use(draft_id=draft.pk, agent=agent, sent_text=reply)
        handoff_services.record_agent_reply(handoff_id=handoff.pk, agent=agent, text=reply)
        handoff_services.resolve_handoff(handoff_id=handoff.pk, agent=agent, outcome=outcome)
    mean = 420 if handed_off else 150
    services.backdate_simulated_conversation(
        conversation_id=conversation_id,
        started_at=timezone.now() - timedelta(days=rng.uniform(0, spread_days), minutes=30),
        handle_seconds=max(20.0, rng.lognormvariate(0, 0.5) * mean),
    )
    return outcome


async def simulate_traffic(
    *,
    count: int,
    use_cases: list[UseCase],
    seed: int = 7,
    spread_days: float = 14,
    concurrency: int = 4,
    progress=None,
    first_index: int = 0,
) -> list[SimulatedConversation]:
    """Drive `count` conversations over `use_cases` (round robin), `concurrency` at a time."""
    # The served ASGI application, found through settings: no app imports the project package.
    application = get_default_application()

    if not use_cases:
        raise ValueError("no enabled use case to simulate; run the demo seed or add one in admin")
    rng = random.Random(seed)
    limit = asyncio.Semaphore(max(1, concurrency))
    results: list[SimulatedConversation] = []

    async def one(i: int) -> None:
        async with limit:
            # One generator per conversation: results do not depend on the order tasks interleave.
            result = await simulate_conversation(
                application=application,
                use_case=use_cases[i % len(use_cases)],
                index=first_index + i,
                rng=random.Random(rng_seeds[i]),
                spread_days=spread_days,
            )
            results.append(result)
            if progress is not None:
                progress.update(1)

    rng_seeds = [rng.randrange(2**32) for _ in range(count)]
    try:
        await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        # The executor thread's connection would outlive this event loop otherwise.
        await database_sync_to_async(connections.close_all)()
    return results


def tally(results: list[SimulatedConversation]) -> dict[str, Counter]:
    return {
        "arm": Counter(r.arm for r in results),
        "outcome": Counter(r.outcome for r in results),
        "handed_off": Counter(str(r.handed_off) for r in results),
    }

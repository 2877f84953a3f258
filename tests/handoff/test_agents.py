"""Queues and agents: who sees a waiting handoff, one winner when two accept, replies and resolution."""

import threading

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group, User
from django.db import connection

from conversations.models import Conversation, Message
from handoff import selectors, services
from handoff.defaults import seed_handoff_defaults
from handoff.models import Queue
from handoff.wording import agent_joined
from infra import event_types
from infra.groups import conversation_group, conversation_staff_group, queue_group, supervisors_group
from infra.permissions import AGENTS, SUPERVISORS
from tests.builders import connect_chat, receive_until, start_chat
from tests.handoff.events import published

pytestmark = pytest.mark.django_db(transaction=True)


def staff(username: str, *groups: str, first: str = "", last: str = "") -> User:
    user = User.objects.create_user(username, password="pw-123456", first_name=first, last_name=last)
    user.groups.add(*[Group.objects.get_or_create(name=g)[0] for g in groups])
    return user


def waiting_conversation(queue: Queue | None = None):
    session = start_chat()
    return services.start_handoff(
        conversation_id=session["conversation_id"], reason="customer_request", queue=queue
    ), session


def test_agents_see_only_their_queues_and_supervisors_see_all(offline_use_case):
    seed_handoff_defaults()
    general, returns = (
        Queue.objects.get(name="general"),
        Queue.objects.create(name="returns", skills=["returns"]),
    )
    alex = staff("alex", AGENTS)
    services.add_queue_member(queue=general, user=alex)
    sam = staff("sam", AGENTS, SUPERVISORS)
    nobody = staff("nobody")
    in_general, _ = waiting_conversation(general)
    in_returns, _ = waiting_conversation(returns)
    assert list(selectors.waiting_handoffs_for_agent(alex)) == [in_general]
    assert set(selectors.waiting_handoffs_for_agent(sam)) == {in_general, in_returns}
    assert list(selectors.waiting_handoffs_for_agent(nobody)) == []
    assert selectors.packet_for_handoff(alex, in_general.pk)["reason"] == "customer_request"
    with pytest.raises(PermissionError):
        selectors.packet_for_handoff(alex, in_returns.pk)
    with pytest.raises(services.HandoffError):
        services.accept_handoff(handoff_id=in_returns.pk, agent=alex)


def test_handoff_without_a_queue_lands_in_general(offline_use_case):
    seed_handoff_defaults()
    handoff, _ = waiting_conversation()
    assert handoff.queue.name == "general" and handoff.packet["queue"]["name"] == "general"


def test_only_one_of_two_racing_agents_wins(offline_use_case):
    seed_handoff_defaults()
    general = Queue.objects.get(name="general")
    agents = [staff(f"a{i}", AGENTS) for i in range(2)]
    for agent in agents:
        services.add_queue_member(queue=general, user=agent)
    handoff, _ = waiting_conversation(general)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def accept(agent: User) -> None:
        barrier.wait()
        try:
            services.accept_handoff(handoff_id=handoff.pk, agent=agent)
            results.append("won")
        except services.HandoffError:
            results.append("lost")
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost", "won"]
    handoff.refresh_from_db()
    assert handoff.status == "accepted" and handoff.agent in agents


async def test_customer_is_told_which_agent_accepted_then_sees_the_reply(offline_use_case):
    await database_sync_to_async(seed_handoff_defaults)()
    alex = await database_sync_to_async(staff)("alex", AGENTS, first="Alex", last="Agent")
    general = await database_sync_to_async(Queue.objects.get)(name="general")
    await database_sync_to_async(services.add_queue_member)(queue=general, user=alex)
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    await chat.send_json_to(
        {"type": "message", "text": "I want to talk to a real person", "client_id": "h-1"}
    )
    await receive_until(chat, "handoff")
    handoff = await database_sync_to_async(selectors.live_handoff)(session["conversation_id"])
    await database_sync_to_async(services.accept_handoff)(handoff_id=handoff.pk, agent=alex)
    assert await chat.receive_json_from(timeout=5) == {
        "type": "handoff",
        "status": "accepted",
        "agent": "Alex Agent",
    }
    joined = await chat.receive_json_from(timeout=5)
    assert (joined["type"], joined["role"], joined["text"]) == (
        "message",
        "system",
        agent_joined("Alex Agent"),
    )
    await database_sync_to_async(services.record_agent_reply)(
        handoff_id=handoff.pk, agent=alex, text="Hi, I'm here."
    )
    reply = await chat.receive_json_from(timeout=5)
    assert (reply["role"], reply["text"], reply["agent"]) == ("agent", "Hi, I'm here.", "Alex Agent")
    await chat.send_json_to({"type": "message", "text": "thanks!", "client_id": "h-2"})
    assert (await chat.receive_json_from())["type"] == "ack"
    assert await chat.receive_nothing(timeout=0.5), "the AI stays quiet while the agent has the conversation"
    await chat.disconnect()


def test_only_the_accepting_agent_replies_and_resolution_closes_everything(offline_use_case):
    seed_handoff_defaults()
    general = Queue.objects.get(name="general")
    alex, blair = staff("alex", AGENTS), staff("blair", AGENTS)
    services.add_queue_member(queue=general, user=alex)
    handoff, session = waiting_conversation(general)
    services.accept_handoff(handoff_id=handoff.pk, agent=alex)
    with pytest.raises(services.HandoffError):
        services.record_agent_reply(handoff_id=handoff.pk, agent=blair, text="not mine")
    with pytest.raises(ValueError):
        services.record_agent_reply(handoff_id=handoff.pk, agent=alex, text="   ")
    with pytest.raises(services.HandoffError):
        services.resolve_handoff(handoff_id=handoff.pk, agent=blair, outcome="resolved")
    with pytest.raises(ValueError):
        services.resolve_handoff(handoff_id=handoff.pk, agent=alex, outcome="sort of")
    services.resolve_handoff(handoff_id=handoff.pk, agent=alex, outcome="resolved")
    conversation = Conversation.objects.get(id=session["conversation_id"])
    assert (conversation.status, conversation.outcome) == ("closed", "resolved")
    assert conversation.closed_at is not None
    assert not Message.objects.filter(role="agent").exists()
    with pytest.raises(services.HandoffError):
        services.resolve_handoff(handoff_id=handoff.pk, agent=alex, outcome="resolved")


def test_acceptance_is_published_to_the_customer_and_to_staff_with_exact_groups(
    offline_use_case, monkeypatch
):
    seed_handoff_defaults()
    general = Queue.objects.get(name="general")
    alex = staff("alex", AGENTS, first="Alex", last="Agent")
    services.add_queue_member(queue=general, user=alex)
    handoff, session = waiting_conversation(general)
    with published(monkeypatch) as sent:
        services.accept_handoff(handoff_id=handoff.pk, agent=alex)
    conversation_id = session["conversation_id"]
    handoff_events = [
        (groups, payload) for groups, kind, payload in sent if kind == event_types.HANDOFF_CHANGED
    ]
    assert handoff_events == [
        ((conversation_group(conversation_id),), {"status": "accepted", "agent": "Alex Agent"}),
        (
            (supervisors_group(), conversation_staff_group(conversation_id), queue_group(general.pk)),
            {
                "status": "accepted",
                "agent": "Alex Agent",
                "agent_id": alex.pk,
                "handoff_id": handoff.pk,
                "conversation_id": conversation_id,
                "reason": "customer_request",
                "queue": "general",
                "priority": 50,
                "outcome": None,
            },
        ),
    ]


def test_every_handoff_change_reaches_staff_in_one_shape_and_closing_reaches_its_queue(
    offline_use_case, monkeypatch
):
    seed_handoff_defaults()
    general = Queue.objects.get(name="general")
    alex = staff("alex", AGENTS, first="Alex", last="Agent")
    services.add_queue_member(queue=general, user=alex)
    with published(monkeypatch) as sent:
        handoff, session = waiting_conversation(general)
        services.accept_handoff(handoff_id=handoff.pk, agent=alex)
        services.resolve_handoff(handoff_id=handoff.pk, agent=alex, outcome="resolved")
    conversation_id = session["conversation_id"]
    staff_events = [
        (groups, payload)
        for groups, kind, payload in sent
        if kind == event_types.HANDOFF_CHANGED and groups != (conversation_group(conversation_id),)
    ]
    assert [p["status"] for _, p in staff_events] == ["queued", "accepted", "closed"]
    assert {frozenset(p) for _, p in staff_events} == {
        frozenset(
            {
                "status",
                "agent",
                "agent_id",
                "handoff_id",
                "conversation_id",
                "reason",
                "queue",
                "priority",
                "outcome",
            }
        )
    }, "one payload shape for every change"
    staff_groups = (supervisors_group(), conversation_staff_group(conversation_id), queue_group(general.pk))
    assert [groups for groups, _ in staff_events] == [staff_groups] * 3, "closing reaches the queue too"
    assert staff_events[-1][1]["outcome"] == "resolved" and staff_events[-1][1]["agent"] == "Alex Agent"

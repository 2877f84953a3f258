from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services import close_conversation
from insights import services, tasks
from tests.insights import builders as b

pytestmark = pytest.mark.django_db


def test_closing_records_the_outcome_and_the_handle_time():
    conversation = b.conversation(arm="ai", created_at=timezone.now() - timedelta(minutes=4))
    closed = close_conversation(conversation=conversation, outcome="resolved")
    assert (closed.status, closed.outcome) == ("closed", "resolved")
    assert 235 < closed.handle_seconds < 250


def test_closing_twice_keeps_the_first_outcome():
    conversation = b.conversation(arm="ai")
    first = close_conversation(conversation=conversation, outcome="resolved")
    again = close_conversation(conversation=conversation, outcome="abandoned")
    assert (again.outcome, again.closed_at) == ("resolved", first.closed_at)


def test_an_unknown_outcome_is_refused_and_changes_nothing():
    conversation = b.conversation(arm="ai")
    with pytest.raises(ValueError, match="unknown outcome 'done'"):
        close_conversation(conversation=conversation, outcome="done")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.outcome, conversation.closed_at) == ("open", "", None)


def _with_last_message(minutes_ago: float, **fields) -> Conversation:
    conversation = b.conversation(created_at=timezone.now() - timedelta(minutes=minutes_ago + 1), **fields)
    Conversation.objects.filter(id=conversation.id).update(
        last_message_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return conversation


@override_settings(BATON_IDLE_CLOSE_MINUTES=20)
def test_idle_conversations_close_as_abandoned_by_the_periodic_task():
    idle = _with_last_message(25, arm="ai")
    silent = b.conversation(arm="ai", created_at=timezone.now() - timedelta(minutes=40))  # never wrote
    active = _with_last_message(5, arm="ai")
    queued = _with_last_message(60, arm="ai", handoff_reason="customer_request")  # a person is on it
    tasks.close_idle_conversations.delay()
    outcomes = dict(Conversation.objects.values_list("id", "outcome"))
    assert outcomes == {idle.id: "abandoned", silent.id: "abandoned", active.id: "", queued.id: ""}
    assert Conversation.objects.get(id=idle.id).status == "closed"
    assert services.close_idle_conversations() == 0, "running it again closes nothing more"


def test_outcome_paths_tell_ai_from_human_resolutions():
    from insights.selectors import conversation_rows

    b.conversation(arm="ai", outcome="resolved", handle_seconds=1)
    b.conversation(arm="ai", outcome="resolved", handle_seconds=1, handoff_reason="llm_failure")
    b.conversation(arm="human", outcome="resolved", handle_seconds=1, handoff_reason="rollout")
    b.conversation(arm="human", outcome="follow_up", handle_seconds=1, handoff_reason="rollout")
    b.conversation(arm="ai", outcome="abandoned", handle_seconds=1)
    paths = sorted(row.path for row in conversation_rows())
    assert paths == [
        "abandoned",
        "follow_up",
        "resolved_by_ai",
        "resolved_by_human",
        "resolved_by_human_after_handoff",
    ]


def _idle_with(*turns: tuple[str, str]) -> Conversation:
    conversation = b.conversation(arm="ai", created_at=timezone.now() - timedelta(hours=2))
    at = timezone.now() - timedelta(hours=2)
    for i, (role, text) in enumerate(turns):
        Message.objects.create(
            conversation=conversation, role=role, text=text, created_at=at + timedelta(seconds=i)
        )
    Conversation.objects.filter(id=conversation.id).update(last_message_at=at + timedelta(seconds=len(turns)))
    return conversation


@pytest.mark.parametrize(
    ("turns", "outcome"),
    [
        (
            [
                ("customer", "Is shipping free?"),
                ("ai", "Shipping is free."),
                ("customer", "Thanks, that's all!"),
            ],
            "resolved",
        ),
        ([("customer", "Is shipping free?"), ("ai", "Shipping is free."), ("customer", "great")], "resolved"),
        ([("customer", "Is shipping free?"), ("ai", "Shipping is free.")], "abandoned"),
        (
            [("customer", "Is shipping free?"), ("ai", "It is."), ("customer", "Thanks but it still isn't")],
            "abandoned",
        ),
        ([("customer", "thanks")], "abandoned"),  # thanked for nothing: no answer came
        ([("customer", "Where is my order?"), ("ai", "Which order?"), ("customer", "#W123")], "abandoned"),
    ],
)
def test_an_idle_conversation_closes_resolved_only_when_the_customer_thanked_an_answer(turns, outcome):
    conversation = _idle_with(*turns)
    services.close_idle_conversations(idle=timedelta(minutes=30))
    assert Conversation.objects.get(id=conversation.id).outcome == outcome

"""The statements a web chat turn's message path costs: a bound, so it cannot quietly grow back."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation, Message
from conversations.selectors import HISTORY_LIMIT, history
from conversations.services import Inbound, record_reply, start_chat_session
from handoff import services as handoff_services
from handoff.defaults import seed_handoff_defaults
from handoff.models import Signal
from memory.tasks import finish_in_process_extractions
from orchestration.pipeline import accept_customer_message

pytestmark = pytest.mark.django_db(transaction=True)


def _say(conversation: Conversation, text: str, client_id: str):
    return accept_customer_message(
        Inbound(
            channel=Conversation.Channel.WEBCHAT,
            identity_channel="webchat",
            address="visitor-count",
            text=text,
            external_id=client_id,
            conversation_id=conversation.id,
        )
    )


def _statements(captured: CaptureQueriesContext) -> list[str]:
    # Transaction control is not a round trip of its own worth counting; savepoints are.
    return [q["sql"] for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]


def test_a_new_web_chat_message_is_stored_and_observed_in_a_few_statements(offline_use_case, settings):
    settings.BATON_BACKGROUND_INLINE = False  # extraction runs elsewhere, after commit
    seed_handoff_defaults()
    conversation = start_chat_session(visitor_id="visitor-count")
    _say(conversation, "hello there", "c-0")
    with CaptureQueriesContext(connection) as captured:
        accepted = _say(conversation, "Is shipping free?", "c-1")
    assert accepted.created and accepted.ai_should_reply
    statements = _statements(captured)
    # Today 4: the operators' stamp, the conversation, the insert, earlier texts with the counts rules need.
    assert len(statements) <= 5, "\n".join(statements)
    # The extractions queued above run on the in-process thread: done before the test database is flushed
    # (a flush beside a running extraction deadlocks).
    finish_in_process_extractions()


def test_an_ai_reply_with_nothing_to_flag_is_observed_in_at_most_one_statement(offline_use_case):
    seed_handoff_defaults()
    conversation = start_chat_session(visitor_id="visitor-count")
    _say(conversation, "Is shipping free?", "c-1")
    conversation = Conversation.objects.select_related("use_case__llm_provider").get(id=conversation.id)
    earlier = history(conversation.id)
    reply = record_reply(
        conversation_id=conversation.id,
        channel=conversation.channel,
        role=Message.Role.AI,
        text="Shipping is free on orders over $50.",
    )
    with CaptureQueriesContext(connection) as captured:
        observed = handoff_services.observe_ai_message(
            message=reply,
            conversation=conversation,
            earlier=earlier,
            earlier_complete=len(earlier) < HISTORY_LIMIT,
        )
    assert observed.signals == [] and not observed.handed_off
    statements = _statements(captured)
    assert len(statements) <= 1, "\n".join(statements)  # the operators' stamp
    assert not Signal.objects.exists()


def test_an_ai_reply_observed_without_what_the_turn_read_reads_it_and_finds_the_same():
    seed_handoff_defaults()
    conversation = start_chat_session(visitor_id="visitor-count")
    reply = record_reply(
        conversation_id=conversation.id, role=Message.Role.AI, text="I guarantee a full refund today."
    )
    observed = handoff_services.observe_ai_message(message=reply)
    assert [s.label for s in observed.signals] == ["policy_breach"]

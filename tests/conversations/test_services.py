"""Conversation services: storing a customer message once, whatever the retries."""

import threading

import pytest
from django.db import connection, transaction

from conversations.models import Conversation, Message
from conversations.services import Inbound, receive_message, start_chat_session

pytestmark = pytest.mark.django_db(transaction=True)


def _webchat(conversation: Conversation, visitor_id: str, client_id: str) -> Inbound:
    return Inbound(
        channel=Conversation.Channel.WEBCHAT,
        identity_channel="webchat",
        address=visitor_id,
        text="Is shipping free?",
        external_id=client_id,
        conversation_id=conversation.id,
    )


def test_a_retry_racing_the_original_waits_for_it_and_gets_the_stored_message():
    conversation = start_chat_session(visitor_id="visitor-race")
    inbound = _webchat(conversation, "visitor-race", "c-1")
    first_stored, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def original():
        try:
            with transaction.atomic():
                results["original"] = receive_message(inbound)
                first_stored.set()
                release.wait(5)  # still uncommitted while the retry arrives
        finally:
            connection.close()

    def retry():
        try:
            results["retry"] = receive_message(inbound)
        except Exception as exc:  # surfaced by the assertions below
            results["retry"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=original), threading.Thread(target=retry)]
    threads[0].start()
    assert first_stored.wait(5)
    threads[1].start()
    threads[1].join(0.5)
    assert threads[1].is_alive(), "the retry waits for the original's transaction"
    release.set()
    for thread in threads:
        thread.join(10)
    original_received, retried = results["original"], results["retry"]
    assert original_received.created and not retried.created, retried
    assert retried.message.id == original_received.message.id
    assert Message.objects.filter(conversation=conversation, external_id="c-1").count() == 1


def test_a_repeated_client_id_returns_the_stored_message_and_leaves_the_conversation_alone():
    conversation = start_chat_session(visitor_id="visitor-repeat")
    first = receive_message(_webchat(conversation, "visitor-repeat", "c-1"))
    last_message_at = Conversation.objects.get(id=conversation.id).last_message_at
    assert last_message_at == first.message.created_at
    again = receive_message(_webchat(conversation, "visitor-repeat", "c-1"))
    assert not again.created and again.message.id == first.message.id
    assert Conversation.objects.get(id=conversation.id).last_message_at == last_message_at


def test_a_message_without_external_id_is_stored_each_time():
    conversation = start_chat_session(visitor_id="visitor-voice")
    inbound = _webchat(conversation, "visitor-voice", "")
    assert receive_message(inbound).created and receive_message(inbound).created
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_another_customers_conversation_is_refused():
    conversation = start_chat_session(visitor_id="visitor-owner")
    with pytest.raises(PermissionError):
        receive_message(_webchat(conversation, "visitor-intruder", "c-1"))
    assert not Message.objects.filter(conversation=conversation).exists()

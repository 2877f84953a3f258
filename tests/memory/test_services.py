import json
import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services import set_conversation_state
from memory import services
from memory.extraction import Candidate
from memory.models import CustomerProfile, ExtractedMessage, Observation
from memory.selectors import profile_for, recall
from memory.services import profiles
from memory.services.observations import lock_customer_memory
from tests.fakes.openai_server import Reply
from tests.memory.builders import conversation_with, customer, say_more

pytestmark = pytest.mark.django_db


def test_running_extraction_twice_stores_nothing_twice():
    ana = customer("Ana")
    talk = conversation_with(
        ana,
        "My blender arrived broken, order #W1234567.",
        "I prefer email over phone calls.",
        "I live at 12 Oak Street, Springfield 62704.",
    )
    assert services.extract_observations(conversation_id=talk.id) == 3
    first = sorted(Observation.objects.values_list("text", "kind", "message_external_ids"))
    assert services.extract_observations(conversation_id=talk.id) == 0
    assert sorted(Observation.objects.values_list("text", "kind", "message_external_ids")) == first
    kinds = {kind for _, kind, _ in first}
    assert {"issue", "preference", "fact"} <= kinds
    assert any(text == "Address: 12 Oak Street, Springfield 62704" for text, _, _ in first)


def test_a_worker_killed_mid_extraction_loses_nothing_on_retry(monkeypatch):
    talk = conversation_with(customer("Bo"), "The headphones I got are defective.", "I need to return them.")
    real = profiles.reconcile_profile

    def crash(**kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(profiles, "reconcile_profile", crash)
    with pytest.raises(RuntimeError):
        services.extract_observations(conversation_id=talk.id)
    assert Observation.objects.count() == 0 and ExtractedMessage.objects.count() == 0
    monkeypatch.setattr(profiles, "reconcile_profile", real)
    assert services.extract_observations(conversation_id=talk.id) == 2
    assert Observation.objects.count() == 2


def test_new_address_supersedes_the_old_one_instead_of_piling_up():
    cy = customer("Cy")
    old = conversation_with(cy, "Please ship to 12 Oak Street, Springfield 62704.", days_ago=30)
    services.extract_observations(conversation_id=old.id)
    new = conversation_with(cy, "I moved, my new address is 99 Pine Avenue, Portland 97201.")
    services.extract_observations(conversation_id=new.id)

    addresses = Observation.objects.filter(customer=cy, trait="address")
    current = addresses.get(superseded_by__isnull=True)
    assert current.trait_value == "99 Pine Avenue, Portland 97201"
    assert addresses.get(trait_value__startswith="12 Oak").superseded_by == current
    assert profile_for(customer_id=cy.id)["traits"]["address"] == "99 Pine Avenue, Portland 97201"
    found = [r.text for r in recall(customer_id=cy.id, query="what is my shipping address?")]
    assert not any("12 Oak" in t for t in found)


def test_an_older_transcript_does_not_override_a_newer_phone():
    di = customer("Di")
    services.extract_observations(conversation_id=conversation_with(di, "Call me on 415-555-0100.").id)
    services.extract_observations(
        conversation_id=conversation_with(di, "My number is 415-555-0199.", days_ago=400).id
    )
    assert profile_for(customer_id=di.id)["traits"]["phone"] == "+14155550100"


def test_near_identical_statements_merge_their_sources():
    ed = customer("Ed")
    services.extract_observations(conversation_id=conversation_with(ed, "My blender arrived broken.").id)
    services.extract_observations(conversation_id=conversation_with(ed, "My blender arrived broken!!").id)
    only = Observation.objects.get(customer=ed)
    assert len(only.message_external_ids) == 2


def test_closing_a_conversation_extracts_and_records_the_customers_frustration(
    django_capture_on_commit_callbacks,
):
    fay = customer("Fay")
    talk = conversation_with(
        fay, "This is terrible, the package is late again.", "I am so angry and disappointed, awful service."
    )
    with django_capture_on_commit_callbacks(execute=True):
        set_conversation_state(conversation=talk, status=Conversation.Status.CLOSED)
    sentiment = Observation.objects.get(customer=fay, kind="sentiment")
    assert "frustrated" in sentiment.text
    assert ExtractedMessage.objects.filter(message__conversation=talk).count() == 2
    assert CustomerProfile.objects.get(customer=fay).summary.startswith("Fay")


def test_each_turn_is_extracted_offline_without_calling_the_llm(openai_use_case, fake_openai):
    talk = conversation_with(customer("Gus"), "I'm vegan and my email is gus@example.com")
    Conversation.objects.filter(id=talk.id).update(use_case=openai_use_case)
    services.extract_observations(conversation_id=talk.id)
    assert fake_openai.requests == []
    assert Observation.objects.filter(trait="email").exists()


def test_at_the_end_the_llm_extracts_with_a_json_schema_prompt_once(openai_use_case, fake_openai):
    gus = customer("Gus")
    talk = conversation_with(gus, "hey, I'm vegan and I love spicy food", "my email is gus@example.com")
    Conversation.objects.filter(id=talk.id).update(use_case=openai_use_case)
    first, second = (
        Message.objects.filter(conversation=talk).order_by("created_at").values_list("external_id", flat=True)
    )
    services.extract_observations(conversation_id=talk.id)  # the turns, offline
    fake_openai.script(
        Reply(
            text=json.dumps(
                {
                    "observations": [
                        {
                            "text": "Gus is vegan and likes spicy food.",
                            "kind": "preference",
                            "source_ids": [first],
                        },
                        {
                            "text": "Gus's email is gus@example.com.",
                            "kind": "fact",
                            "trait": "email",
                            "value": "gus@example.com",
                            "source_ids": [second],
                        },
                    ]
                }
            )
        )
    )
    services.extract_observations(conversation_id=talk.id, final=True)
    services.extract_observations(conversation_id=talk.id, final=True)  # a retried close: no second LLM pass
    assert len(fake_openai.requests) == 1
    prompt = fake_openai.requests[0]["messages"]
    assert '"observations"' in prompt[0]["content"] and first in prompt[1]["content"]
    texts = set(Observation.objects.filter(customer=gus).values_list("text", flat=True))
    assert "Gus is vegan and likes spicy food." in texts
    assert "hey, I'm vegan and I love spicy food" not in texts, (
        "the LLM's observation replaces the raw sentence"
    )
    assert profile_for(customer_id=gus.id)["traits"]["email"] == "gus@example.com"


def test_malformed_llm_extraction_keeps_the_pattern_observations(openai_use_case, fake_openai):
    hal = customer("Hal")
    talk = conversation_with(hal, "My new address is 7 Elm Road, Austin 73301.")
    Conversation.objects.filter(id=talk.id).update(use_case=openai_use_case)
    fake_openai.script(Reply(text="Sure! Here are the observations: the customer moved."))
    services.extract_observations(conversation_id=talk.id, final=True)
    assert len(fake_openai.requests) == 1
    assert profile_for(customer_id=hal.id)["traits"]["address"] == "7 Elm Road, Austin 73301"


def test_extraction_picks_up_only_new_messages():
    ivy = customer("Ivy")
    talk = conversation_with(ivy, "The kettle I bought is leaking.")
    services.extract_observations(conversation_id=talk.id)
    say_more(talk, "I would like to exchange it for the steel model.", "later-1")
    assert services.extract_observations(conversation_id=talk.id) == 1
    assert Observation.objects.filter(customer=ivy).count() == 2


def test_a_new_conversation_counts_in_the_profile_even_with_nothing_to_extract():
    eve = customer("Eve")
    first = conversation_with(eve, "My kettle arrived broken.", days_ago=3)
    services.extract_observations(conversation_id=first.id)
    greeting = conversation_with(eve, "hi")
    services.extract_observations(conversation_id=greeting.id)
    assert profile_for(customer_id=eve.id)["traits"]["conversations"] == 2


def test_a_later_message_with_nothing_to_extract_leaves_the_profile_alone(monkeypatch):
    talk = conversation_with(customer("Fay"), "My kettle arrived broken.")
    services.extract_observations(conversation_id=talk.id)
    say_more(talk, "ok thanks", "m-2")

    def rebuilt(**kwargs):
        raise AssertionError("the profile was rebuilt for a message with nothing in it")

    monkeypatch.setattr(profiles, "reconcile_profile", rebuilt)
    assert services.extract_observations(conversation_id=talk.id) == 1


def _statements(captured: CaptureQueriesContext) -> list[str]:
    """The statements run, without transaction control (BEGIN, COMMIT, savepoints)."""
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(control)]


def _second_turn(name: str, first: str, second: str):
    """A conversation whose first message is extracted and whose second is not yet."""
    talk = conversation_with(customer(name), first)
    services.extract_observations(conversation_id=talk.id)
    say_more(talk, second, "m-2")
    return talk


def test_a_turn_that_records_one_observation_takes_six_statements():
    talk = _second_turn(
        "Gil",
        "I have a question about my account settings.",
        "Is shipping free for orders over fifty dollars?",
    )
    with CaptureQueriesContext(connection) as captured:
        assert services.extract_observations(conversation_id=talk.id) == 1
    # Messages, lock, markers, duplicate lookup, insert, profile inputs (a fact: the profile stays as it is).
    assert len(_statements(captured)) <= 6, _statements(captured)
    assert Observation.objects.filter(conversation=talk).count() == 2


def test_a_turn_with_nothing_to_extract_takes_two_statements_and_a_repeat_one():
    talk = _second_turn("Ida", "My kettle arrived broken.", "ok thanks")
    with CaptureQueriesContext(connection) as captured:
        assert services.extract_observations(conversation_id=talk.id) == 1
    assert len(_statements(captured)) == 2  # messages, markers
    with CaptureQueriesContext(connection) as captured:
        assert services.extract_observations(conversation_id=talk.id) == 0
    assert len(_statements(captured)) == 1
    assert ExtractedMessage.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_extractions_of_one_conversation_at_once_store_everything_once():
    texts = ("My blender arrived broken, order #W1234567.", "I prefer email over phone calls.")
    alone = conversation_with(customer("Jo"), *texts)
    services.extract_observations(conversation_id=alone.id)
    talk = conversation_with(customer("Kai"), *texts)
    results: list[int] = []

    def extract() -> None:
        try:
            results.append(services.extract_observations(conversation_id=talk.id))
        finally:
            connection.close()

    threads = [threading.Thread(target=extract) for _ in range(2)]
    # Holding the customer's lock lets both read the same pending messages before either stores them.
    with transaction.atomic():
        lock_customer_memory(talk.customer_id)
        for thread in threads:
            thread.start()
        with connection.cursor() as cursor:
            for _ in range(300):
                cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                if cursor.fetchone()[0] == 2:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the two extractions never waited for the lock")
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [0, 2]
    assert ExtractedMessage.objects.filter(message__conversation=talk).count() == 2
    stored = sorted(
        Observation.objects.filter(customer=talk.customer).values_list("text", "message_external_ids")
    )
    expected = sorted(
        Observation.objects.filter(customer=alone.customer).values_list("text", "message_external_ids")
    )
    assert [text for text, _ in stored] == [text for text, _ in expected]
    assert profile_for(customer_id=talk.customer_id)["traits"]["issues"] == [texts[0]]


def test_a_trait_restated_in_other_words_merges_into_the_active_one():
    lea = customer("Lea")
    now = timezone.now()
    first = Candidate("Address: 12 Oak Street", "fact", 0.9, now, ["m-1"], "address", "12 Oak Street")
    again = Candidate("Lea lives at 12 oak street.", "fact", 0.95, now, ["m-2"], "address", "12 OAK STREET")
    [stored] = services.record_observations(customer_id=lea.id, candidates=[first])
    [merged] = services.record_observations(customer_id=lea.id, candidates=[again])
    assert merged.id == stored.id
    assert Observation.objects.get(customer=lea).message_external_ids == ["m-1", "m-2"]
    assert Observation.objects.get(customer=lea).confidence == 0.95

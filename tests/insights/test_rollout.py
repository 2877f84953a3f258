import json
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from conversations import services
from conversations.models import Conversation, UseCase
from conversations.rollout import assign_handler, bucket_for
from handoff.models import Handoff
from orchestration import pipeline
from tests.builders import start_chat


def live(share: int, customer: str, channel: str = "webchat", slug: str = "orders"):
    return assign_handler(
        mode="live",
        live_percentages={channel: share},
        channel=channel,
        use_case_slug=slug,
        customer_key=customer,
    )


def test_same_customer_always_gets_the_same_handler():
    for customer in (str(uuid.uuid4()) for _ in range(200)):
        first = live(30, customer)
        assert all(live(30, customer) == first for _ in range(5))


@pytest.mark.parametrize("share", [0, 5, 30, 50, 90, 100])
def test_ai_share_matches_the_percentage_over_10000_customers(share):
    customers = [str(uuid.UUID(int=i * 7919 + 13)) for i in range(10_000)]
    ai = sum(live(share, c).handler == "ai" for c in customers)
    # Binomial sd at 50% over 10,000 is 0.5 points; 1.5 points is three of them.
    assert abs(ai / 10_000 * 100 - share) <= 1.5


def test_the_bucket_ignores_the_channel_so_a_customer_does_not_flip_across_channels():
    customer = str(uuid.uuid4())
    handlers = {live(40, customer, channel=ch).handler for ch in ("webchat", "sms", "voice")}
    assert len(handlers) == 1


def test_widening_a_slice_only_moves_customers_from_human_to_ai():
    customers = [str(uuid.uuid4()) for _ in range(2000)]
    at_30 = {c for c in customers if live(30, c).handler == "ai"}
    at_60 = {c for c in customers if live(60, c).handler == "ai"}
    assert at_30 < at_60


def test_each_decision_says_why():
    customer = "c-1"
    bucket = bucket_for(use_case_slug="orders", customer_key=customer)
    assert live(100, customer).reason == f"live 100% slice: bucket {bucket} < 100"
    assert live(0, customer).reason == f"live 0% slice: bucket {bucket} >= 0"
    shadow = assign_handler(
        mode="shadow", live_percentages={}, channel="sms", use_case_slug="x", customer_key="c"
    )
    assert (shadow.handler, shadow.shadow) == ("human", True) and "shadow" in shadow.reason
    off = assign_handler(mode="off", live_percentages={}, channel="sms", use_case_slug="x", customer_key="c")
    assert off.handler == "human" and off.reason.startswith("off")


def test_buckets_differ_between_use_cases():
    customers = [str(uuid.uuid4()) for _ in range(500)]
    same = sum(
        bucket_for(use_case_slug="a", customer_key=c) == bucket_for(use_case_slug="b", customer_key=c)
        for c in customers
    )
    assert same < 25  # about 1% by chance


@pytest.mark.parametrize(
    "value",
    [[], {"fax": 10}, {"webchat": 101}, {"webchat": -1}, {"webchat": "50"}, {"webchat": 12.5}, {"sms": True}],
)
def test_admin_rejects_bad_percentages(db, value):
    use_case = UseCase(slug="x", name="X", live_percentages=value)
    with pytest.raises(ValidationError) as error:
        use_case.full_clean()
    assert "live_percentages" in error.value.message_dict


@pytest.mark.django_db
def test_conversations_record_their_handler_and_why(offline_use_case):
    offline_use_case.live_percentages = {"webchat": 0}
    offline_use_case.save()
    human = Conversation.objects.get(id=start_chat()["conversation_id"])
    assert (human.handler, human.assigned_handler, human.status) == ("human", "human", "open")
    assert human.handler_reason.startswith("live 0% slice: bucket ")
    # The admin widens the slice: the next conversation follows it, no restart needed.
    UseCase.objects.filter(id=offline_use_case.id).update(live_percentages={"webchat": 100})
    ai = Conversation.objects.get(id=start_chat()["conversation_id"])
    assert (ai.handler, ai.assigned_handler) == ("ai", "ai")
    assert ai.handler_reason.startswith("live 100% slice")


@pytest.mark.django_db
def test_a_returning_customer_keeps_their_handler(offline_use_case):
    offline_use_case.live_percentages = {"webchat": 50}
    offline_use_case.save()
    for n in range(12):
        email = f"returning-{n}@example.test"
        first = Conversation.objects.get(id=start_chat(email=email)["conversation_id"])
        again = Conversation.objects.get(id=start_chat(Client(), email=email)["conversation_id"])
        assert first.customer_id == again.customer_id
        assert first.handler == again.handler


@pytest.mark.django_db
def test_a_human_slice_conversation_joins_the_queue_with_its_first_message(offline_use_case):
    offline_use_case.mode = UseCase.Mode.OFF
    offline_use_case.save()
    session = start_chat()
    assert not Handoff.objects.exists(), "no empty conversations in the agents' queue"
    accepted = pipeline.accept_customer_message(_inbound_for(session, "Where is my parcel?", "m-1"))
    assert not accepted.ai_should_reply
    handoff = Handoff.objects.get()
    assert (handoff.reason, handoff.status, handoff.detail) == (
        "rollout",
        "queued",
        "off: humans handle this use case",
    )
    conversation = Conversation.objects.get(id=session["conversation_id"])
    assert (conversation.status, conversation.handler) == ("waiting", "human")
    pipeline.accept_customer_message(_inbound_for(session, "Hello?", "m-2"))
    assert Handoff.objects.count() == 1


def _inbound_for(session: dict, text: str, external_id: str) -> services.Inbound:
    from orchestration.tokens import read_chat_token

    claims = read_chat_token(session["token"])
    return services.Inbound(
        channel="webchat",
        identity_channel="webchat",
        address=claims.visitor_id,
        text=text,
        external_id=external_id,
        conversation_id=claims.conversation_id,
    )


def _admin_change(client: Client, use_case: UseCase, **changes) -> object:
    data = {
        "slug": use_case.slug,
        "name": use_case.name,
        "description": use_case.description,
        "instructions": use_case.instructions,
        "resolution_definition": use_case.resolution_definition,
        "greeting": use_case.greeting,
        "llm_provider": use_case.llm_provider_id or "",
        "is_default": "on" if use_case.is_default else "",
        "enabled": "on",
        "mode": use_case.mode,
        "live_percentages": json.dumps(use_case.live_percentages),
        **changes,
    }
    return client.post(f"/admin/conversations/usecase/{use_case.pk}/change/", data)


@pytest.mark.django_db
def test_a_slice_changed_in_admin_applies_to_the_next_conversation(offline_use_case, admin_client):
    response = _admin_change(admin_client, offline_use_case, live_percentages='{"webchat": 0, "sms": 100}')
    assert response.status_code == 302
    assert Conversation.objects.get(id=start_chat()["conversation_id"]).handler == "human"
    response = _admin_change(admin_client, offline_use_case, mode="shadow")
    assert response.status_code == 302
    shadow = Conversation.objects.get(id=start_chat()["conversation_id"])
    assert (shadow.handler, shadow.shadow) == ("human", True)


@pytest.mark.django_db
def test_admin_shows_a_clear_error_for_a_bad_slice(offline_use_case, admin_client):
    response = _admin_change(admin_client, offline_use_case, live_percentages='{"webchat": 150}')
    assert response.status_code == 200
    assert "webchat: the share must be a whole number from 0 to 100" in response.content.decode()
    offline_use_case.refresh_from_db()
    assert offline_use_case.live_percentages == {"webchat": 100, "sms": 100, "voice": 100}

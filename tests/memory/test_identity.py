import pytest
from django.contrib.auth.models import User
from django.test import Client

from conversations.models import Conversation, Customer, Identity
from conversations.services import Inbound
from memory.models import CustomerProfile, Observation
from memory.selectors import profile_for, recall
from orchestration.pipeline import accept_customer_message
from tests.builders import start_chat
from tests.memory.builders import conversation_with, customer

pytestmark = pytest.mark.django_db


def test_the_same_phone_and_email_on_web_chat_sms_and_voice_is_one_customer_with_one_memory(
    offline_use_case, django_capture_on_commit_callbacks
):
    session = start_chat(email="Mia@Example.com", phone="+1 415 555 0142", name="Mia")
    with django_capture_on_commit_callbacks(execute=True):
        accept_customer_message(
            Inbound(
                channel="sms",
                identity_channel="phone",
                address="(415) 555-0142",
                text="My new address is 8 Cedar Lane, Denver 80203.",
                external_id="SM0001",
            )
        )
        accept_customer_message(
            Inbound(
                channel="voice",
                identity_channel="phone",
                address="+14155550142",
                text="The standing desk I ordered wobbles and one leg is cracked.",
                external_id="CA0001-1",
            )
        )
    assert Customer.objects.count() == 1
    mia = Customer.objects.get()
    assert str(mia.id) == session["customer_id"]
    assert set(Conversation.objects.values_list("channel", flat=True)) == {"webchat", "sms", "voice"}
    assert profile_for(customer_id=mia.id)["traits"]["address"] == "8 Cedar Lane, Denver 80203"
    found = recall(customer_id=mia.id, query="desk problem", k=3)
    assert "standing desk" in found[0].text and found[0].message_external_ids == ["CA0001-1"]
    # Customer messages are extracted once, whatever the channel retries.
    with django_capture_on_commit_callbacks(execute=True):
        accept_customer_message(
            Inbound(
                channel="sms",
                identity_channel="phone",
                address="+14155550142",
                text="My new address is 8 Cedar Lane, Denver 80203.",
                external_id="SM0001",
            )
        )
    assert Observation.objects.filter(trait="address").count() == 1


def test_admin_merge_moves_identities_conversations_observations_and_profile():
    from memory import services

    older = customer("Noa")
    Identity.objects.create(customer=older, channel="email", address="noa@example.com")
    services.extract_observations(
        conversation_id=conversation_with(older, "I live at 1 Main Street, Salem 97301.", days_ago=20).id
    )
    newer = customer("")
    Identity.objects.create(customer=newer, channel="phone", address="+15035550100")
    sms = conversation_with(
        newer, "My new address is 2 River Road, Salem 97302.", "My kettle is leaking.", channel="sms"
    )
    services.extract_observations(conversation_id=sms.id)
    total_before = Observation.objects.count()

    User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.login(username="root", password="pw")
    response = client.post(
        "/admin/conversations/customer/",
        {"action": "merge_into_oldest", "_selected_action": [str(older.id), str(newer.id)]},
        follow=True,
    )
    assert response.status_code == 200 and b"Merged 1 customer(s) into Noa" in response.content

    newer.refresh_from_db()
    assert newer.merged_into == older
    assert set(Identity.objects.filter(customer=older).values_list("address", flat=True)) == {
        "noa@example.com",
        "+15035550100",
    }
    assert Conversation.objects.get(id=sms.id).customer == older
    assert Observation.objects.filter(customer=older).count() == total_before
    assert not Observation.objects.filter(customer=newer).exists()
    assert not CustomerProfile.objects.filter(customer=newer).exists()
    traits = profile_for(customer_id=older.id)["traits"]
    assert traits["address"] == "2 River Road, Salem 97302"
    assert "kettle" in recall(customer_id=older.id, query="leaking kettle", k=1)[0].text


def test_merge_needs_two_customers():
    User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.login(username="root", password="pw")
    only = customer("Solo")
    response = client.post(
        "/admin/conversations/customer/",
        {"action": "merge_into_oldest", "_selected_action": [str(only.id)]},
        follow=True,
    )
    assert b"Select at least two customers" in response.content

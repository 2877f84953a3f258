import json

import pytest
from django.test import Client

from conversations.models import Conversation, Identity
from orchestration.tokens import read_chat_token
from tests.builders import start_chat

pytestmark = pytest.mark.django_db


def test_session_returns_ids_token_and_socket_url(offline_use_case):
    body = start_chat(name="Noah Brown", email="Noah.Brown7922@example.com")
    assert set(body) == {"conversation_id", "customer_id", "token", "ws_url"}
    claims = read_chat_token(body["token"])
    assert str(claims.conversation_id) == body["conversation_id"]
    assert body["ws_url"].startswith("ws://") and body["ws_url"].endswith(f"/ws/chat/?token={body['token']}")
    conversation = Conversation.objects.get(id=body["conversation_id"])
    assert conversation.channel == "webchat" and conversation.handler == "ai"
    assert conversation.use_case == offline_use_case
    assert Identity.objects.filter(channel="email", address="noah.brown7922@example.com").exists()


def test_same_email_is_the_same_customer_across_sessions(offline_use_case):
    first = start_chat(email="ada@example.com")
    second = start_chat(email=" ADA@example.com ")
    assert first["customer_id"] == second["customer_id"]
    assert first["conversation_id"] != second["conversation_id"]


def test_named_use_case_is_used(offline_use_case):
    body = start_chat(use_case="store-help")
    assert Conversation.objects.get(id=body["conversation_id"]).use_case.slug == "store-help"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("not json", "invalid_json"),
        (json.dumps({"email": "not-an-email"}), "invalid_address"),
        (json.dumps({"phone": "12"}), "invalid_address"),
        (json.dumps({"use_case": "no-such-thing"}), "unknown_use_case"),
        (json.dumps({"name": 42}), "invalid_field"),
    ],
)
def test_bad_input_gets_a_clear_error_and_creates_nothing(offline_use_case, payload, code):
    response = Client().post("/api/chat/sessions", payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["detail"]
    assert Conversation.objects.count() == 0


def test_chat_page_is_served():
    response = Client().get("/chat/")
    assert response.status_code == 200
    assert b"/static/baton/chat.js" in response.content

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from conversations.api_tokens import create_api_token, hash_token
from conversations.models import ApiToken, Identity
from memory import services
from memory.models import Observation
from tests.memory.builders import conversation_with, customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def token() -> str:
    return create_api_token(name="crm").raw


def post(path: str, body, token: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return Client().post(path, data, content_type="application/json", **headers)


def test_create_api_token_prints_a_token_that_is_stored_only_as_a_hash():
    out = StringIO()
    call_command("create_api_token", "helpdesk", stdout=out)
    raw = out.getvalue().strip()
    stored = ApiToken.objects.get(name="helpdesk")
    assert raw.startswith("baton_") and len(raw) > 40
    assert raw not in (stored.token_hash, stored.prefix) and stored.token_hash == hash_token(raw)
    who = customer("Ana")
    assert post("/api/memory/recall", {"customer_id": str(who.id), "query": "x"}, raw).status_code == 200


@pytest.mark.parametrize("path", ["/api/memory/recall", "/api/memory/observations"])
@pytest.mark.parametrize("sent", [None, "", "wrong-token", "Basic abc"])
def test_missing_or_wrong_token_gets_401_and_stores_nothing(token, path, sent):
    who = customer("Ana")
    body = {"customer_id": str(who.id), "query": "x", "observations": [{"text": "Likes tea."}]}
    client = Client()
    headers = {}
    if sent == "Basic abc":
        headers["HTTP_AUTHORIZATION"] = sent
    elif sent is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {sent}"
    response = client.post(path, json.dumps(body), content_type="application/json", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Observation.objects.count() == 0


def test_a_deactivated_token_gets_401(token):
    ApiToken.objects.update(active=False)
    assert (
        post("/api/memory/recall", {"customer_id": str(customer().id), "query": "x"}, token).status_code
        == 401
    )


def test_recall_by_identity_returns_the_contract_shape(token):
    ana = customer("Ana")
    Identity.objects.create(customer=ana, channel="phone", address="+14155550123")
    talk = conversation_with(
        ana, "The toaster I bought burns everything.", "My new address is 5 Bay Road, Reno 89501."
    )
    services.extract_observations(conversation_id=talk.id)
    response = post(
        "/api/memory/recall",
        {"identity": {"channel": "phone", "address": "(415) 555-0123"}, "query": "toaster problem", "k": 1},
        token,
    )
    assert response.status_code == 200
    body = response.json()
    [first] = body["observations"]
    assert set(first) == {"id", "text", "kind", "score", "created_at", "source"}
    assert first["text"] == "The toaster I bought burns everything." and first["kind"] == "issue"
    assert first["source"] == {
        "conversation_id": str(talk.id),
        "message_external_ids": [f"{talk.id.hex[:8]}-1"],
    }
    assert body["profile"]["traits"]["address"] == "5 Bay Road, Reno 89501"


def test_recall_for_one_customer_never_returns_anothers(token):
    ana, bo = customer("Ana"), customer("Bo")
    services.extract_observations(conversation_id=conversation_with(ana, "My toaster burns everything.").id)
    response = post("/api/memory/recall", {"customer_id": str(bo.id), "query": "toaster"}, token)
    assert response.status_code == 200 and response.json()["observations"] == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        ({"query": "x"}, 400),
        ({"customer_id": "not-a-uuid", "query": "x"}, 400),
        ({"customer_id": "00000000-0000-0000-0000-000000000000", "query": "x"}, 404),
        ({"identity": {"channel": "email", "address": "nobody@example.com"}, "query": "x"}, 404),
        ({"identity": {"channel": "fax", "address": "1"}, "query": "x"}, 400),
        ({"identity": {"channel": "email", "address": "not an email"}, "query": "x"}, 400),
        ({"customer_id": "CUSTOMER", "query": ""}, 400),
        ({"customer_id": "CUSTOMER", "query": "x", "k": 0}, 400),
        ({"customer_id": "CUSTOMER", "query": "x", "k": "5"}, 400),
    ],
)
def test_bad_recall_requests_get_a_clear_error(token, body, status):
    if isinstance(body, dict) and body.get("customer_id") == "CUSTOMER":
        body = {**body, "customer_id": str(customer().id)}
    response = post("/api/memory/recall", body, token)
    assert response.status_code == status
    assert response.json()["detail"]


def test_observations_posted_are_recalled_and_reposting_adds_nothing(token):
    body = {
        "identity": {"channel": "email", "address": "Zoe@Example.com"},
        "observations": [
            {"text": "Zoe is a wholesale buyer for a cafe chain.", "kind": "fact", "confidence": 0.9},
            {
                "text": "Zoe wants invoices in PDF.",
                "kind": "preference",
                "source": {"message_external_ids": ["crm-1"]},
            },
        ],
    }
    first = post("/api/memory/observations", body, token)
    assert first.status_code == 201
    again = post("/api/memory/observations", body, token)
    assert [o["id"] for o in again.json()["observations"]] == [o["id"] for o in first.json()["observations"]]
    assert Observation.objects.count() == 2
    recalled = post(
        "/api/memory/recall",
        {"identity": {"channel": "email", "address": "zoe@example.com"}, "query": "invoice format"},
        token,
    ).json()
    assert recalled["observations"][0]["text"] == "Zoe wants invoices in PDF."
    assert recalled["observations"][0]["source"]["message_external_ids"] == ["crm-1"]


@pytest.mark.parametrize(
    "items",
    [[], [{"text": ""}], [{"text": "x", "kind": "gossip"}], [{"text": "x", "confidence": 2}], "nope"],
)
def test_bad_observations_are_refused_whole(token, items):
    response = post(
        "/api/memory/observations", {"customer_id": str(customer().id), "observations": items}, token
    )
    assert response.status_code == 400 and response.json()["detail"]
    assert Observation.objects.count() == 0


def test_recall_only_answers_post(token):
    response = Client().get("/api/memory/recall", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405

import pytest
from django.test import Client

from conversations.api_tokens import create_api_token
from conversations.models import ApiToken, UseCase
from infra.text import QUERY_MAX_CHARS
from knowledge.models import Document
from tests.knowledge.builders import import_knowledge, post_search, write_files

pytestmark = pytest.mark.django_db

ARTICLES = {
    "returns.md": "# Returns\n\n## Refund timing\n\nRefunds reach your card within 5 business days.\n\n"
    "## Damaged items\n\nSend a photo of the damage and we ship a replacement the same day.",
    "shipping.md": "# Shipping\n\n## Rates\n\nShipping is free on orders over $50.\n\n"
    "## Express\n\nExpress delivery arrives the next business day and costs $15.",
    "gift-cards.md": "# Gift cards\n\nGift cards never expire and can be used online or in the store.",
}


@pytest.fixture
def token() -> str:
    return create_api_token(name="help-widget").raw


@pytest.fixture
def articles(tmp_path):
    import_knowledge(write_files(tmp_path, ARTICLES))


@pytest.mark.parametrize("sent", [None, "", "wrong-token", "Basic abc"])
def test_a_missing_or_wrong_token_gets_401(articles, sent):
    headers = {}
    if sent == "Basic abc":
        headers["HTTP_AUTHORIZATION"] = sent
    elif sent is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {sent}"
    response = Client().post(
        "/api/knowledge/search", {"query": "refund"}, content_type="application/json", **headers
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "passages" not in response.json()


def test_a_deactivated_token_gets_401(articles, token):
    assert post_search({"query": "refund"}, token).status_code == 200
    ApiToken.objects.update(active=False)
    response = post_search({"query": "refund"}, token)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("{not json", "JSON object"),
        ("", "JSON object"),
        ('["refund"]', "JSON object"),
        ({}, "query must be a non-empty string"),
        ({"query": ""}, "query must be a non-empty string"),
        ({"query": "  \x00 "}, "query must be a non-empty string"),
        ({"query": 42}, "query must be a non-empty string"),
        ({"query": "x" * (QUERY_MAX_CHARS + 1)}, f"query is limited to {QUERY_MAX_CHARS:,} characters"),
        ({"query": "refund", "k": 0}, "k must be an integer from 1 to 50"),
        ({"query": "refund", "k": 51}, "k must be an integer from 1 to 50"),
        ({"query": "refund", "k": "5"}, "k must be an integer from 1 to 50"),
        ({"query": "refund", "k": 2.5}, "k must be an integer from 1 to 50"),
        ({"query": "refund", "k": True}, "k must be an integer from 1 to 50"),
        ({"query": "refund", "use_case": "no-such-use-case"}, "no use case 'no-such-use-case'"),
        ({"query": "refund", "use_case": ""}, "use_case must be a use case's slug"),
        ({"query": "refund", "use_case": 7}, "use_case must be a use case's slug"),
    ],
)
def test_bad_search_requests_get_a_400_that_says_what_to_send(articles, token, body, detail):
    response = post_search(body, token)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request" and detail in response.json()["detail"]


def test_an_unknown_use_case_says_to_give_a_slug_or_leave_it_out(offline_use_case, token):
    detail = post_search({"query": "refund", "use_case": "shop"}, token).json()["detail"]
    assert "give the slug of a use case" in detail and "leave use_case out" in detail


def test_search_returns_the_documented_shape_best_first(articles, token):
    response = post_search({"query": "How long does a refund take to reach my card?"}, token)
    assert response.status_code == 200
    passages = response.json()["passages"]
    assert len(passages) == 5
    for passage in passages:
        assert {"id", "text", "score", "document"} <= set(passage)
        assert set(passage["document"]) == {"id", "external_id", "title", "url"}
        assert isinstance(passage["score"], float) and isinstance(passage["id"], int)
    scores = [p["score"] for p in passages]
    assert scores == sorted(scores, reverse=True)
    best = passages[0]
    returns = Document.objects.get(external_id="returns.md")
    assert best["text"] == "Refunds reach your card within 5 business days."
    assert best["document"] == {"id": returns.id, "external_id": "returns.md", "title": "Returns", "url": ""}


@pytest.mark.parametrize("k", [1, 2, 50])
def test_k_caps_the_number_of_passages(articles, token, k):
    passages = post_search({"query": "delivery", "k": k}, token).json()["passages"]
    assert len(passages) == min(k, 5)  # the articles have 5 passages in all


def test_use_case_restricts_search_to_its_documents(tmp_path, offline_use_case, token):
    import_knowledge(
        write_files(tmp_path / "store", {"returns.md": ARTICLES["returns.md"]}), "--use-case", "store-help"
    )
    import_knowledge(write_files(tmp_path / "other", {"gift-cards.md": ARTICLES["gift-cards.md"]}))
    UseCase.objects.create(slug="everything", name="Everything", llm_provider=offline_use_case.llm_provider)
    scoped = post_search({"query": "gift cards expire", "use_case": "store-help"}, token).json()["passages"]
    assert scoped and {p["document"]["external_id"] for p in scoped} == {"returns.md"}
    unscoped = post_search({"query": "gift cards expire", "use_case": "everything"}, token).json()["passages"]
    assert unscoped[0]["document"]["external_id"] == "gift-cards.md"
    anywhere = post_search({"query": "gift cards expire"}, token).json()["passages"]
    assert anywhere[0]["document"]["external_id"] == "gift-cards.md"


def test_a_query_that_matches_nothing_still_gets_a_well_formed_answer(articles, token):
    response = post_search({"query": "zxqv plorth wumbo"}, token)
    assert response.status_code == 200
    passages = response.json()["passages"]
    assert isinstance(passages, list) and len(passages) <= 5
    assert all(set(p["document"]) == {"id", "external_id", "title", "url"} for p in passages)


def test_search_with_no_articles_returns_an_empty_list(token):
    response = post_search({"query": "refund"}, token)
    assert response.status_code == 200 and response.json() == {"passages": []}


def test_search_only_answers_post(token):
    response = Client().get("/api/knowledge/search", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405

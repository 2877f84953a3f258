import math

import pytest

from infra import embeddings
from memory import services
from memory.selectors import recall
from tests.memory.builders import conversation_with, customer


def test_local_model_gives_normalised_384_d_vectors_that_capture_meaning():
    coffee, espresso, tax = embeddings.embed(["coffee maker", "espresso machine", "income tax return"])
    assert len(coffee) == 384 and math.isclose(sum(x * x for x in coffee), 1.0, rel_tol=1e-4)

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(coffee, espresso) > cosine(coffee, tax) + 0.2
    assert embeddings.embed([]) == []
    # A text gets the same vector stored (in a batch) and queried (alone).
    assert embeddings.embed_query("coffee maker") == pytest.approx(coffee, abs=1e-5)


@pytest.fixture
def remote_embeddings(settings, fake_openai, monkeypatch):
    monkeypatch.setenv("FAKE_EMBEDDINGS_KEY", "sk-emb-1")
    settings.BATON_EMBEDDINGS = {
        "backend": "openai",
        "base_url": fake_openai.base_url,
        "model": "text-embedding-3-small",
        "api_key_env": "FAKE_EMBEDDINGS_KEY",
        "dimensions": 384,
    }
    embeddings._cached_remote_query.cache_clear()
    yield fake_openai
    embeddings._cached_remote_query.cache_clear()


@pytest.mark.django_db
def test_an_openai_compatible_endpoint_embeds_in_one_batch_and_recall_uses_it(remote_embeddings):
    who = customer("Ana")
    talk = conversation_with(who, "The red kettle is leaking water.", "I want to cancel order #W1231231.")
    services.extract_observations(conversation_id=talk.id)
    [stored] = remote_embeddings.embedding_requests
    assert stored["model"] == "text-embedding-3-small" and stored["dimensions"] == 384
    assert len(stored["input"]) == 3  # two sentences and the order, one request
    assert remote_embeddings.headers[-1]["Authorization"] == "Bearer sk-emb-1"
    assert (
        recall(customer_id=who.id, query="kettle leaking", k=1)[0].text == "The red kettle is leaking water."
    )


def test_a_missing_embeddings_key_says_how_to_set_it(remote_embeddings, monkeypatch):
    monkeypatch.delenv("FAKE_EMBEDDINGS_KEY")
    with pytest.raises(embeddings.EmbeddingError, match="export FAKE_EMBEDDINGS_KEY"):
        embeddings.embed(["x"])


def test_a_failing_endpoint_raises_a_clear_error(settings):
    settings.BATON_EMBEDDINGS = {
        **settings.BATON_EMBEDDINGS,
        "backend": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": "",
    }
    with pytest.raises(embeddings.EmbeddingError, match="embeddings endpoint failed"):
        embeddings.embed(["x"])

import pytest

from conversations.models import LLMProvider, UseCase
from tests.fakes.openai_server import FakeOpenAI
from tests.live_server import running_daphne


@pytest.fixture(scope="session", autouse=True)
def _embedding_model_loaded():
    """Load the embedding model once, as a server does before serving: loading it mid-test holds the
    interpreter for seconds, and the event loop's Redis reads time out meanwhile."""
    from infra.embeddings import warm_up

    warm_up()


@pytest.fixture(autouse=True)
def _flush_test_redis():
    """Each test starts with an empty channel layer database (Redis db 9, tests only)."""
    import redis
    from channels.layers import channel_layers
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    # A fresh layer per test: the shared one keeps per-channel receive locks, and one left held by a
    # test whose event loop closed mid-receive fails the next test's receive ("bound to a different
    # event loop").
    channel_layers.backends.clear()
    yield
    client.close()


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def store_articles(db) -> None:
    """The demo store's help articles (support hours, shipping, returns, ...), imported as the seed does."""
    from deskapp.seed import DEMO_ARTICLES
    from knowledge.services import import_knowledge

    import_knowledge(DEMO_ARTICLES)


@pytest.fixture
def offline_use_case(db, store_articles) -> UseCase:
    provider = LLMProvider.objects.create(name="offline-test", kind=LLMProvider.Kind.OFFLINE)
    return UseCase.objects.create(
        slug="store-help",
        name="Store help",
        is_default=True,
        instructions="Answer questions about the store from its articles.",
        llm_provider=provider,
    )


@pytest.fixture
def openai_use_case(db, fake_openai, monkeypatch) -> UseCase:
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test-123")
    provider = fake_openai.llm_provider(api_key_env="FAKE_OPENAI_KEY", timeout_seconds=2)
    return UseCase.objects.create(
        slug="store-llm", name="Store (LLM)", is_default=True, llm_provider=provider
    )


@pytest.fixture
def live_daphne(transactional_db):
    """A real Daphne serving the routed application on a free port, against the test database."""
    with running_daphne() as address:
        yield address

import pytest


@pytest.fixture
def demo_store(live_server, settings):
    """The seeded demo (use cases wired to the store's actions) with the store's API served over HTTP.

    By pytest-django's live server, in this process on the test database: the actions make real HTTP
    requests as in production, without the seconds a server process takes to start for every test.

    The embedding model is loaded first, as a server does at start: importing it mid-conversation
    holds the interpreter for seconds.
    """
    from deskapp.seed import seed_demo
    from infra.embeddings import warm_up

    warm_up()
    seed_demo()
    settings.DEMOSTORE_BASE_URL = f"{live_server.url}/demostore/api"
    return live_server.url.removeprefix("http://")


@pytest.fixture
def llm_store(demo_store, fake_openai, monkeypatch):
    """The seeded use cases answered by the OpenAI provider at the loopback fake."""
    from conversations.models import UseCase

    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test")
    provider = fake_openai.llm_provider(api_key_env="FAKE_OPENAI_KEY")
    UseCase.objects.exclude(slug="").update(llm_provider=provider)
    return fake_openai

import pytest


@pytest.fixture
def demo_store(live_daphne, settings):
    """The seeded demo (use cases wired to the store's actions) with the store served over HTTP by Daphne.

    The embedding model is loaded first, as a server does at start: importing it mid-conversation
    holds the interpreter for seconds.
    """
    from deskapp.seed import seed_demo
    from infra.embeddings import warm_up

    warm_up()
    seed_demo()
    settings.DEMOSTORE_BASE_URL = f"http://{live_daphne}/demostore/api"
    return live_daphne

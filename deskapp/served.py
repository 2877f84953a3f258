"""The ASGI application as `run`'s web processes serve it: the embedding model and the LLM client are
loaded first.

Loading them mid-conversation holds the interpreter for seconds and starves open websockets.
"""

from django.conf import settings

from conversations import llm
from deskapp.asgi import application
from infra import embeddings

embeddings.warm_up()
llm.warm_up()
if not settings.REDIS_URL:
    # One web process and no worker (redis-server missing): the periodic tasks run here, beside the
    # in-memory channel layer whose sockets their events are for.
    from insights.scheduler import start_periodic_thread

    start_periodic_thread()

__all__ = ["application"]

import sys

from django.apps import AppConfig

# Processes that serve customers (or extract for them) load the embedding model at start.
_SERVING = ("daphne", "run", "worker", "runserver", "uvicorn")


class MemoryConfig(AppConfig):
    name = "memory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        argv = " ".join(sys.argv)
        if "pytest" in argv or not any(word in sys.argv[1:] or word in sys.argv[0] for word in _SERVING):
            return
        from .embeddings import warm_up

        # Before serving: loading the model holds the interpreter for seconds, which would stall
        # every open websocket if it happened on the first customer message.
        warm_up()

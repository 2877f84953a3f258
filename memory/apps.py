import sys

from django.apps import AppConfig

# Processes that serve customers (or extract for them) load the embedding model at start. Not `run`:
# it only supervises the web processes (deskapp/served.py loads it in each) and the worker, and its
# demo seed loads the model on first use (~700 MB kept in a process that serves nobody).
_SERVING = ("daphne", "worker", "runserver", "uvicorn")


class MemoryConfig(AppConfig):
    name = "memory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from conversations.signals import conversation_closed, customers_merged
        from infra.embeddings import vector_session_settings

        from . import receivers

        connection_created.connect(vector_session_settings, dispatch_uid="vector-session-settings")
        conversation_closed.connect(
            receivers.extract_closed_conversation, dispatch_uid="memory-extract-closed"
        )
        customers_merged.connect(receivers.merge_memory_of_merged_customers, dispatch_uid="memory-merge")
        argv = " ".join(sys.argv)
        if "pytest" in argv or not any(word in sys.argv[1:] or word in sys.argv[0] for word in _SERVING):
            return
        from infra.embeddings import warm_up

        # Before serving: loading the model holds the interpreter for seconds, which would stall
        # every open websocket if it happened on the first customer message.
        warm_up()

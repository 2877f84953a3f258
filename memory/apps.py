import sys

from django.apps import AppConfig

# Processes that serve customers (or extract for them) load the embedding model at start.
_SERVING = ("daphne", "run", "worker", "runserver", "uvicorn")


class MemoryConfig(AppConfig):
    name = "memory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from conversations.signals import conversation_closed, customers_merged

        from . import receivers

        connection_created.connect(_recall_session_settings, dispatch_uid="memory-recall-session")
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


def _recall_session_settings(sender, connection, **kwargs) -> None:
    """Recall filters HNSW results by customer: pgvector (0.8+) keeps scanning until enough rows pass.

    Set once per connection (a SET, not a startup option, which poolers such as PgBouncer refuse),
    so each recall is one statement with no transaction around it.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET hnsw.iterative_scan = relaxed_order")

from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from infra.embeddings import vector_session_settings

        # The same per-connection setting recall uses: a use case's passages are a filter on HNSW.
        connection_created.connect(vector_session_settings, dispatch_uid="vector-session-settings")

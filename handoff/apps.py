from django.apps import AppConfig


class HandoffConfig(AppConfig):
    name = "handoff"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversations.signals import delivery_failed

        delivery_failed.connect(_on_delivery_failed, dispatch_uid="handoff-delivery-failed")


def _on_delivery_failed(sender, *, message_id, channel: str, error: str, **kwargs) -> None:
    from .services import record_failed_delivery

    record_failed_delivery(message_id=message_id, channel=channel, error=error)

from django.apps import AppConfig


class OrchestrationConfig(AppConfig):
    name = "orchestration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversations.signals import reply_needs_delivery

        from .channels.sms import text_reply_if_sms

        reply_needs_delivery.connect(text_reply_if_sms, dispatch_uid="orchestration-sms-delivery")

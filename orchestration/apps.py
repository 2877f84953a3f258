from django.apps import AppConfig


class OrchestrationConfig(AppConfig):
    name = "orchestration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversations.delivery import register_transport
        from conversations.models import Conversation

        from .channels.sms import deliver_by_sms
        from .channels.webchat import deliver_by_web_chat

        register_transport(Conversation.Channel.WEBCHAT, deliver_by_web_chat)
        register_transport(Conversation.Channel.SMS, deliver_by_sms)

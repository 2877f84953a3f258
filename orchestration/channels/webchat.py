"""Web chat's transport for the outbox: the message frame goes to the customer's socket group."""

from conversations import delivery
from conversations.models import Delivery
from conversations.selectors import message_payload
from infra import event_types
from infra.events import send_event
from infra.groups import conversation_group


def deliver_by_web_chat(pending: Delivery) -> None:
    """Publish the message to the conversation's group, where the customer's sockets listen.

    It counts as sent only when a socket sent it on (`ChatConsumer` calls `delivery.mark_received`);
    a customer reconnecting gets what is still pending when their socket opens, and the outbox's
    retries publish it again meanwhile. The frame carries the message id: a client shows it once.
    """
    delivery_id = pending.pk

    def record_refusal() -> None:
        delivery.note_transient_error(delivery_id=delivery_id, error="the channel layer (Redis) refused it")

    send_event(
        [conversation_group(pending.message.conversation_id)],
        event_types.MESSAGE_CREATED,
        message_payload(pending.message),
        on_failed=record_refusal,
    )

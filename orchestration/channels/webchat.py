"""Web chat's transport for the outbox: the message frame goes to the customer's socket group."""

from conversations import delivery
from conversations.models import Delivery
from conversations.selectors import message_payload
from infra import event_types
from infra.events import send_event
from infra.groups import conversation_group


def deliver_by_web_chat(pending: Delivery) -> None:
    """Publish the message to the conversation's group; it counts as sent once Redis took it.

    The customer's socket (every tab of it) is in that group; a customer who is away reads the
    history when they come back. A retry after a lost acknowledgement may publish twice: the
    frame carries the message id, and the chat page shows a message id once.
    """
    delivery_id = pending.pk

    def record(sent: bool) -> None:
        if sent:
            delivery.mark_sent(delivery_id=delivery_id)
        else:
            delivery.note_transient_error(
                delivery_id=delivery_id, error="the channel layer (Redis) refused it"
            )

    send_event(
        [conversation_group(pending.message.conversation_id)],
        event_types.MESSAGE_CREATED,
        message_payload(pending.message),
        on_result=record,
    )

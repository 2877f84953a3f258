"""Channel adapters (SMS and voice through Twilio) and the one way to deliver a reply on the customer's channel."""

from django.db import transaction


def deliver_reply(*, message) -> None:
    """Send a stored agent or system reply on the customer's own channel, once the transaction commits.

    Web chat needs nothing: `record_reply` publishes to the conversation's group. SMS goes out through
    Twilio's REST API in the background. Voice needs nothing either: a handed-off call is already
    with a person through TwiML.
    """
    from ..models import Conversation

    channel = message.conversation.channel
    if channel == Conversation.Channel.SMS:
        from ..tasks import send_sms_reply

        message_id = str(message.id)
        transaction.on_commit(lambda: send_sms_reply.delay(message_id))

"""The one way to deliver a stored agent or system reply on the customer's own channel."""

from django.db import transaction

from .models import Message
from .signals import reply_needs_delivery


def deliver_reply(*, message: Message) -> None:
    """Hand a stored agent or system reply to its channel's transport once the transaction commits.

    Web chat needs nothing: `record_reply` publishes to the conversation's group. Voice needs nothing
    either: a handed-off call is already with a person through TwiML. SMS goes out through Twilio.
    """
    transaction.on_commit(lambda: reply_needs_delivery.send(sender=Message, message=message))

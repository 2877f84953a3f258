"""Small builders for memory tests: a customer who said things in a conversation."""

from datetime import timedelta

from django.utils import timezone

from conversations.models import Conversation, Customer, Message


def customer(name: str = "", **fields) -> Customer:
    return Customer.objects.create(display_name=name, **fields)


def conversation_with(
    who: Customer, *texts: str, channel: str = "webchat", days_ago: float = 0, role: str = "customer"
) -> Conversation:
    """A conversation in which the customer (or `role`) sent `texts`, `days_ago` days ago."""
    conversation = Conversation.objects.create(customer=who, channel=channel)
    start = timezone.now() - timedelta(days=days_ago)
    for n, text in enumerate(texts, 1):
        Message.objects.create(
            conversation=conversation,
            role=role,
            text=text,
            external_id=f"{conversation.id.hex[:8]}-{n}",
            created_at=start + timedelta(seconds=n),
        )
    return conversation


def say_more(conversation: Conversation, text: str, external_id: str, days_ago: float = 0) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role="customer",
        text=text,
        external_id=external_id,
        created_at=timezone.now() - timedelta(days=days_ago),
    )

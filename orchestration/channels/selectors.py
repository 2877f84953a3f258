"""Reads for the Twilio channels: a call's conversation, where an SMS reply goes, whether a text awaits an answer."""

import uuid

from django.conf import settings

from conversations.models import Conversation, Identity, Message, TwilioMessage


def call_conversation(*, call_sid: str) -> Conversation | None:
    """The voice conversation of a Twilio CallSid."""
    return Conversation.objects.filter(channel=Conversation.Channel.VOICE, external_id=call_sid).first()


def sms_addresses(*, conversation: Conversation) -> tuple[str, str]:
    """(customer's number, our number) for a reply: answer from the number the customer last texted.

    Raises ValueError when there is no number to text.
    """
    last_inbound = (
        TwilioMessage.objects.filter(conversation=conversation, direction=TwilioMessage.Direction.INBOUND)
        .order_by("-created_at")
        .first()
    )
    ours = (last_inbound.to_number if last_inbound else "") or settings.TWILIO_SMS_FROM
    if last_inbound:
        theirs = last_inbound.from_number
    else:
        phone = (
            Identity.objects.filter(customer_id=conversation.customer_id, channel=Identity.Channel.PHONE)
            .order_by("created_at")
            .first()
        )
        theirs = phone.address if phone else ""
    if not theirs or not ours:
        raise ValueError("no number to text: the customer has no phone, or TWILIO_SMS_FROM is unset")
    return theirs, ours


def awaits_answer(*, conversation_id: uuid.UUID) -> bool:
    """True when no AI or agent reply follows the customer's latest message."""
    latest = (
        Message.objects.filter(conversation_id=conversation_id, role=Message.Role.CUSTOMER)
        .order_by("-created_at")
        .first()
    )
    if latest is None:
        return False
    return not Message.objects.filter(
        conversation_id=conversation_id,
        role__in=[Message.Role.AI, Message.Role.AGENT],
        created_at__gt=latest.created_at,
    ).exists()

"""Reads for the Twilio channels: a call's handoff (what the desk shows for it), where an SMS reply goes."""

import uuid
from typing import TYPE_CHECKING

from django.conf import settings

from ..models import Conversation, Identity, Message, TwilioMessage

if TYPE_CHECKING:
    from handoff.models import Handoff


def live_handoff(*, conversation_id: uuid.UUID) -> "Handoff | None":
    """The conversation's queued or accepted handoff, if any."""
    from handoff.models import Handoff

    return (
        Handoff.objects.filter(conversation_id=conversation_id).exclude(status=Handoff.Status.CLOSED).first()
    )


def call_conversation(*, call_sid: str) -> Conversation | None:
    """The voice conversation of a Twilio CallSid."""
    return Conversation.objects.filter(channel=Conversation.Channel.VOICE, external_id=call_sid).first()


def handoff_for_call(*, call_sid: str) -> "Handoff | None":
    """The live handoff of the call `call_sid` (what the desk shows for that call), or None."""
    conversation = call_conversation(call_sid=call_sid)
    return live_handoff(conversation_id=conversation.id) if conversation else None


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

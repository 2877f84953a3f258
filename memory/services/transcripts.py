"""Importing transcripts (`import_transcripts`): one conversation per line, stored once."""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from conversations.identity import normalize_address
from conversations.models import Conversation, Customer, Identity, Message
from conversations.services import resolve_customer
from infra.text import NAME_MAX_CHARS, TRANSCRIPT_MESSAGE_MAX_CHARS, checked_text, clean_text, is_clean


@dataclass(frozen=True)
class ImportedTranscript:
    conversation: Conversation
    messages_added: int
    speakers: dict[str, str]  # message external id -> speaker name, for extraction


_IMPORT_ROLES = {"customer", "ai", "agent"}


def _parse_time(value: object, field_name: str):
    from django.utils.dateparse import parse_datetime

    if value in (None, ""):
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(f"{field_name} must be an ISO 8601 datetime, got {value!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.utc)


def import_transcript(*, record: dict, line: str) -> ImportedTranscript:
    """Store one transcript line (customer, conversation, messages) once; ValueError on a malformed line.

    Idempotent: the conversation's external id derives from the line, messages are unique per external id.
    """
    if not isinstance(record, dict):
        raise ValueError("each line must be a JSON object")
    person = record.get("customer")
    if (
        not isinstance(person, dict)
        or not isinstance(person.get("external_id"), str)
        or not person["external_id"]
        or not is_clean(person["external_id"])
    ):
        raise ValueError(
            '"customer" must be an object with a non-empty string "external_id" without control characters'
        )
    name = person.get("name") or ""
    if not isinstance(name, str):
        raise ValueError("customer.name must be a string")
    name = checked_text(name, limit=NAME_MAX_CHARS, what="customer.name")
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError('"messages" must be a non-empty list')
    texts = []
    for n, m in enumerate(messages, 1):
        if not isinstance(m, dict) or m.get("role") not in _IMPORT_ROLES:
            raise ValueError(f"message {n}: role must be one of customer, ai, agent")
        if not isinstance(m.get("text"), str):
            raise ValueError(f"message {n}: text must be a non-empty string")
        texts.append(checked_text(m["text"], limit=TRANSCRIPT_MESSAGE_MAX_CHARS, what=f"message {n}: text"))
        if not texts[-1]:
            raise ValueError(
                f"message {n}: text must be a non-empty string (control characters do not count)"
            )
        if not is_clean(str(m.get("external_id") or "")):
            raise ValueError(f"message {n}: external_id must not contain control characters")
    channel = record.get("channel") or Conversation.Channel.IMPORT
    if channel not in Conversation.Channel.values:
        raise ValueError(f"channel must be one of {', '.join(Conversation.Channel.values)}")
    started = _parse_time(record.get("started_at"), "started_at") or timezone.now()
    identities = []
    for key in ("email", "phone"):
        if person.get(key):
            if not is_clean(str(person[key])):
                raise ValueError(f"customer.{key} must not contain control characters")
            identities.append((key, normalize_address(key, str(person[key]))))
    external_id = person["external_id"][:200]
    conversation_key = "import:" + hashlib.sha256(line.strip().encode()).hexdigest()[:32]

    with transaction.atomic():
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None and identities:
            customer = resolve_customer(identities=identities, display_name=name)
            if not customer.external_id:
                customer.external_id = external_id
                customer.save(update_fields=["external_id", "updated_at"])
        if customer is None:
            customer = Customer.objects.create(external_id=external_id, display_name=name)
        for channel, address in identities:
            # Link identities that are still free; one owned by someone else stays theirs (merge in admin).
            Identity.objects.get_or_create(channel=channel, address=address, defaults={"customer": customer})
        conversation = Conversation.objects.filter(customer=customer, external_id=conversation_key).first()
        if conversation is None:
            roles = {m["role"] for m in messages}
            conversation = Conversation.objects.create(
                customer=customer,
                channel=channel,
                external_id=conversation_key,
                status=Conversation.Status.CLOSED,
                handler=Conversation.Handler.HUMAN if "agent" in roles else Conversation.Handler.AI,
                handler_reason="imported transcript",
            )
        speakers: dict[str, str] = {}
        existing = set(
            Message.objects.filter(conversation=conversation).values_list("external_id", flat=True)
        )
        new_messages = []
        at = started
        for n, (m, text) in enumerate(zip(messages, texts, strict=True), 1):
            message_id = str(m.get("external_id") or n)[:200]
            at = _parse_time(m.get("at"), f"message {n} at") or started + timedelta(seconds=n)
            if m.get("speaker"):
                speakers[message_id] = clean_text(str(m["speaker"]))[:100]
            if message_id in existing:
                continue
            existing.add(message_id)
            new_messages.append(
                Message(
                    conversation=conversation,
                    role=m["role"],
                    text=text,
                    external_id=message_id,
                    created_at=at,
                )
            )
        Message.objects.bulk_create(new_messages)
        # auto_now_add ignores given values: set the transcript's own times afterwards.
        Conversation.objects.filter(id=conversation.id).update(
            created_at=started, last_message_at=at, closed_at=at
        )
    return ImportedTranscript(conversation=conversation, messages_added=len(new_messages), speakers=speakers)

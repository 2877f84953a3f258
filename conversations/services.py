"""Writes for conversations: customers and identities, conversations, messages."""

import functools
import logging
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from infra import event_types, metrics
from infra.events import send_event_on_commit
from infra.groups import conversation_staff_group, supervisors_group

from . import delivery, rollout, selectors, signals
from .identity import normalize_address
from .models import ROLLOUT_CHANNELS, Conversation, Customer, Identity, Message, UseCase

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    """One customer message as a channel adapter hands it over."""

    channel: str  # Conversation.Channel
    identity_channel: str  # Identity.Channel
    address: str
    text: str
    external_id: str = ""
    conversation_id: uuid.UUID | None = None
    display_name: str = ""


@dataclass(frozen=True)
class Received:
    message: Message
    conversation: Conversation
    created: bool  # False when the external id was seen before (a retry)

    @property
    def ai_should_reply(self) -> bool:
        c = self.conversation
        return self.created and c.handler == Conversation.Handler.AI and c.status == Conversation.Status.OPEN


def resolve_customer(*, identities: list[tuple[str, str]], display_name: str = "") -> Customer:
    """The customer owning any of `identities` (channel, address), creating it and the missing identities.

    Addresses are normalised, so the same email or phone on any channel is the same customer.
    """
    normalized = [(channel, normalize_address(channel, address)) for channel, address in identities]
    # No savepoint of its own: inside a caller's transaction a failure here fails the caller anyway.
    with transaction.atomic(savepoint=False):
        customer = None
        known = set()
        for channel, address in normalized:
            found = (
                Identity.objects.select_related("customer").filter(channel=channel, address=address).first()
            )
            if found:
                known.add((channel, address))
                customer = customer or found.customer
        if customer is None:
            customer = Customer.objects.create(display_name=display_name)
        elif display_name and not customer.display_name:
            customer.display_name = display_name
            customer.save(update_fields=["display_name", "updated_at"])
        for channel, address in normalized:
            if (channel, address) in known:
                continue  # every message of a known customer passes here: no writes, no savepoints
            try:
                with transaction.atomic():
                    Identity.objects.get_or_create(
                        channel=channel, address=address, defaults={"customer": customer}
                    )
            except IntegrityError:
                pass  # claimed concurrently by the same request's retry; the first owner keeps it
    return customer


def open_conversation(*, customer: Customer, channel: str, use_case: UseCase | None = None) -> Conversation:
    """A new conversation for `customer` on `channel`; the use case's rollout decides who handles it.

    A conversation assigned to a person joins the human queue with its first customer message
    (`pipeline.accept_customer_message`), so agents never see empty conversations.
    """
    use_case = use_case or selectors.default_use_case()
    assignment = _rollout_assignment(customer=customer, channel=channel, use_case=use_case)
    conversation = Conversation.objects.create(
        customer=customer,
        channel=channel,
        use_case=use_case,
        handler=assignment.handler,
        assigned_handler=assignment.handler,
        handler_reason=assignment.reason,
        shadow=assignment.shadow,
    )
    logger.info(
        "conversation %s opened on %s: handler %s (%s)",
        conversation.id,
        channel,
        assignment.handler,
        assignment.reason,
    )
    _publish_conversation_changed(conversation)
    return conversation


def _rollout_assignment(*, customer: Customer, channel: str, use_case: UseCase | None) -> rollout.Assignment:
    if use_case is None or channel not in ROLLOUT_CHANNELS:
        return rollout.Assignment(rollout.AI, "default: no rollout applies")
    # Read fresh on every conversation so a slice changed in admin applies at once, without a restart.
    return rollout.assign_handler(
        mode=use_case.mode,
        live_percentages=use_case.live_percentages,
        channel=channel,
        use_case_slug=use_case.slug,
        customer_key=str(customer.id),
    )


def start_chat_session(
    *, visitor_id: str, name: str = "", email: str = "", phone: str = "", use_case_slug: str = ""
) -> Conversation:
    """Open a web chat conversation for a visitor, recognising them by email or phone when given."""
    use_case = None
    if use_case_slug:
        use_case = selectors.use_case_by_slug(use_case_slug)
        if use_case is None:
            raise ValueError(f"unknown use case {use_case_slug!r}")
    identities = []
    if email:
        identities.append((Identity.Channel.EMAIL, email))
    if phone:
        identities.append((Identity.Channel.PHONE, phone))
    identities.append((Identity.Channel.WEBCHAT, visitor_id))
    with transaction.atomic():
        customer = resolve_customer(identities=identities, display_name=name)
        return open_conversation(customer=customer, channel=Conversation.Channel.WEBCHAT, use_case=use_case)


def _find_or_open_conversation(inbound: Inbound, customer: Customer) -> Conversation:
    if inbound.conversation_id:
        conversation = selectors.conversation_for_customer(
            conversation_id=inbound.conversation_id, customer_id=customer.id
        )
        if conversation is None:
            raise PermissionError("that conversation belongs to another customer")
        return conversation
    conversation = selectors.latest_open_conversation(
        Conversation.objects.select_related("use_case__llm_provider").filter(customer=customer),
        channel=inbound.channel,
    )
    return conversation or open_conversation(customer=customer, channel=inbound.channel)


def _conversation_for(inbound: Inbound) -> Conversation:
    # The usual message, from a known identity to its conversation, takes one read; anything else
    # (a new customer or conversation, a name to record, another customer's conversation) the full path.
    address = normalize_address(inbound.identity_channel, inbound.address)
    conversation = selectors.conversation_for_identity(
        channel=inbound.channel,
        identity_channel=inbound.identity_channel,
        address=address,
        conversation_id=inbound.conversation_id,
    )
    if conversation is not None and not (inbound.display_name and not conversation.customer.display_name):
        return conversation
    customer = resolve_customer(
        identities=[(inbound.identity_channel, inbound.address)], display_name=inbound.display_name
    )
    return _find_or_open_conversation(inbound, customer)


@functools.cache
def _store_message_sql(*, idempotent: bool) -> str:
    q = connection.ops.quote_name
    fields = Message._meta.concrete_fields
    conversation = Conversation._meta
    on_conflict = ""
    if idempotent:
        # Infers the partial unique index `message_unique_external_id`: an empty external id never conflicts.
        on_conflict = (
            f"ON CONFLICT ({q(Message._meta.get_field('conversation').column)}, {q('external_id')}) "
            f"WHERE {q('external_id')} <> '' DO NOTHING"
        )
    return (
        f"WITH stored AS (INSERT INTO {q(Message._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) {on_conflict} RETURNING 1), "
        f"touched AS (UPDATE {q(conversation.db_table)} SET {q('last_message_at')} = %s, {q('updated_at')} = %s "
        f"WHERE {q(conversation.pk.column)} = %s AND EXISTS (SELECT 1 FROM stored)) "
        "SELECT count(*) FROM stored"
    )


def _store_message(message: Message, *, idempotent: bool) -> bool:
    """Insert `message` and move its conversation's last_message_at to it, in one statement.

    With `idempotent`, a message whose (conversation, external id) is stored already is left as it is
    and False returned; the conversation is then not touched. Precondition: a transaction is open.
    """
    # pre_save as Model.save does (auto_now fields, were the model to grow one).
    values = [
        f.get_db_prep_save(f.pre_save(message, True), connection) for f in Message._meta.concrete_fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            _store_message_sql(idempotent=idempotent),
            [*values, message.created_at, message.created_at, message.conversation_id],
        )
        (stored,) = cursor.fetchone()
    if stored:
        message._state.adding = False
        message._state.db = connection.alias
    return bool(stored)


def receive_message(inbound: Inbound) -> Received:
    """Store a customer message once (idempotent per external id) and publish it.

    Store first, then act: the caller runs operators and the AI turn only after this returns.
    """
    with transaction.atomic():
        conversation = _conversation_for(inbound)
        message = Message(
            conversation=conversation,
            role=Message.Role.CUSTOMER,
            text=inbound.text,
            external_id=inbound.external_id,
            created_at=timezone.now(),
        )
        # ON CONFLICT rather than a read first: a retry racing the original waits for it, then finds it.
        if not _store_message(message, idempotent=True):
            existing = Message.objects.get(conversation=conversation, external_id=inbound.external_id)
            return Received(message=existing, conversation=conversation, created=False)
        _publish_message(message, channel=conversation.channel)
    return Received(message=message, conversation=conversation, created=True)


def record_reply(
    *,
    conversation_id: uuid.UUID,
    role: str,
    text: str,
    message_id: uuid.UUID | None = None,
    sender=None,
    model: str = "",
    latency_ms: int | None = None,
    first_token_ms: int | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    interrupted: bool = False,
    citations: list[dict] | None = None,
    channel: str | None = None,
) -> Message:
    """Store a reply (AI, agent or system) as the customer receives it, publish it to staff, and queue its
    delivery to the customer on the conversation's channel (the outbox: sent after commit).

    `channel` is the conversation's, when the caller has it at hand (it is read otherwise).
    """
    now = timezone.now()
    with transaction.atomic():
        message = Message(
            id=message_id or uuid.uuid4(),
            conversation_id=conversation_id,
            role=role,
            text=text,
            external_id=str(message_id or ""),
            created_at=now,
            sender=sender,
            model=model,
            latency_ms=latency_ms,
            first_token_ms=first_token_ms,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            interrupted=interrupted,
            citations=citations or [],
        )
        # Not idempotent: a reply stored twice under one id is a bug, and fails as one.
        _store_message(message, idempotent=False)
        if channel is None:
            channel = (
                Conversation.objects.filter(id=conversation_id).values_list("channel", flat=True).first()
            )
        _publish_message(message, channel=channel or "")
        delivery.add_delivery(message=message, channel=channel or "")
    return message


def _publish_message(message: Message, *, channel: str) -> None:
    role = message.role
    transaction.on_commit(lambda: metrics.MESSAGES.labels(channel=channel, role=role).inc())
    # Staff only: the customer hears of a message through its delivery (`delivery.add_delivery`).
    send_event_on_commit(
        [conversation_staff_group(message.conversation_id), supervisors_group()],
        event_types.MESSAGE_CREATED,
        selectors.message_payload(message),
    )


def _publish_conversation_changed(conversation: Conversation) -> None:
    send_event_on_commit(
        [supervisors_group(), conversation_staff_group(conversation.id)],
        event_types.CONVERSATION_CHANGED,
        {
            "conversation_id": str(conversation.id),
            "status": conversation.status,
            "handler": conversation.handler,
            "channel": conversation.channel,
        },
    )


def set_conversation_state(
    *,
    conversation: Conversation,
    status: str,
    handler: str | None = None,
    escalation_reason: str | None = None,
) -> Conversation:
    """Move a conversation to `status` (and `handler`), publishing the change to staff."""
    fields = ["status", "updated_at"]
    conversation.status = status
    if handler is not None:
        conversation.handler = handler
        fields.append("handler")
    if escalation_reason is not None:
        conversation.escalation_reason = escalation_reason
        fields.append("escalation_reason")
    if status == Conversation.Status.CLOSED and not conversation.closed_at:
        conversation.closed_at = timezone.now()
        fields.append("closed_at")
    conversation.save(update_fields=fields)
    _publish_conversation_changed(conversation)
    if status == Conversation.Status.CLOSED:
        conversation_id = conversation.id
        transaction.on_commit(
            lambda: signals.conversation_closed.send(sender=Conversation, conversation_id=conversation_id)
        )
    return conversation


def close_conversation(*, conversation: Conversation, outcome: str) -> Conversation:
    """Close a conversation with `outcome` (Conversation.Outcome); its handle time ends now.

    Idempotent: a conversation already closed keeps its first outcome and closing time.
    """
    if outcome not in Conversation.Outcome.values:
        raise ValueError(f"unknown outcome {outcome!r}; use one of {', '.join(Conversation.Outcome.values)}")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(id=conversation.id)
        if conversation.status == Conversation.Status.CLOSED and conversation.outcome:
            return conversation
        conversation.outcome = outcome
        conversation.save(update_fields=["outcome", "updated_at"])
        set_conversation_state(conversation=conversation, status=Conversation.Status.CLOSED)
        labels = {"outcome": outcome, "handler": conversation.assigned_handler}
        transaction.on_commit(lambda: metrics.CONVERSATIONS_CLOSED.labels(**labels).inc())
    logger.info("conversation %s closed: %s", conversation.id, outcome)
    return conversation


def merge_customers(*, survivor: Customer, merged: list[Customer]) -> Customer:
    """Fold `merged` customers into `survivor`: identities, conversations, observations and profile move.

    The merged customers stay as empty records pointing to the survivor (`merged_into`).
    """
    with transaction.atomic():
        for other in merged:
            if other.pk == survivor.pk:
                continue
            Identity.objects.filter(customer=other).update(customer=survivor)
            Conversation.objects.filter(customer=other).update(customer=survivor)
            signals.customers_merged.send(sender=Customer, survivor_id=survivor.pk, merged_id=other.pk)
            other.merged_into = survivor
            if other.external_id and not survivor.external_id:
                survivor.external_id, other.external_id = other.external_id, None
                other.save(update_fields=["external_id"])
                survivor.save(update_fields=["external_id", "updated_at"])
            if other.display_name and not survivor.display_name:
                survivor.display_name = other.display_name
                survivor.save(update_fields=["display_name", "updated_at"])
            other.save(update_fields=["merged_into", "updated_at"])
    logger.info("merged customers %s into %s", [str(m.pk) for m in merged], survivor.pk)
    return survivor

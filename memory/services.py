"""Writes of the memory app: extracting and recording observations, reconciling profiles, API tokens."""

import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from conversations.models import Conversation, Customer, Identity, Message

from . import embeddings
from .extraction import (
    SINGLE_VALUED_TRAITS,
    Candidate,
    Utterance,
    extract_offline,
    extraction_messages,
    parse_llm_extraction,
)
from .models import ApiToken, ConversationExtraction, CustomerProfile, ExtractedMessage, Observation

logger = logging.getLogger(__name__)

# Cosine distance under which two statements of one customer count as the same (merged, not duplicated).
NEAR_DUPLICATE_DISTANCE = 0.04
PROFILE_LIST_LIMIT = 5


def fingerprint(text: str) -> str:
    normalized = " ".join(re.findall(r"[a-z0-9@+#]+", text.lower()))
    return hashlib.sha256(normalized.encode()).hexdigest()


def _lock(key: str) -> None:
    """Serialise writers of one customer's memory until the transaction ends (precondition: atomic)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"memory:{key}"])


def record_observations(
    *, customer_id: uuid.UUID, candidates: list[Candidate], conversation_id: uuid.UUID | None = None
) -> list[Observation]:
    """Embed `candidates` in one batch and store them, merging duplicates and superseding stale traits.

    Idempotent: the same statement is stored once per customer; its sources are merged.
    """
    if not candidates:
        return []
    vectors = embeddings.embed([c.text for c in candidates])  # one batch, before this function's lock
    stored: list[Observation] = []
    with transaction.atomic():
        _lock(str(customer_id))
        for candidate, vector in zip(candidates, vectors, strict=True):
            stored.append(_record_one(customer_id, candidate, vector, conversation_id))
        reconcile_profile(customer_id=customer_id)
    return stored


def _merge_sources(observation: Observation, candidate: Candidate) -> Observation:
    missing = [s for s in candidate.source_ids if s not in observation.message_external_ids]
    if missing or candidate.confidence > observation.confidence:
        observation.message_external_ids = [*observation.message_external_ids, *missing]
        observation.confidence = max(observation.confidence, candidate.confidence)
        observation.save(update_fields=["message_external_ids", "confidence", "updated_at"])
    return observation


def _record_one(
    customer_id: uuid.UUID, candidate: Candidate, vector: list[float], conversation_id: uuid.UUID | None
) -> Observation:
    from pgvector.django import CosineDistance

    active = Observation.objects.filter(customer_id=customer_id, superseded_by__isnull=True)
    same = Observation.objects.filter(
        customer_id=customer_id, fingerprint=fingerprint(candidate.text)
    ).first()
    if same:
        return _merge_sources(same, candidate)
    if candidate.trait:
        twin = active.filter(trait=candidate.trait, trait_value__iexact=candidate.trait_value).first()
        if twin:
            return _merge_sources(twin, candidate)
    else:
        near = (
            active.filter(trait="")
            .annotate(distance=CosineDistance("embedding", vector))
            .filter(distance__lt=NEAR_DUPLICATE_DISTANCE)
            .order_by("distance")
            .first()
        )
        if near:
            return _merge_sources(near, candidate)
    observation = Observation.objects.create(
        customer_id=customer_id,
        text=candidate.text,
        kind=candidate.kind,
        confidence=min(max(candidate.confidence, 0.0), 1.0),
        trait=candidate.trait,
        trait_value=candidate.trait_value,
        embedding=vector,
        fingerprint=fingerprint(candidate.text),
        conversation_id=conversation_id,
        message_external_ids=list(dict.fromkeys(candidate.source_ids)),
        created_at=candidate.at,
    )
    if candidate.trait in SINGLE_VALUED_TRAITS:
        _supersede(observation)
    return observation


def _supersede(observation: Observation) -> None:
    """The newest statement of a single-valued trait wins; the others point to it."""
    rivals = list(
        Observation.objects.filter(
            customer_id=observation.customer_id, trait=observation.trait, superseded_by__isnull=True
        ).exclude(id=observation.id)
    )
    newest = max([observation, *rivals], key=lambda o: (o.created_at, o.id))
    for stale in [observation, *rivals]:
        if stale.id != newest.id:
            stale.superseded_by = newest
            stale.save(update_fields=["superseded_by", "updated_at"])
            # The sentence that stated the stale value ("ship to 12 Oak Street") is stale with it.
            Observation.objects.filter(
                customer_id=observation.customer_id,
                trait="",
                superseded_by__isnull=True,
                text__icontains=stale.trait_value,
            ).update(superseded_by=newest)


def reconcile_profile(*, customer_id: uuid.UUID) -> CustomerProfile:
    """Rebuild the customer's profile (traits and a short summary) from their active observations."""
    active = list(
        Observation.objects.filter(customer_id=customer_id, superseded_by__isnull=True)
        .exclude(trait="", kind=Observation.Kind.FACT)
        .order_by("-created_at", "-id")
    )
    traits: dict = {}
    for o in reversed(active):  # oldest first, so the newest value of each trait wins
        if o.trait in SINGLE_VALUED_TRAITS:
            traits[o.trait] = o.trait_value
    orders = list(dict.fromkeys(o.trait_value for o in active if o.trait == "order"))
    if orders:
        traits["last_order"] = orders[0]
        traits["orders"] = orders[:PROFILE_LIST_LIMIT]
    for key, kind in (
        ("preferences", Observation.Kind.PREFERENCE),
        ("issues", Observation.Kind.ISSUE),
        ("commitments", Observation.Kind.COMMITMENT),
    ):
        texts = [o.text for o in active if o.kind == kind and not o.trait][:PROFILE_LIST_LIMIT]
        if texts:
            traits[key] = texts
    conversations = Conversation.objects.filter(customer_id=customer_id)
    traits["conversations"] = conversations.count()
    traits["channels"] = sorted(set(conversations.values_list("channel", flat=True)))
    customer = Customer.objects.get(id=customer_id)
    if customer.display_name and "name" not in traits:
        traits["name"] = customer.display_name
    profile, _ = CustomerProfile.objects.get_or_create(customer_id=customer_id)
    profile.traits = traits
    profile.summary = _summary(traits, customer)
    profile.save()
    return profile


def _summary(traits: dict, customer: Customer) -> str:
    parts = [traits.get("name") or "Customer"]
    parts.append(f"customer since {customer.created_at:%b %Y}")
    if traits.get("conversations"):
        parts.append(f"{traits['conversations']} conversation(s) over {', '.join(traits['channels'])}")
    if traits.get("last_order"):
        parts.append(f"last order {traits['last_order']}")
    if traits.get("address"):
        parts.append(f"address {traits['address']}")
    if traits.get("issues"):
        parts.append(f"latest issue: {traits['issues'][0]}")
    if traits.get("preferences"):
        parts.append(f"prefers: {traits['preferences'][0]}")
    return "; ".join(parts)[:1000] + "."


def _utterance(message: Message, speaker: str = "") -> Utterance:
    return Utterance(
        source_id=message.external_id or str(message.id),
        role=message.role,
        text=message.text,
        at=message.created_at,
        speaker=speaker,
    )


def _llm_for(conversation: Conversation):
    provider = conversation.use_case.llm_provider if conversation.use_case else None
    if provider is None or provider.kind == "offline":
        return None
    from conversations.llm import provider_for

    return provider_for(provider)


def _llm_candidates(conversation: Conversation, utterances: list[Utterance]) -> list[Candidate] | None:
    """The configured LLM's JSON extraction over the whole conversation; None offline or when it fails."""
    llm = _llm_for(conversation)
    if llm is None or not utterances:
        return None
    from conversations.llm.base import LLMError, complete_sync

    try:
        completion = complete_sync(llm, extraction_messages(utterances))
        return parse_llm_extraction(completion.text, utterances)
    except (LLMError, ValueError) as exc:  # jsonschema's ValidationError is a ValueError too
        logger.warning("conversation %s: LLM extraction failed (%s); keeping patterns", conversation.id, exc)
        return None


def _extractable(conversation_id: uuid.UUID):
    return Message.objects.filter(
        conversation_id=conversation_id, role__in=[Message.Role.CUSTOMER, Message.Role.AI, Message.Role.AGENT]
    ).order_by("created_at")


def extract_observations(
    *, conversation_id: uuid.UUID, final: bool = False, speakers: dict[str, str] | None = None
) -> int:
    """Extract, embed and store observations from the conversation's not-yet-extracted messages.

    Every turn: patterns and sentences (fast, no LLM cost, so the next turn already knows). When
    the conversation ends (`final`): the customer's sentiment and, with an LLM provider, its JSON
    extraction over the whole conversation, which replaces the sentence observations it covers.
    Idempotent and retry-safe: markers are written in the transaction that stores the observations,
    so a second run (or a retry after a killed worker) adds nothing. Returns the messages extracted.
    """
    conversation = Conversation.objects.select_related("use_case__llm_provider").get(id=conversation_id)
    speakers = speakers or {}
    pending = list(
        _extractable(conversation_id).exclude(
            id__in=ExtractedMessage.objects.filter(message__conversation_id=conversation_id).values(
                "message_id"
            )
        )
    )
    candidates = extract_offline([_utterance(m, speakers.get(m.external_id, "")) for m in pending])
    from_llm = None
    if final:
        candidates.extend(_sentiment(conversation))
        if not ConversationExtraction.objects.filter(conversation=conversation).exists():
            everything = [
                _utterance(m, speakers.get(m.external_id, "")) for m in _extractable(conversation_id)
            ]
            from_llm = _llm_candidates(conversation, everything)
    with transaction.atomic():
        _lock(str(conversation.customer_id))
        done = set(
            ExtractedMessage.objects.filter(message_id__in=[m.id for m in pending]).values_list(
                "message_id", flat=True
            )
        )
        if done:  # another worker got there first; store only what is still pending
            fresh = {m.external_id or str(m.id) for m in pending if m.id not in done}
            candidates = [c for c in candidates if set(c.source_ids) & fresh or c.kind == "sentiment"]
            pending = [m for m in pending if m.id not in done]
        record_observations(
            customer_id=conversation.customer_id, candidates=candidates, conversation_id=conversation.id
        )
        ExtractedMessage.objects.bulk_create(
            [ExtractedMessage(message=m) for m in pending], ignore_conflicts=True
        )
        if from_llm is not None:
            _, created = ConversationExtraction.objects.get_or_create(conversation=conversation)
            if created:
                _replace_sentences(conversation, from_llm)
        if not candidates:
            reconcile_profile(customer_id=conversation.customer_id)
    return len(pending)


def _replace_sentences(conversation: Conversation, from_llm: list[Candidate]) -> None:
    """Store the LLM's observations; drop the sentence observations whose messages they cover."""
    stored = record_observations(
        customer_id=conversation.customer_id, candidates=from_llm, conversation_id=conversation.id
    )
    covered = sorted({s for c in from_llm for s in c.source_ids})
    Observation.objects.filter(
        conversation=conversation,
        trait="",
        kind__in=[
            Observation.Kind.FACT,
            Observation.Kind.PREFERENCE,
            Observation.Kind.ISSUE,
            Observation.Kind.INTENT,
        ],
        message_external_ids__contained_by=covered,
    ).exclude(id__in=[o.id for o in stored]).delete()
    reconcile_profile(customer_id=conversation.customer_id)


def _sentiment(conversation: Conversation) -> list[Candidate]:
    """How the customer felt over a finished conversation, when it was clearly negative or positive."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    texts = list(
        Message.objects.filter(conversation=conversation, role=Message.Role.CUSTOMER)
        .order_by("created_at")
        .values_list("text", "external_id", "id")
    )
    if not texts:
        return []
    analyzer = SentimentIntensityAnalyzer()
    scores = [analyzer.polarity_scores(t)["compound"] for t, _, _ in texts]
    mean = sum(scores) / len(scores)
    if -0.35 < mean < 0.5:
        return []
    feeling = "frustrated" if mean <= -0.35 else "satisfied"
    when = (conversation.closed_at or timezone.now()).strftime("%d %b %Y")
    return [
        Candidate(
            text=f"Customer was {feeling} in the {conversation.get_channel_display()} conversation of {when}.",
            kind="sentiment",
            confidence=min(0.5 + abs(mean) / 2, 1.0),
            at=conversation.closed_at or timezone.now(),
            source_ids=[external_id or str(mid) for _, external_id, mid in texts],
        )
    ]


def add_observations(
    *,
    customer_id: uuid.UUID,
    items: Iterable[dict],
    conversation_id: uuid.UUID | None = None,
) -> list[Observation]:
    """Store observations given directly (the Recall API), validated by the caller."""
    now = timezone.now()
    candidates = [
        Candidate(
            text=item["text"],
            kind=item.get("kind", "fact"),
            confidence=item.get("confidence", 0.8),
            at=now,
            source_ids=item.get("message_external_ids", []),
            trait=item.get("trait", ""),
            trait_value=item.get("value", ""),
        )
        for item in items
    ]
    return record_observations(
        customer_id=customer_id, candidates=candidates, conversation_id=conversation_id
    )


def merge_customer_memory(*, survivor_id: uuid.UUID, merged_id: uuid.UUID) -> int:
    """Move the merged customer's observations to the survivor (duplicates fold in); rebuild its profile.

    Precondition: called inside the merge's transaction, after conversations moved. Returns the count moved.
    """
    _lock(str(survivor_id))
    moved = 0
    for observation in Observation.objects.filter(customer_id=merged_id).order_by("created_at", "id"):
        twin = Observation.objects.filter(
            customer_id=survivor_id, fingerprint=observation.fingerprint
        ).first()
        if twin:
            twin.message_external_ids = list(
                dict.fromkeys([*twin.message_external_ids, *observation.message_external_ids])
            )
            twin.save(update_fields=["message_external_ids", "updated_at"])
            Observation.objects.filter(superseded_by=observation).update(superseded_by=twin)
            observation.delete()
        else:
            observation.customer_id = survivor_id
            observation.save(update_fields=["customer", "updated_at"])
        moved += 1
    # Two customers may each have had a current address: the newest one wins after the merge.
    for trait in SINGLE_VALUED_TRAITS:
        newest = (
            Observation.objects.filter(customer_id=survivor_id, trait=trait, superseded_by__isnull=True)
            .order_by("-created_at", "-id")
            .first()
        )
        if newest:
            _supersede(newest)
    CustomerProfile.objects.filter(customer_id=merged_id).delete()
    reconcile_profile(customer_id=survivor_id)
    return moved


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    raw: str  # shown once; only its hash is stored


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_token(*, name: str) -> NewToken:
    """A new Recall API token named `name`; the raw value is returned once and never stored."""
    raw = "baton_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(name=name, token_hash=hash_token(raw), prefix=raw[:12])
    return NewToken(token=token, raw=raw)


def authenticate_api_token(raw: str) -> ApiToken | None:
    """The active token matching `raw` (compared by hash), recording its use; None when unknown."""
    if not raw or len(raw) > 200:
        return None
    token = ApiToken.objects.filter(token_hash=hash_token(raw), active=True).first()
    now = timezone.now()
    # Once a minute is precise enough, and spares a write on every recall.
    if token and (token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60):
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
    return token


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
    from datetime import timedelta

    from conversations.identity import normalize_address
    from conversations.services import resolve_customer

    if not isinstance(record, dict):
        raise ValueError("each line must be a JSON object")
    person = record.get("customer")
    if (
        not isinstance(person, dict)
        or not isinstance(person.get("external_id"), str)
        or not person["external_id"]
    ):
        raise ValueError('"customer" must be an object with a non-empty string "external_id"')
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError('"messages" must be a non-empty list')
    for n, m in enumerate(messages, 1):
        if not isinstance(m, dict) or m.get("role") not in _IMPORT_ROLES:
            raise ValueError(f"message {n}: role must be one of customer, ai, agent")
        if not isinstance(m.get("text"), str) or not m["text"].strip():
            raise ValueError(f"message {n}: text must be a non-empty string")
    channel = record.get("channel") or Conversation.Channel.IMPORT
    if channel not in Conversation.Channel.values:
        raise ValueError(f"channel must be one of {', '.join(Conversation.Channel.values)}")
    started = _parse_time(record.get("started_at"), "started_at") or timezone.now()
    identities = []
    for key in ("email", "phone"):
        if person.get(key):
            identities.append((key, normalize_address(key, str(person[key]))))
    external_id = person["external_id"][:200]
    conversation_key = "import:" + hashlib.sha256(line.strip().encode()).hexdigest()[:32]

    with transaction.atomic():
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None and identities:
            customer = resolve_customer(identities=identities, display_name=person.get("name") or "")
            if not customer.external_id:
                customer.external_id = external_id
                customer.save(update_fields=["external_id", "updated_at"])
        if customer is None:
            customer = Customer.objects.create(external_id=external_id, display_name=person.get("name") or "")
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
        for n, m in enumerate(messages, 1):
            message_id = str(m.get("external_id") or n)[:200]
            at = _parse_time(m.get("at"), f"message {n} at") or started + timedelta(seconds=n)
            if m.get("speaker"):
                speakers[message_id] = str(m["speaker"])[:100]
            if message_id in existing:
                continue
            existing.add(message_id)
            new_messages.append(
                Message(
                    conversation=conversation,
                    role=m["role"],
                    text=m["text"],
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

"""Extracting observations from a conversation: patterns and sentence embeddings each turn, the LLM at the end."""

import logging
import uuid

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from conversations.llm import provider_for
from conversations.llm.base import LLMError, complete_sync
from conversations.models import Conversation, Message

from ..extraction import Candidate, Utterance, extract_offline, extraction_messages, parse_llm_extraction
from ..models import ConversationExtraction, ExtractedMessage, Observation
from . import profiles
from .observations import _lock, record_observations

logger = logging.getLogger(__name__)


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
    return provider_for(provider)


def _llm_candidates(conversation: Conversation, utterances: list[Utterance]) -> list[Candidate] | None:
    """The configured LLM's JSON extraction over the whole conversation; None offline or when it fails."""
    llm = _llm_for(conversation)
    if llm is None or not utterances:
        return None
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
    messages = list(
        _extractable(conversation_id).annotate(
            extracted=Exists(ExtractedMessage.objects.filter(message_id=OuterRef("id")))
        )
    )
    pending = [m for m in messages if not m.extracted]
    first_extraction = len(pending) == len(messages)
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
        if not candidates and (first_extraction or final):
            # Nothing new to say, but the profile counts this conversation (and its channel) from its
            # first extraction on; later messages with nothing in them leave the profile as it is.
            profiles.reconcile_profile(customer_id=conversation.customer_id)
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
    profiles.reconcile_profile(customer_id=conversation.customer_id)


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

"""Extracting observations from a conversation: patterns and sentence embeddings each turn, the LLM at the end."""

import logging
import uuid

from django.db import connection, transaction
from django.utils import timezone

from conversations.llm import provider_for
from conversations.llm.base import LLMError, complete_sync
from conversations.models import Conversation, Message
from infra import embeddings

from ..extraction import Candidate, Utterance, extract_offline, extraction_messages, parse_llm_extraction
from ..models import ConversationExtraction, Observation
from . import profiles
from .observations import lock_customer_memory, record_observations, store_observations

logger = logging.getLogger(__name__)


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


_EXTRACTED_ROLES = [str(Message.Role.CUSTOMER), str(Message.Role.AI), str(Message.Role.AGENT)]


# Raw SQL: this read runs every turn, and the ORM's compilation of it cost more CPU than the database.
# The left join gives the customer even when the conversation has no message to extract yet.
_CONVERSATION_ROWS_SQL = """
SELECT c.customer_id, m.id, m.external_id, m.role, m.text, m.created_at,
       EXISTS (SELECT 1 FROM memory_extractedmessage e WHERE e.message_id = m.id)
FROM conversations_conversation c
LEFT JOIN conversations_message m ON m.conversation_id = c.id AND m.role = ANY(%s)
WHERE c.id = %s
ORDER BY m.created_at
"""


def _conversation_rows(conversation_id: uuid.UUID) -> tuple[uuid.UUID, list[tuple]]:
    """The conversation's customer and its extractable messages, oldest first.

    Rows are (id, external_id, role, text, created_at, extracted).
    """
    with connection.cursor() as cursor:
        cursor.execute(_CONVERSATION_ROWS_SQL, [_EXTRACTED_ROLES, conversation_id])
        found = cursor.fetchall()
    if not found:
        raise Conversation.DoesNotExist(f"no conversation {conversation_id}")
    return found[0][0], [row[1:] for row in found if row[1] is not None]


# One statement for what was a re-check and a bulk insert: RETURNING gives the rows this one inserted.
_CLAIM_SQL = """
INSERT INTO memory_extractedmessage (message_id, created_at) SELECT unnest(%s::uuid[]), %s
ON CONFLICT (message_id) DO NOTHING
RETURNING message_id
"""


def _claim(message_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Mark the messages extracted; returns those no other extraction had marked.

    No lock needed for the markers alone: an insert that conflicts with another transaction's waits
    for it to end, then skips the row.
    """
    if not message_ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [message_ids, timezone.now()])
        return {row[0] for row in cursor.fetchall()}


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
    speakers = speakers or {}
    customer_id, rows = _conversation_rows(conversation_id)
    utterances = {
        mid: Utterance(
            source_id=external_id or str(mid),
            role=role,
            text=text,
            at=at,
            speaker=speakers.get(external_id, ""),
        )
        for mid, external_id, role, text, at, _ in rows
    }
    pending = [mid for mid, *_, extracted in rows if not extracted]
    first_extraction = len(pending) == len(rows)
    if not pending and not first_extraction and not final:
        return 0  # an earlier run (or another worker) extracted everything
    candidates = extract_offline([utterances[mid] for mid in pending])
    from_llm = None
    conversation = None
    if final:
        conversation = Conversation.objects.select_related("use_case__llm_provider").get(id=conversation_id)
        candidates.extend(_sentiment(conversation))
        if not ConversationExtraction.objects.filter(conversation=conversation).exists():
            from_llm = _llm_candidates(conversation, list(utterances.values()))
    if not candidates and not first_extraction and not final:
        return len(_claim(pending))  # nothing to store, nothing for the profile
    vectors = embeddings.embed([c.text for c in candidates])  # before the lock: the model is the slow part
    with transaction.atomic():
        lock_customer_memory(customer_id)
        claimed = _claim(pending)
        if len(claimed) < len(pending):  # another worker got there first; store only what is still ours
            fresh = {utterances[mid].source_id for mid in claimed}
            kept = [
                (c, v)
                for c, v in zip(candidates, vectors, strict=True)
                if set(c.source_ids) & fresh or c.kind == "sentiment"
            ]
            candidates, vectors = [c for c, _ in kept], [v for _, v in kept]
        if candidates:
            store_observations(
                customer_id=customer_id,
                candidates=candidates,
                vectors=vectors,
                conversation_id=conversation_id,
            )
        if from_llm is not None:
            _, created = ConversationExtraction.objects.get_or_create(conversation=conversation)
            if created:
                _replace_sentences(conversation, from_llm)
        if not candidates and (first_extraction or final):
            # Nothing new to say, but the profile counts this conversation (and its channel) from its
            # first extraction on; later messages with nothing in them leave the profile as it is.
            profiles.reconcile_profile(customer_id=customer_id, observations_changed=False)
    return len(claimed)


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

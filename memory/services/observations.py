"""Recording observations: near-duplicates merge their sources, a new single-valued trait supersedes the old."""

import hashlib
import logging
import re
import uuid
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone
from pgvector import Vector

from infra import embeddings

from ..extraction import SINGLE_VALUED_TRAITS, Candidate
from ..models import CustomerProfile, Observation
from . import profiles

logger = logging.getLogger(__name__)

# Cosine distance under which two statements of one customer count as the same (merged, not duplicated).
NEAR_DUPLICATE_DISTANCE = 0.04


def fingerprint(text: str) -> str:
    normalized = " ".join(re.findall(r"[a-z0-9@+#]+", text.lower()))
    return hashlib.sha256(normalized.encode()).hexdigest()


def lock_customer_memory(customer_id: uuid.UUID) -> None:
    """Serialise writers of one customer's memory until the transaction ends (precondition: atomic)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"memory:{customer_id}"])


def record_observations(
    *, customer_id: uuid.UUID, candidates: list[Candidate], conversation_id: uuid.UUID | None = None
) -> list[Observation]:
    """Embed `candidates` in one batch and store them, merging duplicates and superseding stale traits.

    Idempotent: the same statement is stored once per customer; its sources are merged.
    """
    if not candidates:
        return []
    vectors = embeddings.embed([c.text for c in candidates])  # one batch, before this function's lock
    # No savepoint of its own: inside a caller's transaction (extraction's) a failure fails it anyway.
    with transaction.atomic(savepoint=False):
        lock_customer_memory(customer_id)
        return store_observations(
            customer_id=customer_id, candidates=candidates, vectors=vectors, conversation_id=conversation_id
        )


def store_observations(
    *,
    customer_id: uuid.UUID,
    candidates: list[Candidate],
    vectors: list[list[float]],
    conversation_id: uuid.UUID | None = None,
) -> list[Observation]:
    """Store embedded candidates and reconcile the profile.

    Precondition: inside a transaction holding the customer's lock (`lock_customer_memory`).
    """
    stored: list[Observation] = []
    profile_changed = False
    for candidate, vector in zip(candidates, vectors, strict=True):
        observation, created = _record_one(customer_id, candidate, vector, conversation_id)
        stored.append(observation)
        # A merge changes only sources and confidence, which the profile does not show.
        profile_changed |= created and profiles.shapes_profile(trait=candidate.trait, kind=candidate.kind)
    profiles.reconcile_profile(customer_id=customer_id, observations_changed=profile_changed)
    return stored


def _merge_sources(observation: Observation, candidate: Candidate) -> Observation:
    missing = [s for s in candidate.source_ids if s not in observation.message_external_ids]
    if missing or candidate.confidence > observation.confidence:
        observation.message_external_ids = [*observation.message_external_ids, *missing]
        observation.confidence = max(observation.confidence, candidate.confidence)
        observation.save(update_fields=["message_external_ids", "confidence", "updated_at"])
    return observation


# One read for both, in raw SQL (it runs for every candidate and the ORM's compilation of it, with the
# vector, cost ~2 ms of CPU): the same statement (even superseded) wins, else the newest active twin
# of a trait or the nearest active near-duplicate of a sentence. Its columns are what a merge needs.
_MATCH_SQL = """
SELECT id, customer_id, text, kind, confidence, trait, trait_value, fingerprint, conversation_id,
       message_external_ids, superseded_by_id, created_at, updated_at
FROM memory_observation
WHERE customer_id = %(customer)s
  AND (fingerprint = %(fingerprint)s OR (superseded_by_id IS NULL AND {similar}))
ORDER BY fingerprint = %(fingerprint)s DESC, {closest}
LIMIT 1
"""
_MATCH_TRAIT_SQL = _MATCH_SQL.format(
    similar="trait = %(trait)s AND UPPER(trait_value) = UPPER(%(value)s)", closest="created_at DESC"
)
_MATCH_SENTENCE_SQL = _MATCH_SQL.format(
    similar="trait = '' AND (embedding <=> %(vector)s::vector) < %(near)s",
    closest="embedding <=> %(vector)s::vector",
)


def _record_one(
    customer_id: uuid.UUID, candidate: Candidate, vector: list[float], conversation_id: uuid.UUID | None
) -> tuple[Observation, bool]:
    """The stored observation the candidate became, and whether it is new."""
    text_fingerprint = fingerprint(candidate.text)
    params = {"customer": customer_id, "fingerprint": text_fingerprint}
    if candidate.trait:
        sql = _MATCH_TRAIT_SQL
        params |= {"trait": candidate.trait, "value": candidate.trait_value}
    else:
        sql = _MATCH_SENTENCE_SQL
        params |= {"vector": Vector._to_db(vector), "near": NEAR_DUPLICATE_DISTANCE}
    match = next(iter(Observation.objects.raw(sql, params)), None)
    if match:
        return _merge_sources(match, candidate), False
    observation = Observation.objects.create(
        customer_id=customer_id,
        text=candidate.text,
        kind=candidate.kind,
        confidence=min(max(candidate.confidence, 0.0), 1.0),
        trait=candidate.trait,
        trait_value=candidate.trait_value,
        embedding=vector,
        fingerprint=text_fingerprint,
        conversation_id=conversation_id,
        message_external_ids=list(dict.fromkeys(candidate.source_ids)),
        created_at=candidate.at,
    )
    if candidate.trait in SINGLE_VALUED_TRAITS:
        _supersede(observation)
    return observation, True


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
    lock_customer_memory(survivor_id)
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
    profiles.reconcile_profile(customer_id=survivor_id)
    return moved

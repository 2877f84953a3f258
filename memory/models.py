"""Models of the memory app: observations about customers, their reconciled profile."""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from conversations.models import Conversation, Customer, Message
from infra.embeddings import DIMENSIONS


class Observation(models.Model):
    class Kind(models.TextChoices):
        FACT = "fact", "Fact"
        PREFERENCE = "preference", "Preference"
        ISSUE = "issue", "Issue"
        INTENT = "intent", "Intent"
        SENTIMENT = "sentiment", "Sentiment"
        COMMITMENT = "commitment", "Commitment"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="observations")
    text = models.TextField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FACT)
    confidence = models.FloatField(default=0.7)
    # A single-valued trait this observation states (address, phone, ...): a newer one supersedes it.
    trait = models.CharField(max_length=40, blank=True)
    trait_value = models.CharField(max_length=500, blank=True)
    embedding = VectorField(dimensions=DIMENSIONS)
    search = models.GeneratedField(
        expression=SearchVector("text", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    # Normalised text hash: the same statement is stored once per customer (idempotent extraction).
    fingerprint = models.CharField(max_length=64)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="observations"
    )
    message_external_ids = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )
    # When the customer said it (the message time), not when it was extracted.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "fingerprint"], name="observation_unique_fingerprint"
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1), name="observation_confidence_0_1"
            ),
        ]
        indexes = [
            HnswIndex(
                name="observation_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(
                fields=["customer", "created_at"],
                name="observation_active_customer",
                condition=Q(superseded_by__isnull=True),
            ),
            GinIndex(fields=["search"], name="observation_search_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.text[:80]}"


class CustomerProfile(models.Model):
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="profile")
    traits = models.JSONField(default=dict, blank=True)
    summary = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.customer}"


class ExtractedMessage(models.Model):
    """A message whose observations are stored: extraction skips it next time (idempotent, retry-safe)."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"extracted {self.message_id}"


class ConversationExtraction(models.Model):
    """The conversation's end-of-conversation LLM extraction is stored (it runs once)."""

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"LLM extraction of {self.conversation_id}"

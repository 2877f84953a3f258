"""The knowledge base: where articles come from, the articles, and the passages search reads.

Knowledge holds the company's own articles, never customer data: no model here points at a
customer or a conversation.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from pgvector.django import HnswIndex, VectorField

from conversations.models import UseCase
from infra.embeddings import DIMENSIONS
from infra.models import TimeStamped

# A passage answers a question when its score (selectors.relevance) clears the threshold AND it
# contains at least this share of the question's words, weighted by their idf (the question: the
# query's sentences ending in "?", else all of it). Coverage 0 turns the word check off.
# The defaults answer the short questions customers type (the demo store's, OR-ShARC's question
# form: answered >= 0.9) and decline what no article is about. A use case can be stricter:
# 0.78 / 0.5 is the best trade-off found on OR-ShARC dev's KB-ablation protocol (scenario +
# question: answered 0.905 with the gold passage in the index, abstained 0.395 with it removed,
# bench/knowledge_orsharc.py), where the passages left are often the same page's other rules.
DEFAULT_ANSWER_THRESHOLD = 0.55
DEFAULT_QUESTION_COVERAGE = 0.25


class Source(TimeStamped):
    """Where documents come from: an imported folder or JSONL file, uploads in the admin, drafts."""

    class Kind(models.TextChoices):
        FOLDER = "folder", "Folder"
        JSONL = "jsonl", "JSONL file"
        UPLOAD = "upload", "Uploaded in the admin"
        DRAFTS = "drafts", "Drafts from agents' replies"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The absolute path an import read (re-importing it finds this source again); empty for uploads.
    location = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["kind", "location"], name="source_unique_location")]

    def __str__(self) -> str:
        return self.name


class Document(TimeStamped):
    class Status(models.TextChoices):
        PUBLISHED = "published", "Published: the AI answers from it"
        DRAFT = "draft", "Draft: to review, not used"

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="documents")
    # The path relative to the imported folder, or the JSONL line's id.
    external_id = models.CharField(max_length=500)
    title = models.CharField(max_length=300)
    url = models.URLField(max_length=1000, blank=True)
    text = models.TextField(help_text="The article as text; Markdown headings (#, ##) make its sections.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PUBLISHED)
    # What the passages were made from: an import with the same hash changes nothing.
    content_hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="document_unique_external_id")
        ]

    def __str__(self) -> str:
        return self.title


class Passage(models.Model):
    """One section (or part of a long one) of a document, with its heading path: what search ranks."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="passages")
    position = models.PositiveIntegerField()
    section = models.CharField(max_length=500, blank=True, help_text="Headings above the text, ' > ' apart.")
    text = models.TextField()
    embedding = VectorField(dimensions=DIMENSIONS)
    # Words (lexeme occurrences) in `search`: BM25's length normalisation.
    length = models.PositiveIntegerField(default=0)
    search = models.GeneratedField(
        expression=SearchVector("section", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document", "position"]
        constraints = [
            models.UniqueConstraint(fields=["document", "position"], name="passage_unique_position")
        ]
        indexes = [
            HnswIndex(
                name="passage_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search"], name="passage_search_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.document.title} · {self.section or self.position}"


class Lexeme(models.Model):
    """A word stem of the published passages and its BM25 inverse document frequency."""

    lexeme = models.TextField(primary_key=True)
    idf = models.FloatField()

    def __str__(self) -> str:
        return f"{self.lexeme} ({self.idf:.2f})"


class CorpusStatistics(models.Model):
    """One row: what BM25 needs of the whole corpus, refreshed with the lexemes after every change."""

    passages = models.PositiveIntegerField(default=0)
    mean_length = models.FloatField(default=1.0)
    refreshed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "corpus statistics"

    def __str__(self) -> str:
        return f"{self.passages} passages"


class UseCaseKnowledge(TimeStamped):
    """Which documents a use case answers from (all published ones when none are named) and how surely."""

    use_case = models.OneToOneField(UseCase, on_delete=models.CASCADE, related_name="knowledge")
    documents = models.ManyToManyField(
        Document, blank=True, related_name="use_cases", help_text="Leave empty to use every article."
    )
    answer_threshold = models.FloatField(
        default=DEFAULT_ANSWER_THRESHOLD,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        help_text="The score a passage needs to answer from it; below, the AI says it doesn't know "
        "and offers a person. Higher: fewer answers, fewer wrong ones.",
    )
    question_coverage = models.FloatField(
        default=DEFAULT_QUESTION_COVERAGE,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="The share of the question's words (rare words count more) a passage must contain "
        "to answer from it. 0: any passage above the threshold; higher: fewer answers from "
        "articles that only talk about the same thing.",
    )

    class Meta:
        verbose_name = "use case knowledge"
        verbose_name_plural = "use case knowledge"

    def __str__(self) -> str:
        return f"knowledge of {self.use_case}"

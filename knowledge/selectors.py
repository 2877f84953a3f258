"""Reads of the knowledge base: hybrid search over a use case's passages.

These signatures are the contract other apps use (runtime context, search API, benchmark).
"""

import re
from dataclasses import dataclass

from django.db import connection

from infra import embeddings
from infra.stamped import StampedCache

from .models import DEFAULT_ANSWER_THRESHOLD, DEFAULT_QUESTION_COVERAGE, UseCaseKnowledge

# Ranking: cosine similarity plus BM25 (k1 0.9, b 0.4, saturated as bm25 / (bm25 + 10)), so a passage
# sharing the question's rarer words wins over one that is only near in meaning. Tuned on OR-ShARC
# dev (bench/knowledge_orsharc.py): R@5 for scenario + question 0.865 dense, 0.72 BM25, 0.90 both.
BM25_WEIGHT = 0.6
BM25_SATURATION = 10.0
K1, B = 0.9, 0.4
CANDIDATES = 50
RARE_TERMS = 8


@dataclass(frozen=True)
class FoundPassage:
    id: int
    section: str
    text: str
    score: float
    document_id: int
    external_id: str
    title: str
    url: str


@dataclass(frozen=True)
class Scope:
    """The documents a use case answers from (None: every published one) and what an answer needs:
    a score of `threshold` and `coverage` of the question's words (models.DEFAULT_QUESTION_COVERAGE)."""

    document_ids: list[int] | None
    threshold: float
    coverage: float = DEFAULT_QUESTION_COVERAGE


# One statement: the nearest vectors and the best full-text matches, then for each candidate its
# cosine similarity and its BM25 over the query's stems (idf from knowledge_lexeme, refreshed on
# every change of the corpus). The full-text side ORs only the query's RARE_TERMS rarest stems: common
# ones ("get", "work") match most of a large corpus, and ranking thousands of matches was most of the
# statement's time, while the candidates they add are the ones BM25 scores low anyway.
_SEARCH_SQL = """
WITH terms AS MATERIALIZED (
    SELECT l.lexeme, l.idf FROM knowledge_lexeme l
    WHERE l.lexeme = ANY(tsvector_to_array(to_tsvector('english', %(query)s)))
), q AS MATERIALIZED (
    SELECT coalesce(string_agg(quote_literal(lexeme), ' | '), '')::tsquery AS tsq
    FROM (SELECT lexeme FROM terms ORDER BY idf DESC, lexeme LIMIT %(rare_terms)s) rare
), corpus AS (
    SELECT coalesce((SELECT mean_length FROM knowledge_corpusstatistics WHERE id = 1), 1) AS mean_length
), vec AS (
    SELECT p.id FROM knowledge_passage p JOIN knowledge_document d ON d.id = p.document_id
    WHERE d.status = 'published' {scope}
    ORDER BY p.embedding <=> %(vector)s::vector LIMIT %(candidates)s
), fts AS (
    SELECT p.id FROM knowledge_passage p JOIN knowledge_document d ON d.id = p.document_id, q
    WHERE d.status = 'published' {scope} AND p.search @@ q.tsq
    ORDER BY ts_rank(p.search, q.tsq, 1) DESC LIMIT %(candidates)s
)
SELECT p.id, p.section, p.text, d.id, d.external_id, d.title, d.url,
       1 - (p.embedding <=> %(vector)s::vector) AS similarity,
       (SELECT coalesce(sum(t.idf * cardinality(u.positions) * (%(k1)s + 1)
                            / (cardinality(u.positions) + %(k1)s * (1 - %(b)s + %(b)s * p.length / corpus.mean_length))), 0)
        FROM unnest(p.search) u JOIN terms t ON t.lexeme = u.lexeme) AS bm25
FROM knowledge_passage p JOIN knowledge_document d ON d.id = p.document_id, corpus
WHERE p.id IN (SELECT id FROM vec UNION SELECT id FROM fts)
"""


# For each passage, the idf-weighted share of the question's stems (those the corpus has) that it
# contains; 1 when the question has no known stem, so there is nothing to check.
_COVERAGE_SQL = """
WITH terms AS MATERIALIZED (
    SELECT l.lexeme, l.idf FROM knowledge_lexeme l
    WHERE l.lexeme = ANY(tsvector_to_array(to_tsvector('english', %(question)s)))
)
SELECT p.id,
       coalesce(coalesce((SELECT sum(t.idf) FROM terms t WHERE t.lexeme = ANY(tsvector_to_array(p.search))), 0)
                / nullif((SELECT sum(idf) FROM terms), 0), 1)
FROM knowledge_passage p WHERE p.id = ANY(%(ids)s)
"""


def relevance(similarity: float, bm25: float) -> float:
    """One passage's score: meaning and shared rare words, on an absolute scale (thresholds compare it)."""
    return similarity + BM25_WEIGHT * bm25 / (bm25 + BM25_SATURATION)


_scopes: StampedCache[Scope] = StampedCache(
    lambda: [UseCaseKnowledge._meta.db_table, UseCaseKnowledge.documents.through._meta.db_table]
)


def scope_for(use_case_id: int | None) -> Scope:
    """What the use case may cite and how sure a passage must be; every article for no use case."""
    if not use_case_id:
        return Scope(document_ids=None, threshold=DEFAULT_ANSWER_THRESHOLD)
    return _scopes.get(use_case_id, lambda: _read_scope(use_case_id))


def _read_scope(use_case_id: int) -> Scope:
    knowledge = UseCaseKnowledge.objects.filter(use_case_id=use_case_id).first()
    if knowledge is None:
        return Scope(document_ids=None, threshold=DEFAULT_ANSWER_THRESHOLD)
    ids = list(knowledge.documents.values_list("id", flat=True))
    return Scope(
        document_ids=ids or None, threshold=knowledge.answer_threshold, coverage=knowledge.question_coverage
    )


def search(query: str, *, k: int = 5, scope: Scope | None = None) -> list[FoundPassage]:
    """The `k` published passages that best answer `query` within `scope`, best first."""
    query = (query or "").strip()
    if not query or k <= 0:
        return []
    vector = embeddings.embed_query(query)
    params = {
        "query": query,
        "vector": "[" + ",".join(f"{x:.6f}" for x in vector) + "]",
        "candidates": max(CANDIDATES, k * 2),
        "rare_terms": RARE_TERMS,
        "k1": K1,
        "b": B,
    }
    scoped = ""
    if scope is not None and scope.document_ids is not None:
        scoped, params["documents"] = "AND d.id = ANY(%(documents)s)", scope.document_ids
    with connection.cursor() as cursor:
        cursor.execute(_SEARCH_SQL.format(scope=scoped), params)
        rows = cursor.fetchall()
    found = [
        FoundPassage(
            id=pid,
            section=section,
            text=text,
            score=round(relevance(similarity, bm25), 4),
            document_id=doc_id,
            external_id=external_id,
            title=title,
            url=url,
        )
        for pid, section, text, doc_id, external_id, title, url, similarity, bm25 in rows
    ]
    found.sort(key=lambda p: (-p.score, p.id))
    return found[:k]


def question_of(query: str) -> str:
    """The query's sentences that end in "?" (what is asked, without the situation around it), else all of it."""
    asked = [s for s in re.split(r"(?<=[.!?])\s+|\n+", query.strip()) if s.strip().endswith("?")]
    return " ".join(asked) if asked else query


def question_coverage(query: str, passage_ids: list[int]) -> dict[int, float]:
    """For each passage, the share (0..1, idf-weighted) of the question's words in `query` it contains."""
    if not passage_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_COVERAGE_SQL, {"question": question_of(query), "ids": passage_ids})
        return {pid: float(share) for pid, share in cursor.fetchall()}


def answering(query: str, found: list[FoundPassage], scope: Scope) -> list[FoundPassage]:
    """Of the passages `search` found for `query`, those that clear the scope's threshold and question
    coverage: what the AI may answer from (none: it says it doesn't know and offers a person)."""
    found = [p for p in found if p.score >= scope.threshold]
    if not found or scope.coverage <= 0:
        return found
    shares = question_coverage(query, [p.id for p in found])
    return [p for p in found if shares.get(p.id, 0.0) >= scope.coverage]


def answering_passages(query: str, *, scope: Scope, k: int = 3) -> list[FoundPassage]:
    """The passages the AI may answer `query` from, within `scope`."""
    return answering(query, search(query, k=k, scope=scope), scope)

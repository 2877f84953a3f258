"""Writes of the knowledge base: importing articles, replacing their passages, drafts, use case scopes.

A document's passages are rebuilt only when its content changed (its hash): re-importing the same
folder or file adds nothing, and a changed article replaces its passages in one transaction.
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, transaction

from conversations.models import UseCase
from infra import embeddings
from infra.text import (
    ARTICLE_MAX_CHARS,
    NAME_MAX_CHARS,
    TextTooLong,
    checked_text,
    clean_text,
    is_clean,
)

from .chunking import chunk
from .models import Document, Passage, Source, UseCaseKnowledge
from .reading import SUFFIXES, UnreadableDocument, read_file


class KnowledgeImportError(ValueError):
    """An import that cannot start (no such path, wrong kind of file); the message says what to give."""


@dataclass(frozen=True)
class Article:
    """One document to import, whatever it was read from."""

    external_id: str
    title: str
    text: str
    url: str = ""


@dataclass
class ImportReport:
    source: Source | None = None
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    passages: int = 0
    # (where, why) of each article that could not be imported; the others are.
    errors: list[tuple[str, str]] = field(default_factory=list)
    # Documents of the source that the import no longer found (delete them in the admin).
    missing: list[str] = field(default_factory=list)


def content_hash(article: Article) -> str:
    payload = json.dumps([article.title, article.url, article.text], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _checked(article: Article) -> Article:
    try:
        title = checked_text(article.title, limit=300, what="the title")
        text = checked_text(article.text, limit=ARTICLE_MAX_CHARS, what="the text")
    except TextTooLong as exc:
        raise UnreadableDocument(str(exc)) from None
    url = clean_text(article.url).strip()
    if url and not url.startswith(("https://", "http://")):
        raise UnreadableDocument(f"url must start with https:// or http:// ({url[:80]!r})")
    if not text:
        raise UnreadableDocument("the article has no text")
    return Article(
        external_id=article.external_id, title=title or article.external_id, text=text, url=url[:1000]
    )


def _embedding_text(section: str, text: str) -> str:
    return f"{section}\n{text}" if section else text


def _passages(title: str, text: str) -> list[tuple]:
    """The chunks of an article with their vectors, computed before any transaction opens."""
    chunks = chunk(title, text)
    return list(
        zip(chunks, embeddings.embed([_embedding_text(c.section, c.text) for c in chunks]), strict=True)
    )


def _replace_passages(document: Document, passages: list[tuple]) -> None:
    Passage.objects.filter(document=document).delete()
    Passage.objects.bulk_create(
        Passage(document=document, position=n, section=c.section, text=c.text, embedding=v)
        for n, (c, v) in enumerate(passages)
    )
    with connection.cursor() as cursor:
        cursor.execute(_PASSAGE_LENGTH_SQL, [document.pk])


# A passage's length for BM25: its lexeme occurrences (the generated tsvector's positions).
_PASSAGE_LENGTH_SQL = """
UPDATE knowledge_passage SET length = (SELECT coalesce(sum(cardinality(positions)), 0) FROM unnest(search))
WHERE document_id = %s
"""

_PUBLISHED_VECTORS = (
    "SELECT p.search FROM knowledge_passage p JOIN knowledge_document d ON d.id = p.document_id "
    "WHERE d.status = 'published'"
)
# BM25's inverse document frequency, ln(1 + (N - df + 0.5) / (df + 0.5)), of every published stem.
_REFRESH_SQL = [
    "LOCK TABLE knowledge_lexeme IN EXCLUSIVE MODE",
    "DELETE FROM knowledge_lexeme",
    f"""
    INSERT INTO knowledge_lexeme (lexeme, idf)
    SELECT word, ln(1 + (n.n - ndoc + 0.5) / (ndoc + 0.5))
    FROM ts_stat(%s), (SELECT count(*) AS n FROM ({_PUBLISHED_VECTORS}) v) n
    """,
    """
    INSERT INTO knowledge_corpusstatistics (id, passages, mean_length, refreshed_at)
    SELECT 1, count(*), greatest(coalesce(avg(p.length), 1), 1), now()
    FROM knowledge_passage p JOIN knowledge_document d ON d.id = p.document_id WHERE d.status = 'published'
    ON CONFLICT (id) DO UPDATE
    SET passages = EXCLUDED.passages, mean_length = EXCLUDED.mean_length, refreshed_at = now()
    """,
]


def refresh_statistics() -> None:
    """Recount what BM25 knows of the published corpus; after any import, edit, publish or delete."""
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _REFRESH_SQL:
            cursor.execute(statement, [_PUBLISHED_VECTORS] if "ts_stat" in statement else None)


def rebuild_passages(document: Document) -> int:
    """Replace the document's passages with ones cut from its current text; the number made."""
    passages = _passages(document.title, document.text)
    with transaction.atomic():
        _replace_passages(document, passages)
    return len(passages)


def save_article(source: Source, article: Article, *, status: str = Document.Status.PUBLISHED) -> str:
    """Store `article` in `source`: "added", "updated" (its passages replaced) or "unchanged"."""
    article = _checked(article)
    digest = content_hash(article)
    document = Document.objects.filter(source=source, external_id=article.external_id).first()
    if document is not None and document.content_hash == digest:
        return "unchanged"
    outcome = "added" if document is None else "updated"
    passages = _passages(article.title, article.text)
    with transaction.atomic():
        if document is None:
            document = Document(source=source, external_id=article.external_id, status=status)
        document.title, document.text, document.url = article.title, article.text, article.url
        document.content_hash = digest
        document.save()
        _replace_passages(document, passages)
    return outcome


def document_saved_in_admin(document: Document) -> None:
    """After an edit in the admin: passages follow the text when it changed."""
    digest = content_hash(Article(document.external_id, document.title, document.text, document.url))
    if digest != document.content_hash or not document.passages.exists():
        Document.objects.filter(pk=document.pk).update(content_hash=digest)
        document.content_hash = digest
        rebuild_passages(document)
    refresh_statistics()  # the status may have changed too


def publish_documents(documents) -> int:
    """Publish draft documents: the AI answers from them from now on."""
    count = documents.update(status=Document.Status.PUBLISHED)
    refresh_statistics()
    return count


def delete_documents(documents) -> int:
    """Delete documents and their passages (an article gone from its folder, a draft not wanted)."""
    count = documents.count()
    documents.delete()
    refresh_statistics()
    return count


def _own_source(kind: str, name: str) -> Source:
    """The one source of a kind that no import reads (admin uploads, drafts)."""
    source, _ = Source.objects.get_or_create(kind=kind, location="", defaults={"name": name})
    return source


def upload_source() -> Source:
    return _own_source(Source.Kind.UPLOAD, "Uploaded in the admin")


def draft_article(*, title: str, text: str, external_id: str) -> Document:
    """A draft article (from an agent's reply to a knowledge gap), not used until published in the admin."""
    source = _own_source(Source.Kind.DRAFTS, "Drafts from agents' replies")
    save_article(
        source, Article(external_id=external_id, title=title, text=text), status=Document.Status.DRAFT
    )
    return Document.objects.get(source=source, external_id=external_id)


def read_folder(root: Path) -> Iterator[tuple[str, Article | UnreadableDocument]]:
    """Each readable file under `root` (recursive, sorted), keyed by its path relative to `root`."""
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
        relative = path.relative_to(root).as_posix()
        if not is_clean(relative):
            # A name that is not UTF-8 (decoded with surrogates) or holds control characters: refused,
            # not cleaned, since cleaning could make it another file's external_id.
            yield (
                relative.encode("utf-8", "replace").decode(),
                UnreadableDocument(
                    "the file name is not UTF-8 text (or holds control characters): rename the file"
                ),
            )
            continue
        try:
            read = read_file(path.name, path.read_bytes())
            yield relative, Article(external_id=relative, title=read.title, text=read.text)
        except (UnreadableDocument, OSError) as exc:
            yield relative, UnreadableDocument(str(exc))


def read_jsonl(path: Path) -> Iterator[tuple[str, Article | UnreadableDocument]]:
    """Each line of a JSONL file: `{"id", "title", "text", "url"?}`, keyed "line N"."""
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            where = f"line {number}"
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                yield where, UnreadableDocument("not JSON: one document per line, as a JSON object")
                continue
            if not isinstance(item, dict):
                yield where, UnreadableDocument('a line must be an object {"id", "title", "text", "url"?}')
                continue
            doc_id, title, text, url = (
                item.get("id"),
                item.get("title"),
                item.get("text"),
                item.get("url", ""),
            )
            if isinstance(doc_id, int) and not isinstance(doc_id, bool):
                doc_id = str(doc_id)
            problems = [
                name
                for name, value in (("id", doc_id), ("title", title), ("text", text))
                if not isinstance(value, str) or not value.strip()
            ]
            if problems or not isinstance(url, str | None):
                yield (
                    where,
                    UnreadableDocument(
                        f"{', '.join(problems) or 'url'} must be a non-empty string"
                        if problems
                        else "url must be a string"
                    ),
                )
                continue
            external_id = clean_text(doc_id).strip()[:500]
            yield where, Article(external_id=external_id, title=title, text=text, url=url or "")


def import_knowledge(
    path: Path,
    *,
    use_case: UseCase | None = None,
    progress: Callable[[Iterable], Iterable] = lambda items: items,
) -> ImportReport:
    """Import a folder of articles or a JSONL file into its source; see `python manage.py import_knowledge`."""
    path = path.expanduser().resolve()
    if path.is_dir():
        kind, articles = Source.Kind.FOLDER, list(read_folder(path))
    elif path.is_file() and path.suffix.lower() == ".jsonl":
        kind, articles = Source.Kind.JSONL, list(read_jsonl(path))
    elif path.exists():
        raise KnowledgeImportError(f"{path} is neither a folder nor a .jsonl file")
    else:
        raise KnowledgeImportError(f"{path} does not exist")
    source, _ = Source.objects.get_or_create(
        kind=kind, location=str(path), defaults={"name": path.name[:NAME_MAX_CHARS] or str(path)[:200]}
    )
    report = ImportReport(source=source)
    seen: set[str] = set()
    for where, article in progress(articles):
        if isinstance(article, UnreadableDocument):
            report.errors.append((where, str(article)))
            continue
        if article.external_id in seen:
            report.errors.append((where, f"id {article.external_id!r} is already used above: ids are unique"))
            continue
        try:
            outcome = save_article(source, article)
        except UnreadableDocument as exc:
            report.errors.append((where, str(exc)))
            continue
        seen.add(article.external_id)
        setattr(report, outcome, getattr(report, outcome) + 1)
    if report.added or report.updated:
        refresh_statistics()
    report.passages = Passage.objects.filter(document__source=source).count()
    report.missing = list(
        source.documents.exclude(external_id__in=seen).values_list("external_id", flat=True)
    )
    if use_case is not None:
        scope, _ = UseCaseKnowledge.objects.get_or_create(use_case=use_case)
        scope.documents.add(*source.documents.filter(external_id__in=seen))
    return report

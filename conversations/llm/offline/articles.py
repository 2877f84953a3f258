"""The offline engine's grounded answers: the sentences of the best article passage that answer a question.

The runtime puts the passages that cleared the use case's threshold in the prompt's articles section
(`ARTICLES_HEADING`, numbered "[1] Title > Section"), or a note that none did. A general question is
answered from passage [1] with its citation mark; with no passage the engine says it doesn't have
that in the articles and offers a person. It never makes a number or a policy up.
"""

import re
from dataclasses import dataclass

from infra.embeddings import similarity

from ..base import ARTICLES_HEADING, NO_ARTICLE_NOTE
from .reading import content_words

_SECTION = re.compile(rf"^{re.escape(ARTICLES_HEADING)}\n(.*?)(?=\n# |\Z)", re.M | re.S)
_ENTRY = re.compile(r"^\[(\d{1,2})\] (.*)$", re.M)
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")
SENTENCES_IN_ANSWER = 2
LIST_ITEMS_IN_ANSWER = 8


@dataclass(frozen=True)
class Passage:
    number: int
    heading: str
    text: str


def read_articles(system: str) -> list[Passage] | None:
    """The passages of the prompt's articles section; [] when it says none answers; None without one."""
    match = _SECTION.search(system)
    if not match:
        return None
    body = match.group(1)
    if NO_ARTICLE_NOTE in body:
        return []
    entries = list(_ENTRY.finditer(body))
    passages = []
    for n, entry in enumerate(entries):
        end = entries[n + 1].start() if n + 1 < len(entries) else len(body)
        passages.append(
            Passage(
                number=int(entry.group(1)),
                heading=entry.group(2).strip(),
                text=body[entry.end() : end].strip(),
            )
        )
    return passages


_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def _units(text: str) -> list[str]:
    """The passage's sentences, a list item counting as one; Markdown emphasis and links as plain words."""
    text = _LINK.sub(r"\1", text).replace("**", "").replace("__", "")
    return [u.strip(" \t") for u in _SENTENCES.split(text) if u.strip(" \t*-")]


def answer_from(question: str, passage: Passage) -> str:
    """The sentences of `passage` that answer `question`, in the passage's order, with its citation.

    A sentence that introduces a list (ends with ":") brings the list's items along.
    """
    units = _units(passage.text)
    if not units:
        return ""
    asked = content_words(question)
    scores = similarity(question, units)
    ranked = sorted(
        range(len(units)),
        key=lambda i: (-(scores[i] + 0.1 * len(asked & content_words(units[i]))), i),
    )
    chosen = set(ranked[:SENTENCES_IN_ANSWER])
    # A second sentence only when it is about as relevant as the first.
    if len(ranked) > 1 and scores[ranked[1]] < scores[ranked[0]] - 0.15:
        chosen.discard(ranked[1])
    for i in sorted(chosen):
        if units[i].endswith(":"):
            items = [j for j in range(i + 1, len(units)) if units[j].lstrip().startswith(("*", "-"))]
            chosen.update(items[:LIST_ITEMS_IN_ANSWER])
    said = []
    for i in sorted(chosen):
        unit = units[i]
        said.append(("- " + unit.lstrip("*- ").strip()) if unit.lstrip().startswith(("*", "-")) else unit)
    joined = " ".join(s for s in said if not s.startswith("- "))
    items = [s for s in said if s.startswith("- ")]
    answer = joined + ("\n" + "\n".join(items) if items else "")
    return f"{answer.strip()} [{passage.number}]"

"""Articles to passages: sections that keep their headings, cut at paragraph then sentence ends.

A passage is what search ranks and what the AI cites, so each one must make sense alone: it
carries its heading path ("Returns > Refund timing"), and a long section is cut into parts that
each repeat it.
"""

import re
from dataclasses import dataclass

# Words per passage: short enough to match one question, long enough to hold a whole rule.
MAX_WORDS = 180
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*])")


@dataclass(frozen=True)
class Chunk:
    section: str
    text: str


def _words(text: str) -> int:
    return len(text.split())


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _pieces(body: str) -> list[str]:
    """Paragraphs of the body, each cut at sentence ends when longer than a passage."""
    out = []
    for paragraph in re.split(r"\n\s*\n", body):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if _words(paragraph) <= MAX_WORDS:
            out.append(paragraph)
            continue
        sentences = _SENTENCE_END.split(paragraph)
        for sentence in sentences:
            words = sentence.split()
            # A sentence longer than a passage (a run-on list) is cut by words.
            out.extend(" ".join(words[i : i + MAX_WORDS]) for i in range(0, len(words), MAX_WORDS))
    return out


def _pack(pieces: list[str]) -> list[str]:
    """Consecutive pieces joined while they fit in one passage."""
    parts: list[str] = []
    for piece in pieces:
        if parts and _words(parts[-1]) + _words(piece) <= MAX_WORDS:
            parts[-1] = parts[-1] + "\n\n" + piece
        else:
            parts.append(piece)
    return parts


def chunk(title: str, text: str) -> list[Chunk]:
    """The passages of a Markdown or plain-text article titled `title`, in reading order."""
    stack: list[tuple[int, str]] = []
    sections: list[tuple[list[str], list[str]]] = [([], [])]
    for line in text.splitlines():
        match = _HEADING.match(line.strip())
        if match:
            level, heading = len(match.group(1)), match.group(2).strip()
            stack = [(lvl, h) for lvl, h in stack if lvl < level] + [(level, heading)]
            sections.append(([h for _, h in stack], []))
        else:
            sections[-1][1].append(line)
    chunks = []
    for headings, lines in sections:
        body = "\n".join(lines).strip()
        if not body:
            continue
        # The title is the first part of every path; a top heading that repeats it is not said twice.
        path = [h for h in headings if _normal(h) != _normal(title)]
        # A body whose first line is the title (a PDF's or a text file's own title line) already says it.
        if title and _normal(body.splitlines()[0]) != _normal(title):
            path = [title, *path]
        section = " > ".join(path)
        chunks.extend(Chunk(section=section[:500], text=part) for part in _pack(_pieces(body)))
    if not chunks and title:
        # An article that is only a heading still answers to its title.
        chunks.append(Chunk(section="", text=title))
    return chunks

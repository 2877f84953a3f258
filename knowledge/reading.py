"""Files to article text: Markdown and plain text as they are, HTML sanitised to text, PDF through pypdf.

Every reader returns Markdown-like text whose `#` lines are the headings, so one chunker serves all.
"""

import io
import re
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = (".md", ".markdown", ".html", ".htm", ".txt", ".pdf")


class UnreadableDocument(ValueError):
    """A file that is not an article we can read; the message says why."""


@dataclass(frozen=True)
class ReadDocument:
    title: str
    text: str


_BLOCKS = ("p", "div", "section", "article", "tr", "table", "ul", "ol", "blockquote", "pre", "br")
_DROPPED = ("script", "style", "noscript", "template", "iframe", "svg", "nav", "header", "footer", "form")


def read_html(markup: str) -> ReadDocument:
    """The visible text of an HTML page, headings as `#` lines and list items as `*` lines.

    Scripts, styles, navigation and forms are dropped: nothing executable or decorative reaches
    a passage (or a customer).
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(_DROPPED):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.title:
        soup.title.decompose()
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            tag.replace_with(f"\n\n{'#' * level} {tag.get_text(' ', strip=True)}\n\n")
    for tag in soup.find_all("li"):
        tag.replace_with(f"\n* {tag.get_text(' ', strip=True)}\n")
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    text = soup.get_text()
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not title:
        first = re.search(r"^#+ (.+)$", text, re.M)
        title = first.group(1) if first else ""
    return ReadDocument(title=title, text=text)


def read_pdf(data: bytes) -> ReadDocument:
    """The text of a PDF's pages, a blank line between pages; its title from the PDF's metadata."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableDocument(f"not a readable PDF ({exc})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise UnreadableDocument(
            "the PDF has no text layer (a scan?): export it with text, or paste the text"
        )
    return ReadDocument(title=title, text=text)


def _first_heading(text: str) -> str:
    match = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)
    return match.group(1).strip() if match else ""


def read_file(name: str, data: bytes) -> ReadDocument:
    """The article in a file, by its suffix; the title falls back to the first heading, then the name."""
    suffix = Path(name).suffix.lower()
    if suffix == ".pdf":
        document = read_pdf(data)
    else:
        try:
            raw = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UnreadableDocument("not UTF-8 text: save the file as UTF-8") from None
        if suffix in (".html", ".htm"):
            document = read_html(raw)
        elif suffix in (".md", ".markdown", ".txt"):
            document = ReadDocument(title="", text=raw.strip())
        else:
            raise UnreadableDocument(f"{suffix or 'no suffix'}: give a .md, .html, .txt or .pdf file")
    title = (
        document.title or _first_heading(document.text) or Path(name).stem.replace("-", " ").replace("_", " ")
    )
    return ReadDocument(title=title.strip()[:300], text=document.text)

"""Builders for knowledge tests: real PDFs, the import command, the search API and the admin's forms."""

import json
import uuid
from io import StringIO
from pathlib import Path

from bs4 import BeautifulSoup
from django.core.management import call_command
from django.test import Client

from conversations.api_tokens import create_api_token


def pdf_bytes(*lines: str, title: str = "") -> bytes:
    """A one-page PDF with `lines` as real text (Helvetica), and `title` in its metadata when given."""

    def escaped(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({escaped(line)}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if title:
        objects.append(f"<< /Title ({escaped(title)}) >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    info = f" /Info {len(objects)} 0 R" if title else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    """`files` (relative path → content) written under `root`, folders made as needed."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def import_knowledge(path: Path, *args: str) -> tuple[str, str]:
    """Run `manage.py import_knowledge PATH ARGS`; its stdout and stderr."""
    out, err = StringIO(), StringIO()
    call_command("import_knowledge", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def post_search(body: object, token: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return Client().post("/api/knowledge/search", data, content_type="application/json", **headers)


def search(query: str, **fields: object) -> list[dict]:
    """The passages `POST /api/knowledge/search` returns for `query`, as a client with a token sees them."""
    token = create_api_token(name=f"search-{uuid.uuid4().hex[:12]}").raw
    response = post_search({"query": query, **fields}, token)
    assert response.status_code == 200, response.content
    return response.json()["passages"]


def found_texts(query: str, **fields: object) -> str:
    """Every passage text search returns for `query`, joined: what a reader of the results would see."""
    return "\n".join(p["text"] for p in search(query, k=50, **fields))


def form_data(page) -> dict[str, object]:
    """The fields of the admin page's main form as a browser would submit them untouched."""
    soup = BeautifulSoup(page.content.decode(), "html.parser")
    form = soup.find("form", id=lambda v: v and v.endswith("_form"))
    data: dict[str, object] = {}
    for field in form.find_all(["input", "textarea", "select"]):
        name = field.get("name")
        kind = field.get("type", "")
        if (
            not name
            or kind in ("submit", "file", "button")
            or (kind in ("checkbox", "radio") and not field.has_attr("checked"))
        ):
            continue
        if field.name == "textarea":
            data[name] = field.text.removeprefix("\n")
        elif field.name == "select":
            chosen = field.find("option", selected=True) or field.find("option")
            data[name] = chosen.get("value", "") if chosen else ""
        else:
            data[name] = field.get("value", "")
    return data

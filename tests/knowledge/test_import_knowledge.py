import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from knowledge.models import Document, Passage, Source, UseCaseKnowledge
from tests.knowledge.builders import found_texts, import_knowledge, pdf_bytes, search, write_files

pytestmark = pytest.mark.django_db

RETURNS_MD = """# Returns

Anything bought in our store can come back.

## Refund timing

Refunds reach your card within 5 business days of the parcel arriving at our warehouse.

## Damaged items

Send a photo of the damage and we ship a replacement the same day.
"""

SHIPPING_HTML = """<!doctype html>
<html><head><title>Shipping</title>
<style>body { color: red; }</style>
<script>alert("steal cookies")</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/faq">Navigation menu link</a></nav>
<h1>Shipping</h1>
<h2>Rates</h2>
<p>Shipping is <b>free</b> on orders over <i>$50</i>.</p>
<ul><li>Standard: 3 to 5 days</li><li>Express: next day</li></ul>
<script>trackVisitor()</script>
</body></html>
"""

FOLDER = {
    "returns.md": RETURNS_MD,
    "help/shipping.html": SHIPPING_HTML,
    "help/store/opening-hours.txt": "The store in Reno opens at 9am and closes at 6pm, Monday to Saturday.",
    "manuals/kettle.pdf": pdf_bytes(
        "Every kettle has a two year warranty.", "Keep your receipt to claim it.", title="Kettle warranty"
    ),
    "help/notes.docx": b"PK\x03\x04 not an article we read",
    "help/logo.png": b"\x89PNG\r\n\x1a\n",
}


def passages_of(external_id: str) -> list[tuple[str, str]]:
    return list(Passage.objects.filter(document__external_id=external_id).values_list("section", "text"))


def test_a_folder_imports_every_readable_article_with_its_relative_path_and_a_progress_bar(tmp_path):
    out, err = import_knowledge(write_files(tmp_path / "kb", FOLDER))
    assert "4 document(s) added, 0 updated, 0 unchanged" in out
    assert "importing: 100%" in err and "4/4" in err
    assert set(Document.objects.values_list("external_id", "title")) == {
        ("returns.md", "Returns"),
        ("help/shipping.html", "Shipping"),
        ("help/store/opening-hours.txt", "opening hours"),
        ("manuals/kettle.pdf", "Kettle warranty"),
    }
    assert not Document.objects.filter(external_id__contains="docx").exists()
    assert Source.objects.get().kind == Source.Kind.FOLDER


def test_markdown_sections_keep_their_headings(tmp_path):
    import_knowledge(write_files(tmp_path, {"returns.md": RETURNS_MD}))
    sections = dict(passages_of("returns.md"))
    assert sections["Returns > Refund timing"].startswith("Refunds reach your card within 5 business days")
    assert sections["Returns > Damaged items"].startswith("Send a photo of the damage")
    assert "Refunds reach" not in sections["Returns > Damaged items"]
    [first] = search("How long until my refund reaches my card?", k=1)
    assert first["section"] == "Returns > Refund timing" and first["document"]["external_id"] == "returns.md"


def test_html_keeps_headings_and_visible_text_only(tmp_path):
    import_knowledge(write_files(tmp_path, {"shipping.html": SHIPPING_HTML}))
    [(section, text)] = passages_of("shipping.html")
    assert section == "Shipping > Rates"
    assert text.startswith("Shipping is free on orders over $50.")
    assert "* Standard: 3 to 5 days" in text and "* Express: next day" in text
    for absent in ("<", "alert", "steal", "trackVisitor", "color: red", "Navigation menu", "Home"):
        assert absent not in text, absent


def test_a_pdf_is_read_through_its_text_layer(tmp_path):
    import_knowledge(write_files(tmp_path, {"kettle.pdf": FOLDER["manuals/kettle.pdf"]}))
    [(section, text)] = passages_of("kettle.pdf")
    assert section == "Kettle warranty"
    assert "Every kettle has a two year warranty." in text and "Keep your receipt to claim it." in text
    assert search("warranty on kettles", k=1)[0]["document"]["title"] == "Kettle warranty"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"%PDF-nope", "scan.pdf: not a readable PDF"),
        (pdf_bytes(), "scan.pdf: the PDF has no text layer (a scan?)"),
    ],
)
def test_an_unreadable_pdf_is_reported_and_the_others_imported(tmp_path, data, why):
    root = write_files(tmp_path, {"good.md": "# Gift cards\n\nGift cards never expire.", "scan.pdf": data})
    err = StringIO()
    with pytest.raises(CommandError, match="1 document"):
        call_command("import_knowledge", str(root), "--no-color", stdout=StringIO(), stderr=err)
    assert why in err.getvalue()
    assert list(Document.objects.values_list("external_id", flat=True)) == ["good.md"]


def test_reimporting_the_same_folder_adds_nothing(tmp_path):
    root = write_files(tmp_path, FOLDER)
    import_knowledge(root)
    before = list(Passage.objects.order_by("id").values_list("id", "document_id", "text"))
    documents = list(Document.objects.order_by("id").values_list("id", "updated_at"))
    out, _ = import_knowledge(root)
    assert "0 document(s) added, 0 updated, 4 unchanged" in out
    assert list(Passage.objects.order_by("id").values_list("id", "document_id", "text")) == before
    assert list(Document.objects.order_by("id").values_list("id", "updated_at")) == documents
    assert Source.objects.count() == 1 and "no longer" not in out


def test_a_changed_file_replaces_its_passages(tmp_path):
    root = write_files(tmp_path, FOLDER)
    import_knowledge(root)
    kept = set(Passage.objects.exclude(document__external_id="returns.md").values_list("id", flat=True))
    assert "5 business days" in found_texts("refund timing")
    (root / "returns.md").write_text(RETURNS_MD.replace("within 5 business days", "within 12 hours"))
    out, _ = import_knowledge(root)
    assert "0 document(s) added, 1 updated, 3 unchanged" in out
    texts = found_texts("refund timing")
    assert "within 12 hours" in texts and "5 business days" not in texts
    assert (
        set(Passage.objects.exclude(document__external_id="returns.md").values_list("id", flat=True)) == kept
    )
    assert Document.objects.filter(external_id="returns.md").count() == 1


def test_a_removed_file_is_reported_and_can_be_deleted_in_the_admin(tmp_path, admin_client):
    root = write_files(tmp_path, FOLDER)
    import_knowledge(root)
    (root / "help/store/opening-hours.txt").unlink()
    out, _ = import_knowledge(root)
    assert "1 document(s) of this source are no longer in" in out and "help/store/opening-hours.txt" in out
    gone = Document.objects.get(external_id="help/store/opening-hours.txt")
    assert "opens at 9am" in found_texts("when does the store open")
    response = admin_client.post(f"/admin/knowledge/document/{gone.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Passage.objects.filter(document_id=gone.pk).exists()
    assert "opens at 9am" not in found_texts("when does the store open")
    out, _ = import_knowledge(root)
    assert "no longer" not in out and "0 document(s) added" in out


JSONL = [
    {
        "id": "kb-1",
        "title": "Gift cards",
        "text": "Gift cards never expire.",
        "url": "https://help.example.com/gift",
    },
    {"id": 2, "title": "Price match", "text": "We match any lower price within 14 days of purchase."},
]


def write_jsonl(tmp_path, lines) -> str:
    path = tmp_path / "articles.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_a_jsonl_file_imports_one_document_per_line(tmp_path):
    out, err = import_knowledge(write_jsonl(tmp_path, JSONL))
    assert "2 document(s) added" in out and "importing: 100%" in err
    assert set(Document.objects.values_list("external_id", "title", "url")) == {
        ("kb-1", "Gift cards", "https://help.example.com/gift"),
        ("2", "Price match", ""),
    }
    assert Source.objects.get().kind == Source.Kind.JSONL
    [first] = search("do gift cards expire", k=1)
    assert first["document"] == {
        "id": Document.objects.get(external_id="kb-1").id,
        "external_id": "kb-1",
        "title": "Gift cards",
        "url": "https://help.example.com/gift",
    }
    out, _ = import_knowledge(write_jsonl(tmp_path, JSONL))
    assert "0 document(s) added, 0 updated, 2 unchanged" in out


def test_bad_and_duplicate_jsonl_lines_are_reported_by_number_and_the_good_ones_imported(tmp_path):
    path = write_jsonl(
        tmp_path,
        [
            JSONL[0],
            "{broken json",
            {"id": "kb-3", "title": "No text"},
            {"id": "kb-1", "title": "Gift cards again", "text": "Another text."},
            {"id": "kb-4", "title": "Bad url", "text": "x", "url": "javascript:alert(1)"},
            ["not", "an", "object"],
            "",
            JSONL[1],
        ],
    )
    err = StringIO()
    with pytest.raises(CommandError, match="5 document"):
        call_command("import_knowledge", str(path), "--no-color", stdout=StringIO(), stderr=err)
    report = err.getvalue()
    assert "line 2: not JSON" in report
    assert "line 3: text must be a non-empty string" in report
    assert "line 4: id 'kb-1' is already used above" in report
    assert "line 5: url must start with https://" in report
    assert "line 6: a line must be an object" in report
    assert "line 7" not in report
    assert set(Document.objects.values_list("external_id", "title")) == {
        ("kb-1", "Gift cards"),
        ("2", "Price match"),
    }


def test_use_case_scopes_the_imported_documents(tmp_path, offline_use_case):
    import_knowledge(write_files(tmp_path / "kb", {"returns.md": RETURNS_MD}), "--use-case", "store-help")
    import_knowledge(write_jsonl(tmp_path, JSONL))
    scope = UseCaseKnowledge.objects.get(use_case=offline_use_case)
    assert list(scope.documents.values_list("external_id", flat=True)) == ["returns.md"]
    assert {p["document"]["external_id"] for p in search("gift cards", use_case="store-help")} == {
        "returns.md"
    }


def test_an_unknown_use_case_is_refused_naming_the_known_ones(tmp_path, offline_use_case):
    root = write_files(tmp_path, {"returns.md": RETURNS_MD})
    before = Document.objects.count()  # the fixture's store articles
    with pytest.raises(CommandError, match=r"no use case 'shop' \(known: store-help\)"):
        import_knowledge(root, "--use-case", "shop")
    assert Document.objects.count() == before


@pytest.mark.parametrize("path", ["missing", "notes.txt"])
def test_a_path_that_is_neither_a_folder_nor_jsonl_is_refused(tmp_path, path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CommandError, match="does not exist|neither a folder nor a .jsonl"):
        import_knowledge(tmp_path / path)


def test_control_characters_and_nul_in_files_are_dropped(tmp_path):
    root = write_files(
        tmp_path,
        {
            "nul.md": "# Lay\x00away\n\nLayaway holds\x00 an item for 30\x07 days.\r\nPay in three parts.\x1b[0m",
            "nul.html": "<h1>Care\x00</h1><p>Wash the\x00 kettle\x0b with vinegar.</p>",
            "nul.txt": b"Bulk\x00 orders\x01 ship by freight.",
            "latin1.txt": "Caf\xe9 opening hours".encode("latin-1"),
        },
    )
    with pytest.raises(CommandError, match="1 document"):
        call_command(
            "import_knowledge", str(root), "--no-color", stdout=StringIO(), stderr=(err := StringIO())
        )
    assert "latin1.txt: not UTF-8 text: save the file as UTF-8" in err.getvalue()
    stored = "\n".join(
        title + section + text
        for title, section, text in Passage.objects.values_list("document__title", "section", "text")
    )
    for control in ("\x00", "\x07", "\x1b", "\x0b", "\x01", "\r"):
        assert control not in stored
    assert set(Document.objects.values_list("title", flat=True)) == {"Layaway", "Care", "nul"}
    assert "Layaway holds an item for 30 days.\nPay in three parts." in stored
    assert "Wash the kettle with vinegar." in stored and "Bulk orders ship by freight." in stored
    assert "Layaway holds an item" in found_texts("layaway")


def test_a_file_name_that_is_not_utf8_is_reported_and_the_others_imported(tmp_path):
    write_files(tmp_path, {"gift.md": "# Gift cards\n\nGift cards never expire."})
    (tmp_path / "caf\udce9.md").write_bytes(b"# Cafe\n\nOur cafe serves tea.")
    with pytest.raises(CommandError, match="1 document"):
        call_command(
            "import_knowledge", str(tmp_path), "--no-color", stdout=StringIO(), stderr=(err := StringIO())
        )
    assert "not UTF-8" in err.getvalue()
    assert list(Document.objects.values_list("external_id", flat=True)) == ["gift.md"]

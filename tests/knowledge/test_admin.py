import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from knowledge import services
from knowledge.models import Document, Passage, Source
from tests.knowledge.builders import form_data, found_texts, pdf_bytes, search

pytestmark = pytest.mark.django_db

ADD = "/admin/knowledge/document/add/"


def upload(client, name: str, data: bytes, **fields: str):
    """Submit the admin's add form as a browser does: its fields untouched, a file chosen, and `fields`."""
    page = client.get(ADD)
    assert page.status_code == 200
    return client.post(ADD, {**form_data(page), "upload": SimpleUploadedFile(name, data), **fields})


def change(client, document: Document, **fields: str):
    url = f"/admin/knowledge/document/{document.pk}/change/"
    return client.post(url, {**form_data(client.get(url)), **fields})


def test_an_uploaded_markdown_file_is_searchable_at_once(admin_client):
    response = upload(
        admin_client, "gift-cards.md", b"# Gift cards\n\n## Expiry\n\nGift cards never expire, even unused."
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    document = Document.objects.get()
    assert (document.title, document.external_id, document.source.kind) == (
        "Gift cards",
        "gift-cards.md",
        Source.Kind.UPLOAD,
    )
    [first] = search("do gift cards expire", k=1)
    assert (
        first["section"] == "Gift cards > Expiry" and first["text"] == "Gift cards never expire, even unused."
    )
    assert first["document"]["id"] == document.id


def test_an_uploaded_pdf_is_searchable_at_once(admin_client):
    data = pdf_bytes("Every kettle has a two year warranty.", title="Kettle warranty")
    response = upload(admin_client, "kettle.pdf", data)
    assert response.status_code == 302
    assert Document.objects.get().title == "Kettle warranty"
    assert (
        search("how long is the kettle warranty", k=1)[0]["text"] == "Every kettle has a two year warranty."
    )


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("manual.pdf", b"<html>this is not a PDF</html>", "manual.pdf: not a readable PDF"),
        (
            "notes.docx",
            b"PK\x03\x04 word document",
            "notes.docx: .docx: give a .md, .html, .txt or .pdf file",
        ),
        ("latin1.txt", "Caf\xe9".encode("latin-1"), "latin1.txt: not UTF-8 text"),
    ],
)
def test_an_unreadable_upload_is_refused_on_the_form_and_stores_nothing(admin_client, name, data, error):
    response = upload(admin_client, name, data)
    assert response.status_code == 200
    assert error in " ".join(response.context["adminform"].form.non_field_errors())
    assert Document.objects.count() == 0 and Passage.objects.count() == 0


def test_uploading_the_same_file_name_twice_points_to_the_first(admin_client):
    upload(admin_client, "gift-cards.md", b"# Gift cards\n\nGift cards never expire.")
    response = upload(admin_client, "gift-cards.md", b"# Gift cards\n\nGift cards expire after a year.")
    assert response.status_code == 200
    assert "added in the admin already" in " ".join(response.context["adminform"].form.non_field_errors())
    assert "expire after a year" not in found_texts("gift cards")


def test_control_characters_and_nul_in_an_upload_are_dropped(admin_client):
    response = upload(
        admin_client, "layaway.md", b"# Lay\x00away\n\nLayaway holds\x00 an item\x07 for 30 days."
    )
    assert response.status_code == 302
    document = Document.objects.get()
    assert document.title == "Layaway" and "\x00" not in document.text and "\x07" not in document.text
    assert "Layaway holds an item for 30 days." in found_texts("layaway")


def test_an_article_typed_in_the_admin_without_a_file_is_searchable(admin_client):
    page = admin_client.get(ADD)
    response = admin_client.post(
        ADD, {**form_data(page), "title": "Price match", "text": "We match any lower price within 14 days."}
    )
    assert response.status_code == 302
    assert Document.objects.get().external_id == "price-match"
    assert "We match any lower price within 14 days." in found_texts("price match")


def test_editing_a_documents_text_rechunks_it(admin_client):
    upload(admin_client, "returns.md", b"# Returns\n\n## Refund timing\n\nRefunds take 5 business days.")
    document = Document.objects.get()
    old_ids = set(document.passages.values_list("id", flat=True))
    response = change(
        admin_client,
        document,
        text="# Returns\n\n## Refund timing\n\nRefunds take 12 hours.\n\n## Damaged items\n\nSend us a photo.",
    )
    assert response.status_code == 302
    assert list(document.passages.values_list("section", "text")) == [
        ("Returns > Refund timing", "Refunds take 12 hours."),
        ("Returns > Damaged items", "Send us a photo."),
    ]
    assert not old_ids & set(document.passages.values_list("id", flat=True))
    texts = found_texts("refund timing")
    assert "Refunds take 12 hours." in texts and "5 business days" not in texts


def test_saving_a_document_unchanged_keeps_its_passages(admin_client):
    upload(admin_client, "returns.md", b"# Returns\n\nRefunds take 5 business days.")
    document = Document.objects.get()
    ids = list(document.passages.values_list("id", flat=True))
    assert change(admin_client, document).status_code == 302
    assert list(document.passages.values_list("id", flat=True)) == ids


def test_a_draft_is_never_found_until_published_with_the_admin_action(admin_client):
    draft = services.draft_article(
        title="Layaway", text="Layaway holds an item for 30 days.", external_id="gap-1"
    )
    assert draft.status == Document.Status.DRAFT
    assert "Layaway holds" not in found_texts("layaway")
    response = admin_client.post(
        "/admin/knowledge/document/", {"action": "publish", "_selected_action": [draft.pk]}
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == Document.Status.PUBLISHED
    assert search("layaway", k=1)[0]["text"] == "Layaway holds an item for 30 days."


def test_setting_a_document_back_to_draft_in_the_admin_hides_it(admin_client):
    upload(admin_client, "layaway.md", b"# Layaway\n\nLayaway holds an item for 30 days.")
    assert "Layaway holds" in found_texts("layaway")
    assert change(admin_client, Document.objects.get(), status=Document.Status.DRAFT).status_code == 302
    assert "Layaway holds" not in found_texts("layaway")


def test_deleting_documents_in_the_admin_removes_their_passages(admin_client):
    upload(admin_client, "layaway.md", b"# Layaway\n\nLayaway holds an item for 30 days.")
    upload(admin_client, "gift.md", b"# Gift cards\n\nGift cards never expire.")
    layaway, gift = (
        Document.objects.get(external_id="layaway.md"),
        Document.objects.get(external_id="gift.md"),
    )
    response = admin_client.post(f"/admin/knowledge/document/{layaway.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Passage.objects.filter(document_id=layaway.pk).exists()
    assert "Layaway holds" not in found_texts("layaway")
    response = admin_client.post(
        "/admin/knowledge/document/",
        {"action": "delete_selected", "_selected_action": [gift.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert Document.objects.count() == 0 and Passage.objects.count() == 0
    assert search("gift cards") == []


@pytest.mark.parametrize("path", ["/admin/knowledge/document/", ADD, "/admin/knowledge/source/"])
def test_users_who_are_not_staff_are_sent_to_the_login(client, path):
    client.force_login(User.objects.create_user("agent", password="pw-123456"))
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_user_who_is_not_staff_cannot_upload(client):
    client.force_login(User.objects.create_user("agent", password="pw-123456"))
    response = client.post(
        ADD, {"upload": SimpleUploadedFile("x.md", b"# X\n\nText."), "status": "published"}
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Document.objects.count() == 0

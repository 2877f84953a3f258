from django import forms
from django.contrib import admin, messages
from django.utils.text import slugify

from infra.text import ARTICLE_MAX_CHARS, TextTooLong, checked_text

from . import services
from .models import Document, Passage, Source, UseCaseKnowledge
from .reading import SUFFIXES, UnreadableDocument, read_file

UPLOAD_MAX_BYTES = 20 * 1024 * 1024


class DocumentForm(forms.ModelForm):
    upload = forms.FileField(
        required=False,
        help_text="A .md, .html, .txt or .pdf file: its title and text fill the fields below.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(SUFFIXES)}),
    )

    # A link typed without a scheme is https (Django 6's default).
    url = forms.URLField(required=False, max_length=1000, assume_scheme="https")

    class Meta:
        model = Document
        fields = ("upload", "title", "url", "status", "text")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # An upload brings its own title and text.
        self.fields["title"].required = False
        self.fields["text"].required = False

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload:
            if upload.size > UPLOAD_MAX_BYTES:
                raise forms.ValidationError(
                    "The file is over 20 MB: split it, or import it with import_knowledge."
                )
            try:
                read = read_file(upload.name, upload.read())
            except UnreadableDocument as exc:
                raise forms.ValidationError(f"{upload.name}: {exc}") from None
            cleaned["title"] = cleaned.get("title") or read.title
            cleaned["text"] = read.text
        # As an import does: a file's NUL would fail the save, other control characters are noise.
        try:
            cleaned["title"] = checked_text(cleaned.get("title") or "", limit=300, what="The title")
            cleaned["text"] = checked_text(
                cleaned.get("text") or "", limit=ARTICLE_MAX_CHARS, what="The text"
            )
        except TextTooLong as exc:
            raise forms.ValidationError(str(exc)) from None
        if not cleaned.get("title") or not (cleaned.get("text") or "").strip():
            raise forms.ValidationError("Upload a file, or give a title and the text.")
        if not self.instance.pk:
            external_id = upload.name if upload else slugify(cleaned["title"])[:200] or "article"
            if Document.objects.filter(source=services.upload_source(), external_id=external_id).exists():
                raise forms.ValidationError(
                    f"An article {external_id!r} was added in the admin already: open it and edit it."
                )
            self.instance.external_id = external_id
        return cleaned


class PassageInline(admin.TabularInline):
    model = Passage
    fields = ("position", "section", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    form = DocumentForm
    list_display = ("title", "status", "source", "external_id", "passage_count", "updated_at")
    list_filter = ("status", "source")
    search_fields = ("title", "external_id", "text")
    inlines = [PassageInline]
    actions = ["publish"]

    @admin.display(description="passages")
    def passage_count(self, obj: Document) -> int:
        return obj.passages.count()

    def save_model(self, request, obj: Document, form, change) -> None:
        if not change:
            obj.source = services.upload_source()
        obj.title = form.cleaned_data["title"]
        obj.text = form.cleaned_data["text"]
        super().save_model(request, obj, form, change)
        services.document_saved_in_admin(obj)

    @admin.action(description="Publish: the AI may answer from them")
    def publish(self, request, queryset) -> None:
        count = services.publish_documents(queryset)
        self.message_user(request, f"{count} document(s) published.", messages.SUCCESS)

    def delete_model(self, request, obj: Document) -> None:
        services.delete_documents(Document.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        services.delete_documents(queryset)


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "location", "document_count", "updated_at")
    list_filter = ("kind",)
    readonly_fields = ("kind", "location")

    @admin.display(description="documents")
    def document_count(self, obj: Source) -> int:
        return obj.documents.count()

    def delete_model(self, request, obj: Source) -> None:
        services.delete_documents(Document.objects.filter(source=obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        services.delete_documents(Document.objects.filter(source__in=queryset))
        super().delete_queryset(request, queryset)


@admin.register(UseCaseKnowledge)
class UseCaseKnowledgeAdmin(admin.ModelAdmin):
    list_display = ("use_case", "answer_threshold", "document_count")
    filter_horizontal = ("documents",)

    @admin.display(description="documents")
    def document_count(self, obj: UseCaseKnowledge) -> str:
        return str(obj.documents.count() or "all")

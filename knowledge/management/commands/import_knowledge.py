"""`python manage.py import_knowledge PATH [--use-case SLUG]`: a folder of articles or a JSONL file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from conversations.models import UseCase
from knowledge import services


class Command(BaseCommand):
    help = (
        "Import articles: a folder of .md, .html, .txt and .pdf files (recursive), or a .jsonl file with "
        'one {"id", "title", "text", "url"?} per line. Re-importing the same content adds nothing.'
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--use-case", help="also let this use case (its slug) answer from these articles")

    def handle(self, *args, path: Path, use_case: str | None = None, **options):
        scope = None
        if use_case:
            scope = UseCase.objects.filter(slug=use_case).first()
            if scope is None:
                known = ", ".join(UseCase.objects.values_list("slug", flat=True)) or "none yet"
                raise CommandError(f"no use case {use_case!r} (known: {known})")
        try:
            report = services.import_knowledge(
                path,
                use_case=scope,
                progress=lambda items: tqdm(items, desc="importing", unit="document", file=self.stderr),
            )
        except services.KnowledgeImportError as exc:
            raise CommandError(str(exc)) from None
        for where, why in report.errors:
            self.stderr.write(self.style.ERROR(f"{where}: {why}"))
        self.stdout.write(
            f"{report.added} document(s) added, {report.updated} updated, {report.unchanged} unchanged; "
            f"{report.passages} passage(s) in {report.source}"
        )
        if report.missing:
            self.stdout.write(
                f"{len(report.missing)} document(s) of this source are no longer in {path}: "
                f"delete them in the admin (Knowledge > Documents) if they are gone for good: "
                + ", ".join(report.missing[:10])
            )
        if report.errors:
            raise CommandError(f"{len(report.errors)} document(s) could not be imported; the others were")

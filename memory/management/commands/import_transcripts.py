"""`python manage.py import_transcripts FILE.jsonl`: one conversation per line; re-importing adds nothing."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from memory import services


class Command(BaseCommand):
    help = "Import transcripts (JSON Lines, one conversation per line) and extract their observations."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        if not file.is_file():
            raise CommandError(f"{file} is not a file")
        try:
            content = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text: {exc}") from None
        # JSON Lines ends lines with \n only: splitlines() would also cut at U+2028, U+0085 and
        # others that JSON allows inside a string, and reject a valid line as two broken ones.
        lines = content.removesuffix("\n").split("\n") if content else []
        imported = added = skipped = 0
        errors: list[str] = []
        for number, line in enumerate(
            tqdm(lines, desc="importing", unit="conversation", file=self.stderr), 1
        ):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                result = services.import_transcript(record=record, line=line)
            except (json.JSONDecodeError, ValueError, RecursionError) as exc:
                errors.append(f"line {number}: {exc}")
                continue
            # Extraction is idempotent: a re-import finds every message already extracted.
            services.extract_observations(
                conversation_id=result.conversation.id, final=True, speakers=result.speakers
            )
            imported += 1 if result.messages_added else 0
            skipped += 0 if result.messages_added else 1
            added += result.messages_added
        for error in errors:
            self.stderr.write(self.style.ERROR(error))
        self.stdout.write(
            f"{imported} conversation(s) imported, {added} message(s) added, {skipped} already imported, "
            f"{len(errors)} line(s) rejected"
        )
        if errors:
            raise CommandError(f"{len(errors)} line(s) could not be imported; the others were")

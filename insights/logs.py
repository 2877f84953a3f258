"""Structured logs: one JSON object per line, with the conversation id when the record carries one.

Select it with `BATON_LOG_FORMAT=json`. Code passes ids as `extra={"conversation_id": ...}`;
the formatter also lifts a UUID that follows the word "conversation" in older plain messages,
so every line about a conversation can be found by its id.
"""

import json
import logging
import re
from datetime import UTC, datetime

_CONVERSATION_IN_TEXT = re.compile(
    r"conversation (?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
_EXTRA_KEYS = ("conversation_id", "handoff_id", "alert_id", "use_case", "channel", "handler")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key in _EXTRA_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = str(value)
        if "conversation_id" not in entry:
            found = _CONVERSATION_IN_TEXT.search(message)
            if found:
                entry["conversation_id"] = found["id"]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)

"""Input hygiene: the one rule for text that reaches Baton from outside, applied at every entry point.

PostgreSQL refuses NUL in text and psycopg cannot encode a lone surrogate (a JSON "\\ud800" escape), so
either one, stored as sent, fails the whole request: a 500, a socket closed with 1011, a lost
message. Other control characters are invisible noise in the desk and the prompts. Entry points
clean what they receive here and check its length against the limit for its kind.
"""

import re

# One customer or agent message: a web chat frame, a voice prompt, a desk reply.
MESSAGE_MAX_CHARS = 4000
# Twilio joins segments up to 1,600 characters; longer is stored cut, never refused (Twilio would retry).
SMS_MAX_CHARS = 10_000
# One message of an imported transcript (often an email).
TRANSCRIPT_MESSAGE_MAX_CHARS = 50_000
NAME_MAX_CHARS = 200  # Customer.display_name
ADDRESS_MAX_CHARS = 320  # Identity.address
QUERY_MAX_CHARS = 2000  # a recall query
OBSERVATION_MAX_CHARS = 2000
NOTE_MAX_CHARS = 1000  # an agent's note into the customer's memory
DISPOSITION_MAX_CHARS = 200  # Handoff.disposition
ARTICLE_MAX_CHARS = 500_000  # one knowledge article (a long PDF manual)

# C0 controls but tab and newline, DEL, C1 controls, and surrogates (in a str only ever unpaired).
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_END = re.compile("\r\n?")


class TextTooLong(ValueError):
    """Text over the limit of its entry point; the message says what to do."""

    def __init__(self, *, what: str, limit: int, length: int) -> None:
        super().__init__(f"{what} is limited to {limit:,} characters ({length:,} sent): send a shorter one")
        self.what = what
        self.limit = limit
        self.length = length


def clean_text(text: str) -> str:
    """`text` with line ends made `\\n` and every other control character and lone surrogate removed."""
    return _UNWANTED.sub("", _LINE_END.sub("\n", text))


def is_clean(text: str) -> bool:
    """True when `clean_text` would leave `text` as it is: identifiers that are not are refused, not cleaned,
    since cleaning could make one the same as another."""
    return _UNWANTED.search(text) is None


def checked_text(text: str, *, limit: int, what: str) -> str:
    """`text` cleaned and stripped; TextTooLong when what is left is over `limit` characters."""
    cleaned = clean_text(text).strip()
    if len(cleaned) > limit:
        raise TextTooLong(what=what, limit=limit, length=len(cleaned))
    return cleaned


def cut_text(text: str, *, limit: int) -> str:
    """`text` cleaned and stripped, cut to `limit` characters with a note saying so, for an entry point
    that must store what it got rather than refuse it (an SMS, a caller's words)."""
    cleaned = clean_text(text).strip()
    if len(cleaned) <= limit:
        return cleaned
    note = f"\n[cut at {limit:,} characters: {len(cleaned):,} were received]"
    return cleaned[: limit - len(note)].rstrip() + note

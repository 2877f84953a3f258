"""Turning streamed LLM tokens into short pieces text-to-speech can say: whole words, no markdown marks."""

import re

# Emphasis and code marks are read aloud literally ("asterisk") by text-to-speech engines.
_UNSPEAKABLE = re.compile(r"[*`]+")
_SPACE = re.compile(r"\s")


class SpeakableChunker:
    """Buffers tokens until a word ends, so a number or an order id is never spoken in halves."""

    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, token: str) -> str:
        """The speakable piece completed by `token` (whole words with their trailing space), or ""."""
        self.buffer += _UNSPEAKABLE.sub("", token)
        last_space = max((m.start() for m in _SPACE.finditer(self.buffer)), default=-1)
        if last_space < 0:
            return ""
        piece, self.buffer = self.buffer[: last_space + 1], self.buffer[last_space + 1 :]
        piece = _SPACE.sub(" ", piece)
        return piece if piece.strip() else ""

    def flush(self) -> str:
        """Whatever is left at the end of the reply."""
        rest, self.buffer = self.buffer, ""
        return rest

"""Citation marks out of a streamed reply: the customer reads "… within 5 days.", the message records [1].

The LLM (or the offline engine) cites an article passage as "[1]". The marks are taken out as the
reply streams, holding back only what could still turn out to be one (a "[" and up to three more
characters, and the spaces before it), so tokens keep flowing without a visible delay.
"""

import re

from conversations.llm.base import CITATION_MARK

# A mark takes the spaces before it along: "within 5 days [1]." reads "within 5 days."
_MARK = re.compile(r"[ \t]*" + CITATION_MARK.pattern)
_PARTIAL = re.compile(r"[ \t]*\[\d{0,2}$|\s+$")


class CitationFilter:
    def __init__(self) -> None:
        self.numbers: list[int] = []
        self._held = ""

    def feed(self, text: str) -> str:
        """What of the reply so far can be shown now, marks removed."""
        text = self._held + text
        self._held = ""
        text = _MARK.sub(self._take, text)
        partial = _PARTIAL.search(text)
        if partial:
            self._held, text = text[partial.start() :], text[: partial.start()]
        return text

    def flush(self) -> str:
        """The rest at the end of the reply (a "[" that was not a mark after all)."""
        held, self._held = self._held, ""
        return _MARK.sub(self._take, held).rstrip() if held.strip() else ""

    def _take(self, match: re.Match) -> str:
        self.numbers.append(int(match.group(1)))
        return ""

"""The offline extractive summarizer: picks the customer's most telling sentences, no model needed.

It is honest about what it is: the summary quotes the conversation, it does not paraphrase it.
"""

import re
from collections import Counter

from conversations.llm.offline import content_words

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_IDENTIFIER = re.compile(r"#?\b[A-Z]{0,3}\d{4,}\b|\b[\w.+-]+@[\w-]+\.[\w.]+\b")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 3]


def extractive_summary(history: list[tuple[str, str]], *, reason: str = "", max_sentences: int = 3) -> str:
    """A short summary of `history` ((role, text) oldest first) quoting the customer's key sentences."""
    customer = [
        (i, s) for i, (role, text) in enumerate(history) if role == "customer" for s in _sentences(text)
    ]
    if not customer:
        return "The customer has not written anything yet." + (f" Handed off: {reason}." if reason else "")
    frequency = Counter(w for _, s in customer for w in content_words(s))
    scored = []
    for order, (_turn, sentence) in enumerate(customer):
        words = content_words(sentence)
        score = sum(frequency[w] for w in words) / (len(words) ** 0.5 or 1)
        if _IDENTIFIER.search(sentence):
            score += 2  # order ids and emails are what the agent needs first
        if order == 0:
            score += 1.5  # the opening request
        scored.append((score, order, sentence))
    chosen = sorted(sorted(scored, reverse=True)[:max_sentences], key=lambda item: item[1])
    parts = ["Customer said: " + " … ".join(f"“{s}”" for _, _, s in chosen)]
    last_customer = customer[-1][1]
    if last_customer not in {s for _, _, s in chosen}:
        parts.append(f"Latest: “{last_customer}”")
    last_ai = next((text for role, text in reversed(history) if role == "ai"), "")
    if last_ai:
        parts.append(f"The AI last replied: “{last_ai[:240]}”")
    if reason:
        parts.append(f"Handed off: {reason}.")
    return "\n".join(parts)

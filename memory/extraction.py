"""Turning messages into candidate observations: patterns and sentences offline, a JSON prompt with an LLM.

Pure functions over plain data; `memory.services.extract_observations` stores what they return.
"""

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra import entities

logger = logging.getLogger(__name__)

KINDS = ("fact", "preference", "issue", "intent", "sentiment", "commitment")
# Traits a customer has one value of at a time: a newer statement supersedes an older one.
SINGLE_VALUED_TRAITS = ("name", "email", "phone", "address", "zip")


@dataclass(frozen=True)
class Utterance:
    """One message as extraction sees it."""

    source_id: str  # the message's external id (or its id when it has none)
    role: str  # customer, ai, agent
    text: str
    at: datetime
    speaker: str = ""


@dataclass
class Candidate:
    text: str
    kind: str
    confidence: float
    at: datetime
    source_ids: list[str] = field(default_factory=list)
    trait: str = ""
    trait_value: str = ""


_PREFERENCE = re.compile(
    r"\b(i (?:really )?(?:prefer|like|love|enjoy|hate|dislike|can't stand)|i'd rather|i would rather|"
    r"please (?:always|never|don't)|my favou?rite|i'm allergic|i am allergic|i'm vegan|i am vegan)\b",
    re.I,
)
_ISSUE = re.compile(
    r"\b(broken|broke|damaged|defective|doesn't work|does not work|stopped working|not working|never arrived|"
    r"hasn't arrived|has not arrived|missing|wrong (?:item|size|color|colour|order)|late|delayed|refund|"
    r"charged twice|overcharged|problem|issue|complaint|scratched|leaking|leaks|cracked|burns|burnt|stuck|"
    r"won't (?:turn|start|open|close|charge|work)|doesn't (?:fit|turn|charge|open)|didn't (?:arrive|come))\b",
    re.I,
)
_INTENT = re.compile(
    r"\b(i (?:want|need|would like|'d like|wish|plan|am planning|'m planning|hope) to|i'd like to|"
    r"(?:can|could) (?:you|i) (?:cancel|return|exchange|change|update|track)|cancel|return|exchange)\b",
    re.I,
)
_COMMITMENT = re.compile(
    r"\b(i will|i'll|we will|we'll|you will receive|you'll receive|expect)\b[^.?!]*"
    r"\b(refund|call|email|send|ship|replace|follow up|credit|deliver|get back)\b",
    re.I,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9']+")
_FILLER = frozenset(
    "hi hello hey thanks thank you ok okay sure yes no yeah yep great cool nice bye goodbye awesome wow "
    "lol haha please alright right good fine".split()
)


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _FILLER and len(w) > 2]


def _kind_of(sentence: str, role: str) -> tuple[str, float]:
    if role != "customer":
        return ("commitment", 0.8) if _COMMITMENT.search(sentence) else ("", 0.0)
    if _PREFERENCE.search(sentence):
        return "preference", 0.75
    if _ISSUE.search(sentence):
        return "issue", 0.7
    if _INTENT.search(sentence):
        return "intent", 0.65
    return "fact", 0.6


def _traits(text: str) -> list[tuple[str, str, str]]:
    """(trait, value, statement) for the structured facts in a customer's message."""
    found = []
    for email in entities.emails(text):
        found.append(("email", email, f"Email address: {email}"))
    for phone in entities.phones(text):
        found.append(("phone", phone, f"Phone number: {phone}"))
    address = entities.street_address(text)
    if address:
        found.append(("address", address, f"Address: {address}"))
    zip_code = entities.labelled_zip(text)
    if zip_code:
        found.append(("zip", zip_code, f"Zip code: {zip_code}"))
    name = entities.introduced_name(text)
    if name:
        full = " ".join(part for part in name if part)
        found.append(("name", full, f"Name: {full}"))
    for order in dict.fromkeys(entities.order_ids(text)):
        found.append(("order", order, f"Mentioned order {order}"))
    return found


def extract_offline(utterances: list[Utterance]) -> list[Candidate]:
    """Observations by patterns (traits, orders) and by sentence (what the customer said, classified)."""
    candidates: list[Candidate] = []
    for u in utterances:
        text = u.text.strip()
        if not text:
            continue
        if u.role == "customer":
            for trait, value, statement in _traits(text):
                candidates.append(
                    Candidate(statement, "fact", 0.9, u.at, [u.source_id], trait=trait, trait_value=value)
                )
        kept: list[str] = []
        kind, confidence = "", 0.0
        for sentence in _SENTENCE.split(text):
            sentence = sentence.strip()
            if len(_content_words(sentence)) < 2:
                continue  # greetings, thanks, "ok sure"
            sentence_kind, sentence_confidence = _kind_of(sentence, u.role)
            if not sentence_kind:
                continue
            kept.append(sentence)
            # The message's kind is its most specific sentence's (anything over plain fact).
            if not kind or (kind == "fact" and sentence_kind != "fact"):
                kind, confidence = sentence_kind, sentence_confidence
        if kept:
            statement = " ".join(kept)
            if u.speaker:
                statement = f"{u.speaker}: {statement}"
            candidates.append(Candidate(statement[:2000], kind, confidence, u.at, [u.source_id]))
    return candidates


EXTRACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "observations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "kind": {"enum": list(KINDS)},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "trait": {"enum": ["", *SINGLE_VALUED_TRAITS, "order"]},
                    "value": {"type": "string"},
                    "source_ids": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["text", "kind", "source_ids"],
            },
        }
    },
    "required": ["observations"],
}

EXTRACTION_PROMPT = (
    "You extract durable observations about a customer from a contact-center conversation, so that the "
    "customer never has to repeat themselves. Write each observation as one short self-contained "
    "sentence in the third person. Kinds: fact, preference, issue, intent, sentiment, commitment (a "
    "promise the business made). For a single-valued trait (name, email, phone, address, zip) or an "
    "order id, set `trait` and its `value`. `source_ids` are the ids of the messages it comes from. "
    "Skip small talk. Answer with JSON only, matching this JSON schema:\n" + json.dumps(EXTRACTION_SCHEMA)
)


def extraction_messages(utterances: list[Utterance]) -> list[dict[str, str]]:
    lines = [f"[{u.source_id}] {u.speaker or u.role}: {u.text}" for u in utterances]
    return [
        {"role": "system", "content": EXTRACTION_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def parse_llm_extraction(raw: str, utterances: list[Utterance]) -> list[Candidate]:
    """Validated candidates from the model's JSON; ValueError when it does not match the schema."""
    import jsonschema

    text = raw.strip()
    if text.startswith("```"):
        text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
    data = json.loads(text)
    jsonschema.validate(data, EXTRACTION_SCHEMA)
    by_id = {u.source_id: u for u in utterances}
    latest = max((u.at for u in utterances), default=None)
    candidates = []
    for item in data["observations"]:
        sources = [s for s in item["source_ids"] if s in by_id]
        if not sources or not item["text"].strip():
            continue
        trait = item.get("trait") or ""
        candidates.append(
            Candidate(
                text=item["text"].strip()[:2000],
                kind=item["kind"],
                confidence=float(item.get("confidence", 0.7)),
                at=max(by_id[s].at for s in sources) if sources else latest,
                source_ids=sources,
                trait=trait,
                trait_value=(item.get("value") or "").strip()[:500] if trait else "",
            )
        )
    return candidates

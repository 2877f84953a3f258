"""Operators: read one message (and its conversation) and return findings. No writes here.

Each kind is one function taking the Operator row (its `config` from admin) and a `MessageView`.
`services.observe_customer_message` / `observe_ai_message` store the findings as signals.
"""

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from conversations.actions import claims
from conversations.actions.models import ActionInvocation
from conversations.actions.selectors import ActionRecord, actions_taken
from conversations.llm import LLMError, provider_for
from conversations.llm.base import complete_sync
from infra import embeddings as semantic
from infra import entities

from .models import Operator

logger = logging.getLogger(__name__)

CARD_MASK = "[card number redacted]"
REDACTED = "[redacted]"
# Used when a redacting operator is broken: card numbers are masked anyway, never stored raw.


@dataclass(frozen=True)
class MessageView:
    """What an operator may read: the message, earlier customer turns, the conversation's LLM."""

    text: str
    role: str  # "customer" | "ai"
    conversation_id: uuid.UUID | None = None
    previous_customer_texts: tuple[str, ...] = ()  # oldest first, the current message excluded
    ai_messages_before: int = 0
    provider: Any = None  # conversations.models.LLMProvider | None


@dataclass(frozen=True)
class Finding:
    operator: Operator
    label: str
    score: float
    spans: tuple[tuple[int, int], ...] = ()
    excerpt: str = ""  # never holds a redacted value
    extra: dict = field(default_factory=dict)

    @property
    def redacts(self) -> bool:
        return bool(self.operator.config.get("redact"))


# --- pattern -------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _compile(config_json: str) -> tuple[list[re.Pattern], list[re.Pattern]]:
    config = json.loads(config_json)
    patterns = [re.compile(p, re.I) for p in config.get("patterns", [])]
    keywords = config.get("keywords", [])
    if keywords:
        patterns.append(re.compile(r"\b(?:" + "|".join(re.escape(k) for k in keywords) + r")\b", re.I))
    negations = [re.compile(p, re.I) for p in config.get("negations", [])]
    return patterns, negations


def _config_key(operator: Operator) -> str:
    return json.dumps(operator.config, sort_keys=True)


def run_pattern(operator: Operator, view: MessageView) -> list[Finding]:
    patterns, negations = _compile(_config_key(operator))
    if any(n.search(view.text) for n in negations):
        return []
    wants_luhn = bool(operator.config.get("luhn"))
    spans = []
    for pattern in patterns:
        for match in pattern.finditer(view.text):
            if wants_luhn:
                digits = re.sub(r"\D", "", match.group(0))
                if not 13 <= len(digits) <= 19 or not entities.luhn_valid(digits):
                    continue
            spans.append(match.span())
    if not spans:
        return []
    spans.sort()
    redact = bool(operator.config.get("redact"))
    excerpt = operator.config.get("mask", REDACTED) if redact else view.text[spans[0][0] : spans[0][1]][:200]
    return [Finding(operator, operator.label, 1.0, tuple(spans), excerpt)]


def mask(text: str, findings: list[Finding]) -> str:
    """`text` with every span of the redacting findings replaced by the operator's mask."""
    cuts = sorted(
        ((start, end, f.operator.config.get("mask", REDACTED)) for f in findings for start, end in f.spans),
        reverse=True,
    )
    covered_from = len(text) + 1
    for start, end, replacement in cuts:
        if end > covered_from:  # overlapping spans: the outer one already replaced this text
            continue
        text = text[:start] + replacement + text[end:]
        covered_from = start
    return text


# --- sentiment -----------------------------------------------------------------------------------


# Words that name the request in a contact center ("cancel", "broken", "refund"), not a feeling:
# VADER scores them negative, which made every cancellation look like frustration.
SERVICE_WORDS = (
    "cancel cancelled mistake mistakes broken damaged defective wrong missing problem problems "
    "error errors lost delay delayed stop"
).split()


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    for word in SERVICE_WORDS:
        analyzer.lexicon.pop(word, None)
    return analyzer


@lru_cache(maxsize=4096)
def compound(text: str) -> float:
    """VADER's compound polarity of `text`, from -1 (most negative) to 1."""
    return _vader().polarity_scores(text)["compound"]


def run_sentiment(operator: Operator, view: MessageView) -> list[Finding]:
    window = int(operator.config.get("window", 3))
    threshold = float(operator.config.get("threshold", -0.35))
    current = compound(view.text)
    if current >= 0:
        return []
    recent = [*view.previous_customer_texts[-(window - 1) :], view.text] if window > 1 else [view.text]
    mean = sum(compound(t) for t in recent) / len(recent)
    if mean > threshold:
        return []
    return [Finding(operator, operator.label, round(-mean, 3), (), "", {"turns": len(recent)})]


# --- semantic ------------------------------------------------------------------------------------


def _names_other_things(text: str, earlier: str) -> bool:
    """The same words about another order or email are a new request, not the customer repeating themselves."""
    for read in (entities.order_ids, entities.emails):
        now, then = set(read(text)), set(read(earlier))
        if now and then and now.isdisjoint(then):
            return True
    return False


def run_semantic(operator: Operator, view: MessageView) -> list[Finding]:
    config = operator.config
    if len(view.text.split()) < int(config.get("min_words", 1)):
        return []
    threshold = float(config.get("threshold", 0.7))
    if config.get("mode") == "repeat":
        window = int(config.get("window", 6))
        earlier = [
            t
            for t in view.previous_customer_texts[-window:]
            if len(t.split()) >= int(config.get("min_words", 1)) and not _names_other_things(view.text, t)
        ]
        score = semantic.max_similarity(view.text, earlier)
        if score < threshold:
            return []
        return [Finding(operator, operator.label, round(score, 3), (), view.text[:200])]
    positive = semantic.max_similarity(view.text, list(config.get("examples", [])))
    negative = semantic.max_similarity(view.text, list(config.get("negative_examples", [])))
    if positive < threshold or negative >= positive:
        return []
    return [Finding(operator, operator.label, round(positive, 3), (), view.text[:200])]


# --- generative ----------------------------------------------------------------------------------


def has_llm(provider: Any) -> bool:
    return provider is not None and getattr(provider, "kind", "offline") != "offline"


def run_generative(operator: Operator, view: MessageView) -> list[Finding]:
    if not has_llm(view.provider):
        return []  # no LLM configured for this use case: nothing to ask
    labels = list(operator.config.get("labels", []))
    prompt = operator.config.get(
        "prompt",
        'Classify the customer\'s message. Answer only JSON: {"label": one of LABELS, "score": 0-1}.',
    ).replace("LABELS", json.dumps(labels + ["none"]))
    messages = [
        {"role": "system", "content": prompt},
        {"role": "user", "content": view.text},
    ]
    timeout = float(operator.config.get("timeout_seconds", 5))
    try:
        llm = provider_for(view.provider)
        completion = complete_sync(llm, messages, timeout=timeout)
        answer = json.loads(re.search(r"\{.*\}", completion.text, re.S).group(0))
    except (LLMError, TimeoutError, AttributeError, ValueError) as exc:
        logger.warning("generative operator %s skipped: %s", operator.slug, type(exc).__name__)
        return []
    label = str(answer.get("label", "none"))
    if label == "none" or (labels and label not in labels):
        return []
    try:
        score = float(answer.get("score", 1.0))
    except (TypeError, ValueError):
        score = 1.0
    if score < float(operator.config.get("threshold", 0.5)):
        return []
    return [Finding(operator, label, round(score, 3), (), view.text[:200])]


# --- policy (the AI's own messages) ---------------------------------------------------------------


def action_failed(record: ActionRecord) -> bool:
    """The action ran and failed: an error, or the backend rejected a change.

    A look-up the backend answers "not found" (an email that isn't on any account) is an answer, not a
    failure; refusals and declines are not failures either.
    """
    if record["status"] == ActionInvocation.Status.REJECTED:
        return record["changes_something"]
    return record["status"] == ActionInvocation.Status.FAILED


def run_policy(operator: Operator, view: MessageView) -> list[Finding]:
    config = operator.config
    check = config.get("check")
    if check == "claimed_action":
        if not claims.claims_in(view.text):
            return []  # most replies claim nothing: no audit log read
        actions = actions_taken(view.conversation_id) if view.conversation_id else []
        unbacked = claims.unbacked_claim(view.text, actions)
        if unbacked is None:
            return []
        attempt = unbacked.attempt
        extra = {
            "check": "claim_not_backed",
            "attempt": {"action": attempt["action"], "status": attempt["status"]} if attempt else None,
            "corrected": claims.CORRECTION in view.text,
        }
        return [Finding(operator, operator.label, 1.0, (unbacked.claim.span,), unbacked.claim.words, extra)]
    if check == "disclosure":
        if config.get("scope", "first_ai_message") == "first_ai_message" and view.ai_messages_before:
            return []
        if re.search(config.get("required", r"\b(AI|automated|assistant|virtual)\b"), view.text, re.I):
            return []
        return [Finding(operator, operator.label, 1.0, (), "required disclosure missing")]
    # "promise" and any other pattern-shaped policy: the AI said something policy forbids.
    return run_pattern(operator, view)


RUNNERS: dict[str, Callable[[Operator, MessageView], list[Finding]]] = {
    Operator.Kind.PATTERN: run_pattern,
    Operator.Kind.SENTIMENT: run_sentiment,
    Operator.Kind.SEMANTIC: run_semantic,
    Operator.Kind.GENERATIVE: run_generative,
    Operator.Kind.POLICY: run_policy,
}


def run_operator(operator: Operator, view: MessageView) -> list[Finding]:
    """Findings of one operator; a broken operator is logged and skipped, never blocking the message."""
    try:
        return RUNNERS[operator.kind](operator, view)
    except Exception:
        logger.exception("operator %s failed", operator.slug)
        return []

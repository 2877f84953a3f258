"""The offline engine: deterministic, no network, same interface as a remote LLM.

It reads the same messages and tool schemas. It greets, answers from the use case's
instructions (the sentences of the system prompt that best match the customer's words),
calls `transfer_to_human` when the customer asks for a person, and says plainly what it
cannot do. It never pretends to be a language model.
"""

import re
from collections.abc import AsyncIterator
from typing import Any

from .base import Capabilities, LLMEvent, TextDelta, ToolCall, Usage

MODEL_NAME = "baton-offline-1"
HANDOFF_TOOL = "transfer_to_human"

_WORD = re.compile(r"[a-z0-9']+")
_STOPWORDS = frozenset(
    "a an the and or but if of to in on at for with by from is are was were be been am i me my you your "
    "we our it its this that these those do does did can could would should will shall may might have has "
    "had not no yes so as what which who whom how when where why there here please thanks thank hi hello "
    "hey about into than then them they their just get got want need like".split()
)
_GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|howdy)\b[\s!.,]*$", re.I)
_HUMAN_REQUEST = re.compile(
    r"\b(human|real person|a person|someone real|live agent|an agent|representative|operator|"
    r"talk to (someone|somebody)|speak to (someone|somebody)|customer service rep)\b",
    re.I,
)
_NEGATED_HUMAN = re.compile(
    r"\b(don'?t|do not|no need|not|never|without)\b[^.?!]{0,25}\b(human|person|agent|representative|operator)\b",
    re.I,
)
_SECTION = re.compile(r"^#+ .*$", re.M)


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 2}


def asks_for_human(text: str) -> bool:
    return bool(_HUMAN_REQUEST.search(text)) and not _NEGATED_HUMAN.search(text)


def _sentences(text: str) -> list[str]:
    text = _SECTION.sub("", text)
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip(" -*\t") for p in parts if len(p.strip()) > 12]


def best_matching_sentences(question: str, knowledge: str, limit: int = 2) -> list[str]:
    """The knowledge sentences sharing the most content words with the question, best first."""
    asked = content_words(question)
    if not asked:
        return []
    scored = []
    for position, sentence in enumerate(_sentences(knowledge)):
        overlap = len(asked & content_words(sentence))
        if overlap:
            scored.append((-overlap, position, sentence))
    scored.sort()
    return [s for _, _, s in scored[:limit]]


# The memory layer's system-prompt section (memory.selectors.MEMORY_HEADING): "Label: value" lines.
_MEMORY_SECTION = re.compile(r"^# What we know about this customer\n(.*?)(?=\n\n|\Z)", re.M | re.S)
_ASKS_ORDER = re.compile(r"\b(my|last|latest|recent) (order|purchase)\b", re.I)
_ASKS_ADDRESS = re.compile(r"\b(address|ship(ping)? to|deliver(ed|y)? to|where do i live)\b", re.I)


def split_memory(system_text: str) -> tuple[str, dict[str, str]]:
    """The system text without the memory section, and that section's known facts by lowercase label."""
    match = _MEMORY_SECTION.search(system_text)
    if not match:
        return system_text, {}
    facts = {}
    for line in match.group(1).splitlines():
        if line.startswith("Returning customer"):
            facts["returning"] = line
        elif ": " in line and not line.startswith("- "):
            label, value = line.split(": ", 1)
            facts[label.lower()] = value
    return system_text[: match.start()] + system_text[match.end() :], facts


def from_memory(text: str, facts: dict[str, str]) -> str:
    """What memory already answers in the customer's words: their last order, their address."""
    said = []
    if _ASKS_ORDER.search(text) and facts.get("last order") and not re.search(r"#?W\d{6}", text):
        said.append(f"I can see your last order with us is {facts['last order']}.")
    if _ASKS_ADDRESS.search(text) and facts.get("address"):
        said.append(f"The address we have on file for you is {facts['address']}.")
    return " ".join(said)


class OfflineEngine:
    name = "offline"
    model = MODEL_NAME
    capabilities = Capabilities(tools=True, streaming=True, json_output=False, needs_network=False)

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[LLMEvent]:
        reply, call = self.respond(messages, tools)
        prompt_words = sum(len(str(m.get("content") or "").split()) for m in messages)
        if call:
            yield call
        if reply:
            for piece in re.findall(r"\S+\s*", reply):
                yield TextDelta(piece)
        yield Usage(model=MODEL_NAME, prompt_tokens=prompt_words, completion_tokens=len(reply.split()))

    def respond(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> tuple[str, ToolCall | None]:
        tool_names = {t["function"]["name"] for t in tools if t.get("type") == "function"}
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            return "", None  # the handoff tool has answered; the runtime words the handoff itself
        knowledge = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
        knowledge, memory = split_memory(knowledge)
        customer_turns = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
        text = customer_turns[-1] if customer_turns else ""

        if asks_for_human(text) and HANDOFF_TOOL in tool_names:
            return "", ToolCall(
                id="offline_handoff", name=HANDOFF_TOOL, arguments={"reason": "customer_request"}
            )
        if not text or _GREETING.match(text):
            name = f", {memory['name'].split()[0]}" if memory.get("name") else ""
            return (
                (f"Welcome back{name}! " if memory.get("returning") else "Hello! ")
                + "I'm Baton's automated assistant. Tell me what you need and I'll help, "
                "or ask for a person at any time.",
                None,
            )
        answer = best_matching_sentences(text, knowledge)
        known = from_memory(text, memory)
        if known or answer:
            return " ".join([known, *answer]).strip(), None
        return (
            "I'm the automated assistant running without a language model, so I can only help with what "
            "this service is set up for, and I couldn't match your request to it. You can rephrase, or "
            'say "agent" and I\'ll bring in a person.',
            None,
        )

"""The offline engine: deterministic, no network, same interface as a remote LLM.

It reads the same messages and tool schemas and answers in the same events. It hands off when the
customer asks for a person, answers greetings, thanks and "what can you do", answers a question about
the business from the article passages the runtime found, citing them, or says it doesn't have that
and offers a person (`articles.py`), and otherwise runs a dialogue manager over the declared actions (`dialogue.py`): it finds the request by meaning (the
local embedding model), verifies the customer, reads their account and orders through the actions,
resolves what they describe, asks with the choices spelled out, calls the action (the runtime asks
for the yes) and words the result. It never pretends to be a language model and never shows the
use case's instructions.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

from conversations.actions.wording import is_affirmative
from infra.questions import asks_about_policy

from ..base import Capabilities, LLMEvent, TextDelta, ToolCall, Usage
from . import reading, wording
from .articles import answer_from, read_articles
from .dialogue import HANDOFF_TOOL, Dialogue, call, choose_goal, request_in
from .reading import asks_for_human, content_words
from .state import State, is_identify

MODEL_NAME = "baton-offline-1"

__all__ = ["HANDOFF_TOOL", "MODEL_NAME", "OfflineEngine", "asks_for_human", "content_words"]

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
        # Embedding is CPU work: keep it off the event loop.
        reply, calls = await asyncio.to_thread(self.respond, messages, tools)
        prompt_words = sum(len(str(m.get("content") or "").split()) for m in messages)
        for tool_call in calls:
            yield tool_call
        if reply:
            for piece in re.findall(r"\S+\s*", reply):
                yield TextDelta(piece)
        yield Usage(model=MODEL_NAME, prompt_tokens=prompt_words, completion_tokens=len(reply.split()))

    def respond(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> tuple[str, list[ToolCall]]:
        state = State.read(messages, tools)
        _, memory = split_memory(state.system)
        text = state.last_customer
        if state.results and state.results[-1].name == HANDOFF_TOOL:
            return "", []
        if asks_for_human(text) and HANDOFF_TOOL in state.tools:
            return "", [call(HANDOFF_TOOL, {"reason": "customer_request"})]
        actions = [t for n, t in state.tools.items() if n != HANDOFF_TOOL and not is_identify(t)]
        small = reading.is_small_talk(text)
        if small == "greeting":
            name = f", {memory['name'].split()[0]}" if memory.get("name") else ""
            hello = f"Welcome back{name}! " if memory.get("returning") else "Hello! "
            return hello + "I'm the store's automated assistant. " + wording.capabilities(actions) + (
                " What can I do for you?"
            ), []
        if small == "capabilities":
            return wording.capabilities(actions) + " You can also ask for a person at any time.", []
        if small == "thanks" and not request_in(state, text):
            return "You're welcome! Is there anything else I can help with?", []
        asked_before = state.episode()[-1][0] if state.episode() else ""
        said_before = state.answered_turns()[-1][0] if state.answered_turns() else ""
        if said_before in wording.PERSON_OFFERS and is_affirmative(text) and HANDOFF_TOOL in state.tools:
            return "", [call(HANDOFF_TOOL, {"reason": "customer_request"})]
        if reading.NEGATIVE.match(text) and "?" in asked_before and len(reading.words(text)) <= 4:
            return wording.DECLINED, []
        articles = read_articles(state.system)
        if articles is not None and asks_about_policy(text):
            # A question: what we know of them (their order, their address), else the articles
            # answer it, or nobody here may.
            known = from_memory(text, memory)
            if known:
                return known, []
            return (answer_from(text, articles[0]) if articles else wording.NOT_IN_ARTICLES), []
        family = None if reading.is_general_question(text) else choose_goal(state)
        if family is None:
            return from_memory(text, memory) or wording.CANNOT_ANSWER, []
        return Dialogue(state, family).next_step()

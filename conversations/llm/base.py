"""The one LLM interface: `stream(messages, tools)` yields text deltas, tool calls and a usage record.

Messages and tools use the Chat Completions shapes (`{"role", "content"}`, `{"type": "function",
"function": {"name", "description", "parameters"}}`) whatever the provider, so the runtime,
the summarizer, the extractor and generative operators all speak one language.
"""

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


LLMEvent = TextDelta | ToolCall | Usage

# The prompt's articles section (written by knowledge.grounding, read by the offline engine): numbered
# passages "[1] Title > Section" then their text, which a reply cites as "[1]".
ARTICLES_HEADING = "# Articles"
NO_ARTICLE_NOTE = "No article answers this message."
CITATION_MARK = re.compile(r"\[(\d{1,2})\]")


class LLMError(Exception):
    """The provider failed: timeout, HTTP error, broken stream or a malformed tool call."""


class LLMConfigurationError(LLMError):
    """The provider is misconfigured (e.g. its key's environment variable is unset)."""


@dataclass(frozen=True)
class Capabilities:
    tools: bool = True
    streaming: bool = True
    json_output: bool = True
    needs_network: bool = True


class LLM(Protocol):
    name: str
    model: str
    capabilities: Capabilities

    def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AsyncIterator[LLMEvent]:
        """Stream a reply to `messages`; may call one of `tools`. Raises LLMError on failure."""
        ...


@dataclass
class Completion:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None


async def complete(
    llm: LLM, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
) -> Completion:
    """Collect a whole reply (for summaries, extraction, generative operators)."""
    result = Completion()
    async for event in llm.stream(messages, tools or []):
        if isinstance(event, TextDelta):
            result.text += event.text
        elif isinstance(event, ToolCall):
            result.tool_calls.append(event)
        elif isinstance(event, Usage):
            result.usage = event
    return result


def complete_sync(
    llm: LLM,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    timeout: float | None = None,
) -> Completion:
    """`complete` from synchronous code (services, tasks); raises TimeoutError after `timeout` seconds.

    Runs on a fresh thread when this one already runs an event loop (a sync call inside async code).
    """
    coroutine = complete(llm, messages, tools)
    if timeout is not None:
        coroutine = asyncio.wait_for(coroutine, timeout)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]

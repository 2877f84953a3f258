"""The one LLM interface: `stream(messages, tools)` yields text deltas, tool calls and a usage record.

Messages and tools use the Chat Completions shapes (`{"role", "content"}`, `{"type": "function",
"function": {"name", "description", "parameters"}}`) whatever the provider, so the runtime,
the summarizer, the extractor and generative operators all speak one language.
"""

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

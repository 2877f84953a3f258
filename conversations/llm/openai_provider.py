"""Any OpenAI-compatible Chat Completions endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, LiteLLM, ...)."""

import asyncio
import json
import os
import weakref
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai

from .base import Capabilities, LLMConfigurationError, LLMError, LLMEvent, TextDelta, ToolCall, Usage

_HTTP_CLIENTS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)


def _shared_http_client() -> httpx.AsyncClient | None:
    """One connection pool per event loop, reused by every provider built on it.

    Building an httpx client costs 30-80 ms (TLS context), more than a voice turn's whole budget;
    pools are per loop because their connections belong to the loop that opened them.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    client = _HTTP_CLIENTS.get(loop)
    if client is None or client.is_closed:
        client = openai.DefaultAsyncHttpxClient()
        _HTTP_CLIENTS[loop] = client
    return client


def warm_up() -> None:
    """Import what the SDK imports on its first request: every resource module and anyio's asyncio
    backend (0.6 s here, with this module's own import), which a web process would otherwise spend,
    holding the interpreter, in its first caller's first turn."""
    import anyio._backends._asyncio  # noqa: F401
    import openai.resources.chat  # noqa: F401


class OpenAIProvider:
    capabilities = Capabilities()

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        model: str,
        api_key_env: str = "",
        timeout: float = 30.0,
        max_retries: int = 2,
        temperature: float = 0.2,
    ) -> None:
        if api_key_env:
            api_key = os.environ.get(api_key_env)
            if not api_key:
                raise LLMConfigurationError(
                    f"LLM provider {name!r} reads its key from the environment variable {api_key_env}, "
                    f"which is not set: export {api_key_env}=... (or add it to .env) and restart Baton."
                )
        else:
            api_key = "not-needed"  # local servers such as Ollama or llama.cpp take any key
        self.name = name
        self.model = model
        self.temperature = temperature
        self.client = openai.AsyncOpenAI(
            base_url=base_url or None,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            http_client=_shared_http_client(),
        )

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[LLMEvent]:
        # The SDK walks `messages` and `tools` through its typed-dict transform before sending: 5 ms and
        # more per request, growing with the history, a tenth of a voice turn's budget. They are plain
        # JSON already, so they travel in `extra_body`, which the SDK merges into the body as is.
        body: dict[str, Any] = {"messages": messages}
        if tools:
            body["tools"] = tools
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": self.temperature,
            "extra_body": body,
        }
        pending: dict[int, dict[str, str]] = {}
        usage: Usage | None = None
        try:
            response = await self.client.chat.completions.create(**kwargs)
            async for chunk in response:
                if chunk.usage:
                    usage = Usage(
                        model=chunk.model or self.model,
                        prompt_tokens=chunk.usage.prompt_tokens or 0,
                        completion_tokens=chunk.usage.completion_tokens or 0,
                    )
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta is None:
                        continue
                    if delta.content:
                        yield TextDelta(delta.content)
                    for call in delta.tool_calls or []:
                        slot = pending.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        if call.id:
                            slot["id"] = call.id
                        if call.function and call.function.name:
                            slot["name"] += call.function.name
                        if call.function and call.function.arguments:
                            slot["arguments"] += call.function.arguments
        except openai.APIError as exc:
            raise LLMError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        except (TimeoutError, ConnectionError) as exc:
            raise LLMError(f"{self.name}: {type(exc).__name__}") from exc
        for index in sorted(pending):
            slot = pending[index]
            try:
                arguments = json.loads(slot["arguments"] or "{}")
            except json.JSONDecodeError as exc:
                raise LLMError(f"{self.name}: malformed arguments for tool {slot['name']!r}") from exc
            if not slot["name"] or not isinstance(arguments, dict):
                raise LLMError(f"{self.name}: malformed tool call")
            yield ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=arguments)
        yield usage or Usage(model=self.model)

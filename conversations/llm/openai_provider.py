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
    """Import what a first request imports (anyio's asyncio backend), beside this module's own import
    (0.6 s here with the SDK): a web process would otherwise spend it, holding the interpreter, in
    its first caller's first turn."""
    import anyio._backends._asyncio  # noqa: F401


_ChunkStream = openai.AsyncStream[object]  # each chunk as decoded: a dict


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
        # The SDK's own request (its `custom request` API, with its retries, timeouts and errors), but not
        # its typed layer: `chat.completions.create` walks `messages` and `tools` through a typed-dict
        # transform (5 ms and more, growing with the history) and builds a pydantic model of every
        # streamed chunk, together a fifth of a voice turn's CPU here. The body is plain JSON already, and
        # `cast_to=object` hands each chunk over as the dict it was decoded to.
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": self.temperature,
        }
        if tools:
            body["tools"] = tools
        pending: dict[int, dict[str, str]] = {}
        usage: Usage | None = None
        try:
            response = await self.client.post(
                "/chat/completions", cast_to=object, body=body, stream=True, stream_cls=_ChunkStream
            )
            async for chunk in response:
                if not isinstance(chunk, dict):
                    raise LLMError(f"{self.name}: a streamed chunk that is not a JSON object")
                counted = chunk.get("usage")
                if isinstance(counted, dict):
                    usage = Usage(
                        model=chunk.get("model") or self.model,
                        prompt_tokens=counted.get("prompt_tokens") or 0,
                        completion_tokens=counted.get("completion_tokens") or 0,
                    )
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") if isinstance(choice, dict) else None
                    if not isinstance(delta, dict):
                        continue
                    content = delta.get("content")
                    if content and isinstance(content, str):
                        yield TextDelta(content)
                    for call in delta.get("tool_calls") or ():
                        if not isinstance(call, dict):
                            continue
                        slot = pending.setdefault(
                            call.get("index", 0), {"id": "", "name": "", "arguments": ""}
                        )
                        function = call.get("function") or {}
                        if call.get("id"):
                            slot["id"] = call["id"]
                        if function.get("name"):
                            slot["name"] += function["name"]
                        if function.get("arguments"):
                            slot["arguments"] += function["arguments"]
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

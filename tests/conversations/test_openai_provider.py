import os
import subprocess
import sys

import pytest

from conversations.llm.base import LLMConfigurationError, LLMError, TextDelta, ToolCall, Usage, complete
from conversations.llm.openai_provider import OpenAIProvider
from tests.fakes.openai_server import Reply

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_details",
            "description": "Read an order",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        },
    }
]


def provider(fake, **kwargs) -> OpenAIProvider:
    return OpenAIProvider(
        name="fake", base_url=fake.base_url, model="gpt-fake", **{"timeout": 2, "max_retries": 0, **kwargs}
    )


async def collect(llm, messages, tools=()):
    return [event async for event in llm.stream(messages, list(tools))]


async def test_streams_text_deltas_in_order_then_usage(fake_openai):
    fake_openai.script(Reply(text="Your order shipped yesterday.", prompt_tokens=30, completion_tokens=6))
    events = await collect(provider(fake_openai), [{"role": "user", "content": "where is my order"}])
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1, "the reply must arrive in pieces, not at once"
    assert "".join(deltas) == "Your order shipped yesterday."
    assert events[-1] == Usage(model="gpt-fake", prompt_tokens=30, completion_tokens=6)
    sent = fake_openai.requests[0]
    assert sent["stream"] is True and sent["model"] == "gpt-fake"
    assert sent["messages"] == [{"role": "user", "content": "where is my order"}]


async def test_tool_call_split_across_deltas_is_reassembled(fake_openai):
    fake_openai.script(
        Reply(tool_calls=[{"name": "get_order_details", "arguments": {"order_id": "#W2611340"}}])
    )
    events = await collect(provider(fake_openai), [{"role": "user", "content": "status of #W2611340"}], TOOLS)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert len(calls) == 1
    assert calls[0].name == "get_order_details"
    assert calls[0].arguments == {"order_id": "#W2611340"}
    assert fake_openai.requests[0]["tools"] == TOOLS


async def test_key_is_read_from_the_named_environment_variable(fake_openai, monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", "sk-secret-value")
    await complete(provider(fake_openai, api_key_env="MY_LLM_KEY"), [{"role": "user", "content": "hi"}])
    assert fake_openai.headers[0]["Authorization"] == "Bearer sk-secret-value"


def test_missing_key_variable_says_how_to_set_it(fake_openai, monkeypatch):
    monkeypatch.delenv("MISSING_KEY_VAR", raising=False)
    with pytest.raises(LLMConfigurationError, match="export MISSING_KEY_VAR="):
        provider(fake_openai, api_key_env="MISSING_KEY_VAR")


async def test_server_error_raises_llm_error_after_retries(fake_openai):
    fake_openai.script(Reply(status=500), Reply(status=500))
    with pytest.raises(LLMError):
        await collect(provider(fake_openai, max_retries=1), [{"role": "user", "content": "hi"}])
    assert len(fake_openai.requests) == 2, "one try plus one retry"


async def test_timeout_raises_llm_error(fake_openai):
    fake_openai.script(Reply(text="too late", delay=3))
    with pytest.raises(LLMError):
        await collect(provider(fake_openai, timeout=0.5), [{"role": "user", "content": "hi"}])


async def test_malformed_tool_arguments_raise_llm_error(fake_openai):
    fake_openai.script(Reply(tool_calls=[{"name": "get_order_details", "arguments": '{"order_id": "#W1'}]))
    with pytest.raises(LLMError, match="malformed"):
        await collect(provider(fake_openai), [{"role": "user", "content": "hi"}], TOOLS)


def test_warm_up_loads_what_the_first_request_would_load_mid_call():
    # A fresh process, as a web process starts: its first caller must not wait ~0.6 s for these imports.
    lazy = ["conversations.llm.openai_provider", "anyio._backends._asyncio"]
    script = (
        "import sys, django; django.setup(); from conversations import llm; "
        f"before = [m in sys.modules for m in {lazy!r}]; llm.warm_up(); "
        f"print(before, [m in sys.modules for m in {lazy!r}])"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "deskapp.settings_test"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "[False, False] [True, True]"

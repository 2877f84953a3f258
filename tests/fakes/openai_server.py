"""A faithful OpenAI-compatible Chat Completions server on loopback, for tests and benchmarks.

It also serves `/v1/embeddings` (deterministic bag-of-words vectors of the requested `dimensions`,
in the API's response shape). It streams Server-Sent Events exactly as the real API does (`chat.completion.chunk` objects,
tool-call deltas split across chunks, a usage chunk, `data: [DONE]`), and can be scripted to
answer with text, tool calls, an HTTP error, a delay (for timeouts) or malformed arguments.
"""

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(
        default_factory=list
    )  # [{"name": ..., "arguments": {...} | "raw"}]
    status: int = 200
    delay: float = 0.0  # seconds before the first byte
    chunk_delay: float = 0.0  # seconds between chunks
    prompt_tokens: int = 11
    completion_tokens: int = 7


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients that time out and hang up (the timeout tests) are expected


class FakeOpenAI:
    """Start with `with FakeOpenAI() as server:`; queue replies with `server.script(...)`."""

    def __init__(
        self, default: Reply | None = None, respond: Callable[[dict[str, Any]], Reply | None] | None = None
    ) -> None:
        self.replies: list[Reply] = []
        self.default = default or Reply(text="Hello from the fake model.")
        # Chooses the reply from the request body (e.g. fail only one conversation's turns); None: the script.
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.embedding_requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def llm_provider(
        self,
        *,
        api_key_env: str,
        timeout_seconds: float = 5,
        name: str = "fake-openai",
        model: str = "gpt-fake",
    ):
        """An OpenAI-kind LLMProvider row pointing at this server, without retries (the key: from `api_key_env`)."""
        from conversations.models import LLMProvider

        return LLMProvider.objects.create(
            name=name,
            kind=LLMProvider.Kind.OPENAI,
            base_url=self.base_url,
            model=model,
            api_key_env=api_key_env,
            timeout_seconds=timeout_seconds,
            max_retries=0,
        )

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def _next(self) -> Reply:
        with self._lock:
            return self.replies.pop(0) if self.replies else self.default

    def __enter__(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Real servers (uvicorn, nginx) send each SSE chunk at once; Nagle would hold small writes back.
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.endswith("/embeddings"):
                    self._embeddings(body)
                    return
                if not self.path.endswith("/chat/completions"):
                    self._json(
                        404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}}
                    )
                    return
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                reply = (fake.respond(body) if fake.respond else None) or fake._next()
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    self._json(
                        reply.status, {"error": {"message": "scripted failure", "type": "server_error"}}
                    )
                    return
                if body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._json(200, self._completion(body, reply))

            def _embeddings(self, body: dict) -> None:
                with fake._lock:
                    fake.embedding_requests.append(body)
                    fake.headers.append(dict(self.headers))
                inputs = body.get("input")
                inputs = [inputs] if isinstance(inputs, str) else inputs
                if not isinstance(inputs, list) or not inputs or not body.get("model"):
                    self._json(
                        400,
                        {
                            "error": {
                                "message": "input and model are required",
                                "type": "invalid_request_error",
                            }
                        },
                    )
                    return
                dimensions = int(body.get("dimensions") or 1536)
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {
                                "object": "embedding",
                                "index": i,
                                "embedding": bag_of_words_vector(text, dimensions),
                            }
                            for i, text in enumerate(inputs)
                        ],
                        "model": body["model"],
                        "usage": {
                            "prompt_tokens": sum(len(t.split()) for t in inputs),
                            "total_tokens": sum(len(t.split()) for t in inputs),
                        },
                    },
                )

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _completion(self, body: dict, reply: Reply) -> dict:
                message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
                if reply.tool_calls:
                    message["tool_calls"] = [
                        {
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": c["name"], "arguments": _args(c)},
                        }
                        for i, c in enumerate(reply.tool_calls)
                    ]
                return {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                        }
                    ],
                    "usage": _usage(reply),
                }

            def _stream(self, body: dict, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                base = {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "system_fingerprint": "fp_fake",
                }

                def send(choices: list, usage: dict | None = None) -> None:
                    chunk = {**base, "choices": choices, "usage": usage}
                    self._write(f"data: {json.dumps(chunk)}\n\n")
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)

                send([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
                for piece in _pieces(reply.text):
                    send([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
                for i, call in enumerate(reply.tool_calls):
                    send(
                        [
                            {
                                "index": 0,
                                "delta": {
                                    "tool_calls": [
                                        {
                                            "index": i,
                                            "id": f"call_{uuid.uuid4().hex[:8]}",
                                            "type": "function",
                                            "function": {"name": call["name"], "arguments": ""},
                                        }
                                    ]
                                },
                                "finish_reason": None,
                            }
                        ]
                    )
                    arguments = _args(call)
                    for start in range(0, len(arguments), 7):  # split the JSON across deltas as the API does
                        send(
                            [
                                {
                                    "index": 0,
                                    "delta": {
                                        "tool_calls": [
                                            {
                                                "index": i,
                                                "function": {"arguments": arguments[start : start + 7]},
                                            }
                                        ]
                                    },
                                    "finish_reason": None,
                                }
                            ]
                        )
                send(
                    [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}]
                )
                if (body.get("stream_options") or {}).get("include_usage"):
                    send([], _usage(reply))
                self._write("data: [DONE]\n\n")
                self._write("")

            def _write(self, text: str) -> None:
                data = text.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler


def _args(call: dict) -> str:
    arguments = call.get("arguments", {})
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _usage(reply: Reply) -> dict:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words) if w or i < len(words) - 1]


def bag_of_words_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector: texts sharing words point in similar directions."""
    import hashlib
    import math
    import re

    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dimensions] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]

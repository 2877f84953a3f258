"""HTTP actions against a real loopback server: retries only idempotent calls, secrets from the environment."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conversations.actions.executor import execute
from conversations.actions.models import Action


class FlakyBackend:
    """Answers 503 to the first `failures` requests, then 200 with what it received."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[dict] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)) or 0)
                backend.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "body": body,
                    }
                )
                status = 503 if len(backend.requests) <= backend.failures else 200
                data = json.dumps({"ok": status == 200} if status == 200 else {"error": "busy"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky():
    backend = FlakyBackend(failures=1)
    yield backend
    backend.close()


def action(url: str, method: str) -> Action:
    return Action(
        name="probe",
        description="probe",
        http_method=method,
        url_template=url + "/orders/{order_id}",
        headers={"Authorization": "Bearer ${PROBE_TOKEN}"},
        retries=2,
        timeout_seconds=2,
    )


async def test_idempotent_get_is_retried_and_path_arguments_are_encoded(flaky, monkeypatch):
    monkeypatch.setenv("PROBE_TOKEN", "s3cret")
    done = await execute(action(flaky.url, "GET"), {"order_id": "#W1/2", "verbose": "yes"})
    assert done.status == "succeeded" and done.result == {"ok": True}
    assert [r["method"] for r in flaky.requests] == ["GET", "GET"]
    assert flaky.requests[-1]["path"] == "/orders/%23W1%2F2?verbose=yes"
    assert flaky.requests[-1]["auth"] == "Bearer s3cret"


async def test_a_post_is_never_retried(flaky, monkeypatch):
    monkeypatch.setenv("PROBE_TOKEN", "s3cret")
    done = await execute(action(flaky.url, "POST"), {"order_id": "#W1", "reason": "x"})
    assert done.status == "failed" and "busy" in done.error
    assert len(flaky.requests) == 1, "a write must not be sent twice"
    assert json.loads(flaky.requests[0]["body"]) == {"reason": "x"}


async def test_a_missing_secret_fails_clearly_without_calling(flaky, monkeypatch):
    monkeypatch.delenv("PROBE_TOKEN", raising=False)
    done = await execute(action(flaky.url, "GET"), {"order_id": "#W1"})
    assert done.status == "failed" and "export PROBE_TOKEN=" in done.error
    assert flaky.requests == []

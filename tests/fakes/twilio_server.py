"""A faithful loopback fake of Twilio's Messages endpoint, for tests.

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP basic auth with the
account SID and auth token; answers 201 with the JSON Twilio returns (a `SM…` sid, status
`queued`, RFC 2822 dates), 401 `20003` on bad credentials, 400 `21604`/`21602` on missing To or Body,
and can be scripted to fail with any status (e.g. 500 then success, to test retries).
"""

import base64
import json
import threading
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Failure:
    status: int
    code: int
    message: str


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True


class FakeTwilio:
    """Start with `with FakeTwilio(account_sid, auth_token) as twilio:`; read `twilio.sent`."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sent: list[dict[str, str]] = []
        self.failures: list[Failure] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, *failures: Failure) -> None:
        with self._lock:
            self.failures.extend(failures)

    def __enter__(self) -> "FakeTwilio":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _error(self, status: int, code: int, message: str) -> None:
                self._json(
                    status,
                    {
                        "code": code,
                        "message": message,
                        "more_info": f"https://www.twilio.com/docs/errors/{code}",
                        "status": status,
                    },
                )

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode()
                expected_path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
                if self.path != expected_path:
                    self._error(404, 20404, f"The requested resource {self.path} was not found")
                    return
                expected_auth = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected_auth}":
                    self._error(401, 20003, "Authenticate")
                    return
                if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    self._error(400, 20001, "Content-Type must be application/x-www-form-urlencoded")
                    return
                form = {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}
                with fake._lock:
                    failure = fake.failures.pop(0) if fake.failures else None
                if failure:
                    self._error(failure.status, failure.code, failure.message)
                    return
                if not form.get("To"):
                    self._error(400, 21604, "A 'To' phone number is required.")
                    return
                if not form.get("From") and not form.get("MessagingServiceSid"):
                    self._error(400, 21603, "A 'From' phone number is required.")
                    return
                if not form.get("Body") and not form.get("MediaUrl"):
                    self._error(400, 21602, "Message body is required.")
                    return
                sid = "SM" + uuid.uuid4().hex
                now = formatdate(usegmt=True)
                with fake._lock:
                    fake.sent.append({**form, "Sid": sid})
                self._json(
                    201,
                    {
                        "account_sid": fake.account_sid,
                        "api_version": "2010-04-01",
                        "body": form.get("Body", ""),
                        "date_created": now,
                        "date_sent": None,
                        "date_updated": now,
                        "direction": "outbound-api",
                        "error_code": None,
                        "error_message": None,
                        "from": form.get("From"),
                        "messaging_service_sid": form.get("MessagingServiceSid"),
                        "num_media": "0",
                        "num_segments": "1",
                        "price": None,
                        "price_unit": "USD",
                        "sid": sid,
                        "status": "queued",
                        "subresource_uris": {
                            "media": f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{sid}/Media.json"
                        },
                        "to": form["To"],
                        "uri": f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{sid}.json",
                    },
                )

        return Handler

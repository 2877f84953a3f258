"""Checks that a webhook or websocket handshake really comes from Twilio (`X-Twilio-Signature`).

Twilio signs the URL it called, so behind a proxy the request's own host and scheme are wrong:
the URL is rebuilt from `settings.BATON_PUBLIC_URL` and the request's path and query.
"""

import functools
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from twilio.request_validator import RequestValidator

from infra import metrics

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"


def public_url(path: str, query: str = "", *, websocket: bool = False) -> str:
    """The absolute URL Twilio uses for `path` (wss:// for websockets when the public URL is https)."""
    base = settings.BATON_PUBLIC_URL
    if websocket and base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif websocket and base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return f"{base}{path}" + (f"?{query}" if query else "")


def signature_is_valid(url: str, params, signature: str | None) -> bool:
    """True when `signature` is Twilio's HMAC of `url` and `params` under the account's auth token."""
    if not settings.TWILIO_AUTH_TOKEN:
        logger.error("TWILIO_AUTH_TOKEN is not set: every Twilio request is refused until it is")
        return False
    if not signature:
        return False
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, params, signature)


def request_is_from_twilio(request: HttpRequest) -> bool:
    """Validate a form-encoded Twilio webhook against the public URL it was sent to."""
    url = public_url(request.path, request.META.get("QUERY_STRING", ""))
    return signature_is_valid(url, request.POST, request.headers.get(SIGNATURE_HEADER))


def handshake_is_from_twilio(scope: dict) -> bool:
    """Validate a websocket handshake: Twilio signs the wss URL with no parameters."""
    headers = {name.decode("latin1").lower(): value.decode("latin1") for name, value in scope["headers"]}
    url = public_url(scope["path"], scope.get("query_string", b"").decode(), websocket=True)
    return signature_is_valid(url, {}, headers.get(SIGNATURE_HEADER.lower()))


def twilio_webhook(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse (403, nothing stored) any request without a valid Twilio signature."""

    @functools.wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request_is_from_twilio(request):
            metrics.TWILIO_REJECTED.labels(endpoint=request.path).inc()
            logger.warning("refused %s: missing or invalid X-Twilio-Signature", request.path)
            return HttpResponseForbidden("invalid Twilio signature", content_type="text/plain")
        return view(request, *args, **kwargs)

    return checked

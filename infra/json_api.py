"""The JSON API conventions shared by the Bearer-token endpoints (memory recall, knowledge search).

A bad request is a 400 `{"error": "bad_request", "detail"}` that says what to send instead; a
missing or unknown token is a 401 with `WWW-Authenticate`.
"""

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse

from .text import TextTooLong, checked_text


class BadRequest(ValueError):
    """The request's body cannot be used; the message tells the caller what to send."""


def unauthorized() -> JsonResponse:
    response = JsonResponse(
        {"error": "unauthorized", "detail": "send Authorization: Bearer <api token>"}, status=401
    )
    response["WWW-Authenticate"] = 'Bearer realm="baton"'
    return response


def bad_request(exc: BadRequest) -> JsonResponse:
    return JsonResponse({"error": "bad_request", "detail": str(exc)}, status=400)


def bearer_token(request: HttpRequest) -> str:
    """The raw token of an `Authorization: Bearer <token>` header; empty when there is none."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    return raw.strip() if scheme.lower() == "bearer" else ""


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def text_field(value: object, *, limit: int, what: str) -> str:
    """A text field cleaned of control characters; BadRequest when not a string, empty or too long."""
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a non-empty string of at most {limit} characters")
    try:
        value = checked_text(value, limit=limit, what=what)
    except TextTooLong as exc:
        raise BadRequest(str(exc)) from None
    if not value:
        raise BadRequest(f"{what} must be a non-empty string of at most {limit} characters")
    return value


def int_field(value: object, *, low: int, high: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"{what} must be an integer from {low} to {high}")
    return value


def token_required(authenticate: Callable[[str], object]) -> Callable:
    """A view decorator: 401 unless `authenticate(raw token)` returns something truthy."""

    def decorate(view: Callable) -> Callable:
        def wrapped(request: HttpRequest, *args, **kwargs):
            if not authenticate(bearer_token(request)):
                return unauthorized()
            return view(request, *args, **kwargs)

        wrapped.__name__, wrapped.__doc__ = view.__name__, view.__doc__
        return wrapped

    return decorate

"""Signed customer tokens: each opens exactly one conversation, for a limited time."""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

_SALT = "baton.chat.token"


class BadToken(Exception):
    pass


@dataclass(frozen=True)
class ChatClaims:
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    visitor_id: str


def issue_chat_token(*, conversation_id: uuid.UUID, customer_id: uuid.UUID, visitor_id: str) -> str:
    payload = {"c": str(conversation_id), "u": str(customer_id), "v": visitor_id}
    return signing.dumps(payload, salt=_SALT, compress=True)


def read_chat_token(token: str) -> ChatClaims:
    """The claims of a valid, unexpired token; BadToken otherwise."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=settings.CHAT_TOKEN_MAX_AGE_SECONDS)
        return ChatClaims(uuid.UUID(payload["c"]), uuid.UUID(payload["u"]), str(payload["v"]))
    except (signing.BadSignature, KeyError, ValueError, TypeError) as exc:
        raise BadToken("invalid or expired token") from exc

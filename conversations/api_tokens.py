"""Bearer tokens of the HTTP APIs (memory recall, knowledge search): only a hash is stored."""

import hashlib
import secrets
from dataclasses import dataclass

from django.utils import timezone

from infra.json_api import token_required

from .models import ApiToken


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    raw: str  # shown once; only its hash is stored


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_token(*, name: str) -> NewToken:
    """A new API token named `name`; the raw value is returned once and never stored."""
    raw = "baton_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(name=name, token_hash=hash_token(raw), prefix=raw[:12])
    return NewToken(token=token, raw=raw)


def authenticate_api_token(raw: str) -> ApiToken | None:
    """The active token matching `raw` (compared by hash), recording its use; None when unknown."""
    if not raw or len(raw) > 200:
        return None
    token = ApiToken.objects.filter(token_hash=hash_token(raw), active=True).first()
    now = timezone.now()
    # Once a minute is precise enough, and spares a write on every recall.
    if token and (token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60):
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
    return token


# `@api_token_required` on a view: 401 unless the request carries an active token.
api_token_required = token_required(authenticate_api_token)

"""Capture what is published to Channels groups (recipients and payloads), still sending it for real."""

import contextlib
from collections.abc import Iterator

import pytest

from infra import events


@contextlib.contextmanager
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[tuple[str, ...], str, dict]]]:
    """Every (groups, event type, payload) sent while the block runs."""
    sent: list[tuple[tuple[str, ...], str, dict]] = []
    real_send = events._send

    def recording_send(groups, event_type, payload, on_failed=None):
        groups = tuple(groups)
        sent.append((groups, event_type, payload))
        real_send(groups, event_type, payload, on_failed)

    monkeypatch.setattr(events, "_send", recording_send)
    yield sent

"""Builders for insights tests: conversations with a chosen arm, outcome and timing, written directly."""

import uuid
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import Group, User
from django.utils import timezone

from conversations.models import Conversation, Customer, UseCase
from handoff.models import Handoff
from infra.permissions import AGENTS, SUPERVISORS


def use_case(slug: str = "orders", **fields) -> UseCase:
    return UseCase.objects.create(slug=slug, name=slug.title(), **fields)


def conversation(
    *,
    arm: str = "ai",
    outcome: str = "",
    use_case: UseCase | None = None,
    channel: str = "webchat",
    created_at: datetime | None = None,
    handle_seconds: float | None = None,
    handoff_reason: str | None = None,
) -> Conversation:
    """A conversation on `arm`, closed with `outcome` after `handle_seconds` (when given), maybe handed off."""
    created_at = created_at or timezone.now() - timedelta(hours=1)
    row = Conversation.objects.create(
        customer=Customer.objects.create(),
        channel=channel,
        use_case=use_case,
        handler=arm,
        assigned_handler=arm,
        handler_reason="test",
        status="closed" if outcome else "open",
        outcome=outcome,
    )
    closed_at = (
        created_at + timedelta(seconds=handle_seconds) if outcome and handle_seconds is not None else None
    )
    Conversation.objects.filter(id=row.id).update(created_at=created_at, closed_at=closed_at)
    if handoff_reason:
        Handoff.objects.create(
            conversation=row, reason=handoff_reason, status="closed" if outcome else "queued"
        )
        if not outcome:
            Conversation.objects.filter(id=row.id).update(handler="human", status="waiting")
    row.refresh_from_db()
    return row


def staff_user(username: str, *groups: str) -> User:
    user = User.objects.create_user(username=username, password="pw-for-tests")
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


def supervisor() -> User:
    return staff_user("sup", AGENTS, SUPERVISORS)


def agent() -> User:
    return staff_user("agt", AGENTS)


class GroupListener:
    """Joins a Channels group on the real layer and reads what is published to it."""

    def __init__(self, group: str) -> None:
        self.layer = get_channel_layer()
        self.group = group
        # A plain channel name (no "!"): read straight from Redis, so each call may use its own event loop.
        self.channel = f"testlistener.{uuid.uuid4().hex}"
        async_to_sync(self.layer.group_add)(group, self.channel)

    def receive(self, timeout: float = 2.0) -> dict:
        import asyncio

        async def get() -> dict:
            return await asyncio.wait_for(self.layer.receive(self.channel), timeout)

        return async_to_sync(get)()

    def events(self, event_type: str, timeout: float = 0.5) -> list[dict]:
        """Every event of `event_type` waiting on the channel."""
        found = []
        while True:
            try:
                event = self.receive(timeout)
            except TimeoutError:
                return found
            if event["type"] == event_type:
                found.append(event)

"""Staff websockets: `/ws/desk/` for agents, `/ws/supervisor/` for supervisors.

They authenticate with the Django session, join staff groups only, and forward events as
`{"event": <type>, ...payload}` for the page to render. Watching a conversation's live transcript
is a frame `{"type": "watch", "conversation_id"}`, permission-checked on the server.
"""

import uuid

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from infra import metrics
from infra.db import database_sync_to_async
from infra.groups import agent_group, conversation_staff_group, queue_group, supervisors_group
from infra.permissions import is_agent, is_supervisor

from . import selectors


class StaffConsumer(AsyncJsonWebsocketConsumer):
    kind = "staff"

    def allowed(self, user) -> bool:
        raise NotImplementedError

    def base_groups(self, user) -> list[str]:
        raise NotImplementedError

    def may_watch(self, user, conversation_id: uuid.UUID) -> bool:
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not await database_sync_to_async(self.allowed)(user):
            await self.close(code=4403)
            return
        self.groups_joined = await database_sync_to_async(self.base_groups)(user)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.watching: str | None = None
        await self.accept()
        metrics.WEBSOCKETS.labels(kind=self.kind).inc()

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "groups_joined"):
            return
        metrics.WEBSOCKETS.labels(kind=self.kind).dec()
        for group in [*self.groups_joined, *([self.watching] if self.watching else [])]:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or content.get("type") != "watch":
            await self.send_json(
                {"event": "error", "detail": 'send {"type": "watch", "conversation_id": "..."}'}
            )
            return
        try:
            conversation_id = uuid.UUID(str(content.get("conversation_id")))
        except ValueError:
            await self.send_json({"event": "error", "detail": "conversation_id must be a UUID"})
            return
        if not await database_sync_to_async(self.may_watch)(self.scope["user"], conversation_id):
            await self.send_json({"event": "error", "detail": "that conversation is not in your queues"})
            return
        if self.watching:
            await self.channel_layer.group_discard(self.watching, self.channel_name)
        self.watching = conversation_staff_group(conversation_id)
        await self.channel_layer.group_add(self.watching, self.channel_name)
        await self.send_json({"event": "watching", "conversation_id": str(conversation_id)})

    async def forward(self, event: dict) -> None:
        payload = {k: v for k, v in event.items() if k != "type"}
        await self.send_json({"event": event["type"], **payload})

    conversation_message_created = forward
    conversation_token = forward
    conversation_handoff_changed = forward
    conversation_changed = forward
    conversation_signal_raised = forward
    conversation_flag_raised = forward
    handoff_packet_ready = forward
    conversation_copilot_draft = forward
    insights_alert_changed = forward


class DeskConsumer(StaffConsumer):
    kind = "desk"

    def allowed(self, user) -> bool:
        return is_agent(user)

    def base_groups(self, user) -> list[str]:
        if is_supervisor(user):
            return [agent_group(user.pk), supervisors_group()]
        queue_ids = user.queue_memberships.values_list("queue_id", flat=True)
        return [agent_group(user.pk), *(queue_group(q) for q in queue_ids)]

    def may_watch(self, user, conversation_id: uuid.UUID) -> bool:
        try:
            selectors.conversation_for_agent(user, conversation_id)
        except PermissionError:
            return False
        return True


class SupervisorConsumer(StaffConsumer):
    kind = "supervisor"

    def allowed(self, user) -> bool:
        return is_supervisor(user)

    def base_groups(self, user) -> list[str]:
        return [supervisors_group()]

    def may_watch(self, user, conversation_id: uuid.UUID) -> bool:
        return True

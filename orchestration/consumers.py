"""Web chat websocket: `/ws/chat/?token=…` (DESIGN.md "Web chat")."""

import asyncio
import json
import logging
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from conversations import delivery, selectors, services
from infra import metrics
from infra.db import database_sync_to_async
from infra.groups import conversation_group
from infra.text import MESSAGE_MAX_CHARS, TextTooLong, checked_text, is_clean

from . import pipeline, runtime
from .tokens import BadToken, read_chat_token

logger = logging.getLogger(__name__)

TURN_DRAIN_SECONDS = 30
MARK_RECEIVED_ATTEMPTS = 30


class FrameError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def parse_chat_frame(content: object) -> tuple[str, str]:
    """(text, client_id) of a valid `message` frame; FrameError otherwise."""
    if not isinstance(content, dict) or content.get("type") != "message":
        raise FrameError("unknown_type", 'send {"type": "message", "text": "...", "client_id": "..."}')
    text, client_id = content.get("text"), content.get("client_id")
    if not isinstance(text, str):
        raise FrameError("empty_text", "text must be a non-empty string")
    try:
        text = checked_text(text, limit=MESSAGE_MAX_CHARS, what="text")
    except TextTooLong as exc:
        raise FrameError("text_too_long", str(exc)) from None
    if not text:
        raise FrameError("empty_text", "text must be a non-empty string (control characters do not count)")
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 100 or not is_clean(client_id):
        raise FrameError(
            "invalid_client_id",
            "client_id must be a string of 1 to 100 characters, without control characters",
        )
    return text, client_id


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.claims = read_chat_token(query.get("token", [""])[0])
        except BadToken:
            await self.close(code=4401)
            return
        conversation = await database_sync_to_async(selectors.conversation_for_customer)(
            conversation_id=self.claims.conversation_id, customer_id=self.claims.customer_id
        )
        if conversation is None:
            await self.close(code=4404)
            return
        self.group = conversation_group(self.claims.conversation_id)
        self.turn_task: asyncio.Task | None = None
        self.turn_again = False
        self.forwarded: set[str] = set()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        metrics.WEBSOCKETS.labels(kind="chat").inc()
        # What was published while the customer was away (or reconnecting) reaches them now.
        missed = await database_sync_to_async(selectors.undelivered_messages)(
            conversation_id=self.claims.conversation_id, channel="webchat"
        )
        for message in missed:
            await self.forward_message(selectors.message_payload(message))

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "group"):
            return
        metrics.WEBSOCKETS.labels(kind="chat").dec()
        await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.turn_task and not self.turn_task.done():
            # Let the reply finish and be stored even though the customer left.
            await asyncio.wait([self.turn_task], timeout=TURN_DRAIN_SECONDS)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            content = json.loads(text_data or "")
        except (json.JSONDecodeError, RecursionError):  # too deeply nested to parse is not JSON to us
            await self.send_error("invalid_json", "frames must be JSON text")
            return
        await self.receive_json(content)

    async def receive_json(self, content: object, **kwargs) -> None:
        try:
            text, client_id = parse_chat_frame(content)
        except FrameError as exc:
            await self.send_error(exc.code, exc.detail)
            return
        accepted = await database_sync_to_async(pipeline.accept_customer_message)(
            services.Inbound(
                channel="webchat",
                identity_channel="webchat",
                address=self.claims.visitor_id,
                text=text,
                external_id=client_id,
                conversation_id=self.claims.conversation_id,
            )
        )
        await self.send_json({"type": "ack", "client_id": client_id, "message_id": str(accepted.message.id)})
        if accepted.ai_should_reply:
            self.schedule_turn()

    def schedule_turn(self) -> None:
        # One turn at a time per socket; messages sent meanwhile are answered by one more turn.
        if self.turn_task and not self.turn_task.done():
            self.turn_again = True
            return
        self.turn_task = asyncio.create_task(self._run_turns())

    async def _run_turns(self) -> None:
        while True:
            self.turn_again = False
            try:
                await runtime.run_ai_turn_and_publish(self.claims.conversation_id)
            except Exception:
                await self.send_error(
                    "turn_failed", "the assistant failed to answer; a person will follow up"
                )
                return
            if not self.turn_again:
                return

    async def send_error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})

    # Group events: forward only what the customer may see.
    async def conversation_token(self, event: dict) -> None:
        await self.send_json({"type": "token", "message_id": event["message_id"], "text": event["text"]})

    async def conversation_message_created(self, event: dict) -> None:
        if event["role"] in delivery.CUSTOMER_VISIBLE_ROLES:
            await self.forward_message(event)

    async def forward_message(self, event: dict) -> None:
        """Send a message to the customer once per socket, and record that it reached them."""
        if event["message_id"] in self.forwarded:
            return
        self.forwarded.add(event["message_id"])
        payload = {
            "type": "message",
            "message_id": event["message_id"],
            "role": event["role"],
            "text": event["text"],
        }
        if event["role"] == "agent" and event.get("sender"):
            payload["agent"] = event["sender"]
        if event.get("citations"):
            payload["citations"] = event["citations"]
        await self.send_json(payload)
        try:
            await database_sync_to_async(delivery.mark_received)(
                message_id=event["message_id"], channel="webchat"
            )
        except (
            Exception
        ):  # the database is restarting: record it once it is back (else a reconnect resends it)
            asyncio.create_task(self._mark_received_later(event["message_id"]))

    async def _mark_received_later(self, message_id: str) -> None:
        for _ in range(MARK_RECEIVED_ATTEMPTS):
            await asyncio.sleep(1.0)
            try:
                await database_sync_to_async(delivery.mark_received)(message_id=message_id, channel="webchat")
                return
            except Exception:
                continue
        logger.warning("could not record that message %s reached the customer", message_id)

    async def conversation_handoff_changed(self, event: dict) -> None:
        payload = {"type": "handoff", "status": event["status"]}
        if event.get("agent"):
            payload["agent"] = event["agent"]
        await self.send_json(payload)

"""`/ws/voice/relay`: Twilio ConversationRelay (setup, prompt, interrupt, dtmf, error in; text, end out).

The AI turn streams straight to the socket, so what Twilio speaks starts with the LLM's first word;
an `interrupt` cancels the turn's task at once and the reply is stored as what the caller heard.
"""

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from conversations.models import Conversation, Message
from conversations.services import Inbound
from handoff import selectors as handoff_selectors
from infra import metrics
from infra.db import database_sync_to_async
from infra.groups import conversation_group
from infra.text import MESSAGE_MAX_CHARS, cut_text, is_clean
from memory import selectors as memory_selectors

from .. import pipeline, runtime
from . import voice
from .speech import SpeakableChunker
from .twilio_security import handshake_is_from_twilio

logger = logging.getLogger(__name__)

KEYPAD_DIGITS = set("0123456789*")
MAX_KEYPAD_DIGITS = 32
CALL_SID_MAX_CHARS = 64  # Twilio's are 34


@dataclass
class SpokenReply:
    """One AI turn as the caller receives it."""

    message_id: uuid.UUID | None = None
    sent: str = ""
    finished: bool = False


class VoiceRelayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.accepted = False
        if not handshake_is_from_twilio(self.scope):
            metrics.TWILIO_REJECTED.labels(endpoint=self.scope["path"]).inc()
            logger.warning("refused a voice relay handshake: missing or invalid X-Twilio-Signature")
            await self.close()
            return
        self.call: voice.Call | None = None
        self.turn: asyncio.Task | None = None
        self.finishing: set[asyncio.Task] = set()
        self.reply: SpokenReply | None = None  # the reply being spoken, or the last one
        self.digits = ""
        self.keypad_timer: asyncio.Task | None = None
        self.ended = False
        self.accepted = True
        await self.accept()
        metrics.WEBSOCKETS.labels(kind="voice").inc()

    async def disconnect(self, code: int) -> None:
        if not self.accepted:
            return
        metrics.WEBSOCKETS.labels(kind="voice").dec()
        if self.keypad_timer:
            self.keypad_timer.cancel()
        if self.call is None:
            return
        conversation_id = self.call.conversation.id
        await self.channel_layer.group_discard(conversation_group(conversation_id), self.channel_name)
        if self._reply_streaming():
            # The caller hung up mid-reply: at most what was already sent reached them.
            await self._stop_turn(heard=self.reply.sent if self.reply else "")
        await database_sync_to_async(voice.end_call)(conversation_id=conversation_id)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            content = json.loads(text_data or "")
        except (json.JSONDecodeError, RecursionError):
            logger.warning("voice relay: ignoring a frame that is not JSON")
            return
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "setup":
            await self.on_setup(content)
        elif kind == "prompt":
            await self.on_prompt(content)
        elif kind == "interrupt":
            await self.on_interrupt(content)
        elif kind == "dtmf":
            await self.on_dtmf(content)
        elif kind == "error":
            metrics.VOICE_RELAY_ERRORS.inc()
            logger.warning(
                "ConversationRelay error on call %s: %s", self._call_sid(), content.get("description")
            )
        else:
            # Never answer with an error frame: ConversationRelay rejects messages it does not know.
            logger.info("voice relay: ignoring message type %r", kind)

    # Messages from Twilio.

    async def on_setup(self, content: dict) -> None:
        call_sid = str(content.get("callSid") or "")
        if not is_clean(call_sid) or len(call_sid) > CALL_SID_MAX_CHARS:
            call_sid = ""  # not a CallSid Twilio would send: refused below like a missing one
        if self.call is not None:
            logger.warning("voice relay: repeated setup on call %s ignored", self._call_sid())
            return
        parameters = content.get("customParameters")
        token = parameters.get("call_token") if isinstance(parameters, dict) else None
        if not call_sid or not self._call_token_accepted(call_sid, token):
            logger.warning("voice relay: setup for call %r without a valid call token; closing", call_sid)
            await self.close(code=4403)
            return
        self.call = await database_sync_to_async(voice.open_call)(
            call_sid=call_sid, from_number=str(content.get("from") or "")
        )
        # What memory knows of the caller, loaded once per call; each turn recalls by meaning.
        self.profile = await database_sync_to_async(memory_selectors.profile_for)(
            customer_id=self.call.conversation.customer_id
        )
        await self.channel_layer.group_add(conversation_group(self.call.conversation.id), self.channel_name)

    @staticmethod
    def _call_token_accepted(call_sid: str, token: object) -> bool:
        # Baton's own TwiML always passes the token; a wrong one is refused. A setup without one is
        # what Twilio's protocol alone allows (the handshake signature), unless strict mode is on.
        if not token:
            return not settings.BATON_VOICE["require_call_token"]
        try:
            return voice.call_sid_from_token(str(token)) == call_sid
        except voice.BadCallToken:
            return False

    async def on_prompt(self, content: dict) -> None:
        if content.get("last") is False:
            return  # a partial transcript: the caller is still speaking
        # A caller cannot be told their words were too long: keep them, cut, rather than refuse.
        text = cut_text(str(content.get("voicePrompt") or ""), limit=MESSAGE_MAX_CHARS)
        if text:
            await self.customer_says(text)

    async def on_interrupt(self, content: dict) -> None:
        metrics.VOICE_INTERRUPTS.inc()
        await self._stop_turn(
            heard=cut_text(str(content.get("utteranceUntilInterrupt") or ""), limit=MESSAGE_MAX_CHARS)
        )

    async def on_dtmf(self, content: dict) -> None:
        digit = str(content.get("digit") or "")
        if digit == "#":
            await self.submit_keypad()
        elif digit in KEYPAD_DIGITS and len(digit) == 1 and len(self.digits) < MAX_KEYPAD_DIGITS:
            self.digits += digit
            if self.keypad_timer:
                self.keypad_timer.cancel()
            self.keypad_timer = asyncio.create_task(self._submit_keypad_later())

    # The conversation.

    async def customer_says(self, text: str) -> None:
        if self.call is None or self.ended:
            logger.warning("voice relay: caller input before setup or after the end; ignored")
            return
        if self._reply_streaming():
            # The caller spoke over a reply still being written: it is stale, what was sent is what they got.
            await self._stop_turn(heard=self.reply.sent if self.reply else "")
        conversation_id = self.call.conversation.id
        stored = await database_sync_to_async(pipeline.store_customer_message)(
            Inbound(
                channel=Conversation.Channel.VOICE,
                identity_channel=self.call.identity_channel,
                address=self.call.address,
                text=text,
                conversation_id=conversation_id,
            )
        )
        # Operators run beside the AI turn, on a thread of their own (the turn's database work has
        # the default one); the turn's first word waits for their verdict, so an escalation still
        # wins and nothing the caller did not hear is stored.
        observing = asyncio.ensure_future(
            database_sync_to_async(pipeline.observe_stored_message, thread_sensitive=False)(stored)
        )
        if stored.received.ai_should_reply:
            if self.turn and not self.turn.done():
                # The last reply is all sent; its turn finishes beside this one (held: tasks are weakly kept).
                self.finishing.add(self.turn)
                self.turn.add_done_callback(self.finishing.discard)
            self.reply = SpokenReply()
            self.turn = asyncio.create_task(self._speak_turn(self.reply, observing))
        elif not (await observing).ai_should_reply:
            await self._end_if_handed_off()

    def _reply_streaming(self) -> bool:
        """A turn is running and its reply is not all sent (a sent one's turn only has the operators left)."""
        return bool(self.turn and not self.turn.done() and not (self.reply and self.reply.finished))

    async def _end_if_handed_off(self) -> None:
        """End the relay with `handoffData` when the conversation has a live handoff (a rule escalated)."""
        handoff = await database_sync_to_async(handoff_selectors.live_handoff)(self.call.conversation.id)
        if handoff:
            await self.end_with_handoff(handoff.pk, handoff.reason)

    async def submit_keypad(self) -> None:
        if self.keypad_timer and self.keypad_timer is not asyncio.current_task():
            self.keypad_timer.cancel()
        self.keypad_timer = None
        digits, self.digits = self.digits, ""
        if digits:
            await self.customer_says(f"Keypad entry: {digits}")

    async def _submit_keypad_later(self) -> None:
        await asyncio.sleep(settings.BATON_VOICE["dtmf_timeout_seconds"])
        await self.submit_keypad()

    async def _speak_turn(self, reply: SpokenReply, observing: asyncio.Future) -> None:
        chunker = SpeakableChunker()
        events = runtime.ai_turn_events(self.call.conversation.id)
        cleared = False
        try:
            async for event in events:
                if not cleared:
                    # The turn waits at its first event (nothing said, nothing stored) for the
                    # operators' verdict: an escalation stops it here.
                    if not (await observing).ai_should_reply:
                        await events.aclose()
                        await self._end_if_handed_off()
                        return
                    cleared = True
                if isinstance(event, runtime.TurnToken):
                    reply.message_id = event.message_id
                    piece = chunker.feed(event.text)
                    if piece:
                        await self._say(reply, piece, last=False)
                elif isinstance(event, runtime.TurnMessage):
                    message = event.message
                    if message.id == reply.message_id:
                        await self._say(reply, chunker.flush(), last=True)
                    elif message.role in (Message.Role.AI, Message.Role.SYSTEM):
                        # A reply that did not stream (e.g. the holding reply after an LLM failure).
                        reply.message_id = message.id
                        await self._say(reply, message.text, last=True)
                elif isinstance(event, runtime.TurnHandoff):
                    if reply.sent and not reply.finished:
                        await self._say(reply, chunker.flush(), last=True)
                    await self.end_with_handoff(event.handoff_id, event.reason)
                    return
            if not cleared and not (await observing).ai_should_reply:
                await self._end_if_handed_off()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("voice turn failed on call %s", self._call_sid())
            # Nobody is left speaking to the caller: hand them to a person rather than leave silence.
            handoff = await database_sync_to_async(voice.route_call_to_human)(
                call_sid=self._call_sid(), reason="llm_failure", detail="the voice turn crashed"
            )
            if handoff:
                await self.end_with_handoff(handoff.pk, handoff.reason)

    async def _say(self, reply: SpokenReply, token: str, *, last: bool) -> None:
        if reply is not self.reply or reply.finished:
            return  # a stopped turn never speaks again
        reply.sent += token
        reply.finished = last
        await self.send(text_data=json.dumps({"type": "text", "token": token, "last": last}))

    async def _stop_turn(self, *, heard: str) -> None:
        """Cancel the turn at once (nothing more is sent for it) and store the reply as heard."""
        reply, turn = self.reply, self.turn
        self.reply, self.turn = None, None
        if turn and not turn.done():
            turn.cancel()
        if reply is None or reply.message_id is None or self.call is None:
            return  # nothing was said yet (or only the welcome greeting)
        await database_sync_to_async(voice.record_interrupted_reply)(
            conversation_id=self.call.conversation.id, message_id=reply.message_id, heard_text=heard
        )

    async def end_with_handoff(self, handoff_id: int, reason: str) -> None:
        """Send `end`: Twilio closes the session and posts `handoffData` to the Connect action URL."""
        if self.ended:
            return
        self.ended = True
        if self.turn and self.turn is not asyncio.current_task() and not self.turn.done():
            self.turn.cancel()
        handoff_data = {
            "handoff_id": handoff_id,
            "reason": reason,
            "conversation_id": str(self.call.conversation.id) if self.call else None,
        }
        await self.send(text_data=json.dumps({"type": "end", "handoffData": json.dumps(handoff_data)}))

    def _call_sid(self) -> str:
        return self.call.conversation.external_id if self.call else ""

    # Group events: the caller hears only the AI; a handoff started elsewhere (a rule, a supervisor) ends the relay.

    async def conversation_message_created(self, event: dict) -> None:
        pass

    async def conversation_token(self, event: dict) -> None:
        pass

    async def conversation_changed(self, event: dict) -> None:
        pass

    async def conversation_signal_raised(self, event: dict) -> None:
        pass

    async def conversation_handoff_changed(self, event: dict) -> None:
        if event.get("status") != "queued" or self.ended or self.call is None:
            return
        handoff = await database_sync_to_async(handoff_selectors.live_handoff)(self.call.conversation.id)
        if handoff:
            await self.end_with_handoff(handoff.pk, handoff.reason)

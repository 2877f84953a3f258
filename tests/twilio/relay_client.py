"""A ConversationRelay client: speaks to `/ws/voice/relay` exactly as Twilio does, over a real websocket."""

import asyncio
import json
import time

import websockets
from django.conf import settings
from twilio.request_validator import RequestValidator

RELAY_PATH = "/ws/voice/relay"


def relay_signature(token: str | None = None) -> str:
    """Twilio signs the wss URL it was given in the TwiML, with no parameters."""
    url = settings.BATON_PUBLIC_URL.replace("https://", "wss://", 1) + RELAY_PATH
    return RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(url, {})


class RelayClient:
    def __init__(self, socket) -> None:
        self.socket = socket
        self.frames: list[tuple[float, dict]] = []  # (monotonic arrival time, frame)

    @classmethod
    async def connect(cls, address: str, signature: str | None = None) -> "RelayClient":
        headers = {"X-Twilio-Signature": signature if signature is not None else relay_signature()}
        socket = await websockets.connect(f"ws://{address}{RELAY_PATH}", additional_headers=headers)
        return cls(socket)

    async def close(self) -> None:
        await self.socket.close()

    async def send(self, frame: dict) -> None:
        await self.socket.send(json.dumps(frame))

    async def setup(
        self, call_sid: str, caller: str = "+14155550100", call_token: str | None = None, **extra
    ) -> None:
        """Twilio's setup message; `call_token` is the custom parameter of the TwiML (made here when None)."""
        if call_token is None:
            from orchestration.channels.voice import issue_call_token

            call_token = issue_call_token(call_sid=call_sid)
        await self.send(
            {
                "type": "setup",
                "sessionId": "VX" + call_sid[2:],
                "accountSid": settings.TWILIO_ACCOUNT_SID,
                "parentCallSid": "",
                "callSid": call_sid,
                "from": caller,
                "to": "+18885550123",
                "forwardedFrom": "",
                "callType": "PSTN",
                "callerName": "",
                "direction": "inbound",
                "callStatus": "RINGING",
                "customParameters": {"call_token": call_token} if call_token else {},
                **extra,
            }
        )

    async def prompt(self, text: str, last: bool = True) -> None:
        await self.send({"type": "prompt", "voicePrompt": text, "lang": "en-US", "last": last})

    async def interrupt(self, heard: str, duration_ms: int = 460) -> None:
        await self.send(
            {"type": "interrupt", "utteranceUntilInterrupt": heard, "durationUntilInterruptMs": duration_ms}
        )

    async def dtmf(self, digit: str) -> None:
        await self.send({"type": "dtmf", "digit": digit})

    async def error(self, description: str) -> None:
        await self.send({"type": "error", "description": description})

    async def receive(self, timeout: float = 10) -> dict:
        frame = json.loads(await asyncio.wait_for(self.socket.recv(), timeout))
        self.frames.append((time.monotonic(), frame))
        return frame

    async def reply(self, timeout: float = 10) -> list[dict]:
        """Every frame up to the end of the reply: a text frame with `last: true`, or an `end`."""
        frames = []
        while True:
            frame = await self.receive(timeout)
            frames.append(frame)
            if frame["type"] == "end" or (frame["type"] == "text" and frame["last"]):
                return frames

    async def nothing_within(self, seconds: float) -> bool:
        try:
            frame = await self.receive(timeout=seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected silence, got {frame}")


def spoken(frames: list[dict]) -> str:
    return "".join(f["token"] for f in frames if f["type"] == "text")

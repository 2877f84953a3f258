"""Helpers for full conversations against the demo store served over real HTTP by Daphne."""

from channels.db import database_sync_to_async

from conversations.actions.models import ActionInvocation
from demostore.models import StoreOrder, StoreUser
from tests.builders import connect_chat, receive_until, start_chat

USER = "aarav_anderson_8794"
EMAIL = "aarav.anderson9752@example.com"
GIFT_CARD = "gift_card_7245904"
PENDING = "#W9300146"  # Desk Lamp, paid with the gift card
DELIVERED = "#W4316152"  # two Tea Kettles
DELIVERED_MIXED = "#W3470184"  # earbuds, a stainless steel blue 1000ml water bottle, a bookshelf
PROCESSED = "#W3220203"


class Chat:
    """One customer's chat: say something, get the AI's (or system's) whole reply."""

    def __init__(self, communicator, conversation_id: str) -> None:
        self.communicator = communicator
        self.conversation_id = conversation_id
        self.turn = 0

    @classmethod
    async def open(cls, use_case: str, **fields) -> "Chat":
        session = await database_sync_to_async(start_chat)(use_case=use_case, **fields)
        return cls(await connect_chat(session["token"]), session["conversation_id"])

    async def say(self, text: str) -> str:
        self.turn += 1
        await self.communicator.send_json_to({"type": "message", "text": text, "client_id": f"t-{self.turn}"})
        # The first turn of a process loads the embedding model: allow for it on a busy machine.
        frames = await receive_until(self.communicator, "message", timeout=60)
        return frames[-1]["text"]

    async def say_until_handoff(self, text: str) -> list[dict]:
        self.turn += 1
        await self.communicator.send_json_to({"type": "message", "text": text, "client_id": f"t-{self.turn}"})
        return await receive_until(self.communicator, "handoff", timeout=60)

    async def close(self) -> None:
        await self.communicator.disconnect()


def store_snapshot(user_id: str = USER) -> dict:
    """Every order of the user and the account itself, to prove nothing changed."""
    orders = {o.order_id: (o.status, o.data) for o in StoreOrder.objects.filter(user_id=user_id)}
    return {"orders": orders, "account": StoreUser.objects.get(user_id=user_id).data}


def order_data(order_id: str) -> dict:
    return StoreOrder.objects.get(order_id=order_id).data


def invocations(conversation_id: str) -> list[tuple[str, str]]:
    return list(
        ActionInvocation.objects.filter(conversation_id=conversation_id)
        .order_by("created_at")
        .values_list("action_name", "status")
    )

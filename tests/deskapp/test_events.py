"""Live updates published from database code: delivered, in order, whatever Redis does to one of them."""

import asyncio

from channels.db import database_sync_to_async
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer

from deskapp import events


class _Listener:
    """A channel in `group`, on a layer of its own: the shared layer's receive locks belong to one event loop."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)

    async def start(self) -> "_Listener":
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        return self

    async def received(self, count: int) -> list[dict]:
        return [await asyncio.wait_for(self.layer.receive(self.channel), timeout=5) for _ in range(count)]


async def _listener(group: str) -> _Listener:
    return await _Listener(group).start()


async def test_events_from_database_code_inside_the_server_arrive_in_the_order_they_were_sent():
    listener = await _listener("conversation.ordered")

    def publish_burst() -> None:
        for n in range(40):
            events._send(["conversation.ordered"], "conversation.token", {"n": n})

    await database_sync_to_async(publish_burst)()
    assert [event["n"] for event in await listener.received(40)] == list(range(40))


async def test_a_send_that_fails_loses_only_its_own_event(monkeypatch, caplog):
    listener = await _listener("conversation.flaky")
    layer = get_channel_layer()
    real_group_send = layer.group_send

    async def flaky_group_send(group, message):
        if message.get("n") == 1:
            raise ConnectionError("redis went away")
        await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", flaky_group_send)

    def publish_three() -> None:
        for n in range(3):
            events._send(["conversation.flaky"], "conversation.token", {"n": n})

    await database_sync_to_async(publish_three)()
    assert [event["n"] for event in await listener.received(2)] == [0, 2]
    assert "could not publish conversation.token" in caplog.text


def test_without_a_server_loop_the_event_is_sent_before_the_call_returns():
    # A Celery worker or a management command: nothing would send a handed-over event later.
    async def listen_then_check() -> list[dict]:
        listener = await _listener("conversation.worker")
        await asyncio.get_running_loop().run_in_executor(
            None, events._send, ["conversation.worker"], "conversation.token", {"n": 7}
        )
        return await listener.received(1)

    assert [event["n"] for event in asyncio.run(listen_then_check())] == [7]

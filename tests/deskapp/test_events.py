"""Live updates published from database code: delivered, in order, whatever Redis does to one of them."""

import asyncio

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from infra import events


async def _listener(group: str) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def _received(channel: str, count: int) -> list[dict]:
    layer = get_channel_layer()
    return [await asyncio.wait_for(layer.receive(channel), timeout=5) for _ in range(count)]


async def test_events_from_database_code_inside_the_server_arrive_in_the_order_they_were_sent():
    channel = await _listener("conversation.ordered")

    def publish_burst() -> None:
        for n in range(40):
            events._send(["conversation.ordered"], "conversation.token", {"n": n})

    await database_sync_to_async(publish_burst)()
    assert [event["n"] for event in await _received(channel, 40)] == list(range(40))


async def test_a_send_that_fails_loses_only_its_own_event(monkeypatch, caplog):
    channel = await _listener("conversation.flaky")
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
    assert [event["n"] for event in await _received(channel, 2)] == [0, 2]
    assert "could not publish conversation.token" in caplog.text


def test_without_a_server_loop_the_event_is_sent_before_the_call_returns():
    # A Celery worker or a management command: nothing would send a handed-over event later.
    async def listen_then_check() -> list[dict]:
        channel = await _listener("conversation.worker")
        await asyncio.get_running_loop().run_in_executor(
            None, events._send, ["conversation.worker"], "conversation.token", {"n": 7}
        )
        return await _received(channel, 1)

    assert [event["n"] for event in asyncio.run(listen_then_check())] == [7]


async def test_tokens_queued_together_go_out_as_one_event_before_what_follows():
    channel = await _listener("conversation.joined")
    for word in ["Your ", "order ", "shipped."]:
        events.publish_in_order(
            ["conversation.joined"], "conversation.token", {"message_id": "m1", "text": word}
        )

    def store_the_message() -> None:  # as the outbox publishes the stored message, from database code
        events._send(["conversation.joined"], "conversation.message_created", {"message_id": "m1"})

    await database_sync_to_async(store_the_message)()
    received = await _received(channel, 2)
    assert [(e["type"], e.get("text")) for e in received] == [
        ("conversation.token", "Your order shipped."),
        ("conversation.message_created", None),
    ]

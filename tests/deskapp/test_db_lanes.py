"""Database lanes: a websocket connection's calls run in order on one thread; connections spread over lanes."""

import asyncio
import threading

from infra.db import DatabaseLanes, database_sync_to_async


async def _connection_threads(lanes: DatabaseLanes, calls: int) -> list[str]:
    seen: list[str] = []

    async def app(scope, receive, send):
        for n in range(calls):
            await database_sync_to_async(lambda n=n: seen.append(f"{n}:{threading.current_thread().name}"))()

    # One middleware, one app per connection here: the lane is what the middleware hands out.
    await DatabaseLanes.__call__(_With(lanes, app), {"type": "websocket"}, None, None)
    return seen


class _With:
    """The same lanes in front of another app."""

    def __init__(self, lanes: DatabaseLanes, app) -> None:
        self.__dict__.update(lanes.__dict__)
        self.app = app


def test_a_connection_keeps_to_one_lane_in_order_and_connections_take_turns():
    lanes = DatabaseLanes(None, 2)

    async def main():
        return await asyncio.gather(*(_connection_threads(lanes, 5) for _ in range(2)))

    first, second = asyncio.run(main())
    for seen in (first, second):
        assert [s.split(":")[0] for s in seen] == ["0", "1", "2", "3", "4"]
        assert len({s.split(":")[1] for s in seen}) == 1
    assert first[0].split(":")[1] != second[0].split(":")[1]
    assert first[0].split(":")[1].startswith("db-socket-")


def test_http_requests_run_django_sync_work_on_lanes_of_their_own():
    from asgiref.sync import sync_to_async

    async def app(scope, receive, send):
        scope["thread"] = await sync_to_async(lambda: threading.current_thread().name)()

    lanes = DatabaseLanes(app, 2)
    scope = {"type": "http"}
    asyncio.run(lanes(scope, None, None))
    assert scope["thread"].startswith("db-http-")

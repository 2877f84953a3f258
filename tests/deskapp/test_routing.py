"""Websocket paths nobody serves are refused cleanly, not answered with a server error."""

import socket

import pytest
from channels.testing import WebsocketCommunicator

from deskapp.asgi import application


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/nope/", "/", "/ws/chat/extra"])
async def test_an_unknown_websocket_path_is_refused(path):
    communicator = WebsocketCommunicator(application, path)
    connected, code = await communicator.connect()
    assert (connected, code) == (False, 4404)
    await communicator.disconnect()


def test_the_upgrade_to_an_unknown_path_is_refused_by_a_live_server(live_daphne):
    host, port = live_daphne.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"GET /ws/nope/ HTTP/1.1\r\n"
            + f"Host: {live_daphne}\r\n".encode()
            + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 403")

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from handoff.routing import websocket_urlpatterns as handoff_ws
from orchestration.routing import websocket_urlpatterns as conversation_ws


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Any other path: refuse the handshake (HTTP 403), where URLRouter would raise and answer 500."""

    async def connect(self) -> None:
        await self.close(code=4404)


websocket_urlpatterns = [*conversation_ws, *handoff_ws, re_path(r"", UnknownPathConsumer.as_asgi())]

from conversations.routing import websocket_urlpatterns as conversation_ws
from handoff.routing import websocket_urlpatterns as handoff_ws

websocket_urlpatterns = [*conversation_ws, *handoff_ws]

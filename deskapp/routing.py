from handoff.routing import websocket_urlpatterns as handoff_ws
from orchestration.routing import websocket_urlpatterns as conversation_ws

websocket_urlpatterns = [*conversation_ws, *handoff_ws]

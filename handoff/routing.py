from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from . import consumers

# Staff sockets ride on the session cookie, so a page on another origin must not open them.
websocket_urlpatterns = [
    path("ws/desk/", AllowedHostsOriginValidator(consumers.DeskConsumer.as_asgi())),
    path("ws/supervisor/", AllowedHostsOriginValidator(consumers.SupervisorConsumer.as_asgi())),
]

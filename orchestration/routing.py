from django.urls import path

from . import consumers
from .channels.twilio_voice import VoiceRelayConsumer

websocket_urlpatterns = [
    path("ws/chat/", consumers.ChatConsumer.as_asgi()),
    path("ws/voice/relay", VoiceRelayConsumer.as_asgi()),
]

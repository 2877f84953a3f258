from django.urls import path

from . import views

urlpatterns = [
    path("twilio/voice/incoming", views.voice_incoming, name="twilio-voice-incoming"),
    path("twilio/voice/handoff", views.voice_handoff, name="twilio-voice-handoff"),
    path("twilio/sms/incoming", views.sms_incoming, name="twilio-sms-incoming"),
    path("twilio/sms/status", views.sms_status, name="twilio-sms-status"),
]

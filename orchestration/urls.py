from django.urls import include, path

from . import views

urlpatterns = [
    path("api/chat/sessions", views.create_chat_session, name="chat-sessions"),
    path("chat/", views.chat_page, name="chat"),
    path("", include("orchestration.channels.urls")),
]

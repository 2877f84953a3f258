from django.urls import path

from . import views

urlpatterns = [
    path("desk/", views.desk, name="desk"),
    path("desk/inbox", views.desk_inbox, name="desk-inbox"),
    path("desk/conversations/<uuid:conversation_id>", views.desk_conversation, name="desk-conversation"),
    path("desk/conversations/<uuid:conversation_id>/notes", views.add_note, name="desk-note"),
    path("desk/handoffs/<int:handoff_id>/accept", views.accept, name="desk-accept"),
    path("desk/handoffs/<int:handoff_id>/reply", views.reply, name="desk-reply"),
    path("desk/handoffs/<int:handoff_id>/resolve", views.resolve, name="desk-resolve"),
    path("desk/handoffs/<int:handoff_id>/hand-back", views.hand_back, name="desk-hand-back"),
    path("desk/drafts/<int:draft_id>/ignore", views.ignore_draft, name="desk-ignore-draft"),
    path("supervisor/", views.board, name="board"),
    path("supervisor/table", views.board_table, name="board-table"),
    path("supervisor/conversations/<uuid:conversation_id>", views.watch, name="board-watch"),
    path(
        "supervisor/conversations/<uuid:conversation_id>/take-over", views.take_over, name="board-take-over"
    ),
    path("supervisor/conversations/<uuid:conversation_id>/reassign", views.reassign, name="board-reassign"),
]

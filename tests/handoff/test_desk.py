"""The agent desk and supervisor board over HTTP and their staff websockets: permissions first."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Message
from deskapp.asgi import application
from handoff import services as handoff_services
from handoff.defaults import seed_handoff_defaults
from handoff.models import CopilotDraft, Handoff
from orchestration import copilot
from tests.builders import connect_chat, receive_until, start_chat
from tests.staff import make_staff


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def escalated_conversation(text: str = "I want a real person") -> tuple[dict, Handoff]:
    from conversations.services import Inbound
    from orchestration.pipeline import accept_customer_message
    from orchestration.tokens import read_chat_token

    session = start_chat(name="Noah Brown")
    claims = read_chat_token(session["token"])
    accept_customer_message(
        Inbound(
            channel="webchat",
            identity_channel="webchat",
            address=claims.visitor_id,
            text=text,
            external_id="m1",
            conversation_id=claims.conversation_id,
        )
    )
    return session, Handoff.objects.get(conversation_id=session["conversation_id"])


@pytest.mark.django_db
class TestPagePermissions:
    def test_anonymous_users_are_sent_to_login(self):
        for url in ["/desk/", "/desk/inbox", "/supervisor/", "/supervisor/table"]:
            response = Client().get(url)
            assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url

    def test_agents_get_the_desk_but_not_the_board(self, offline_use_case):
        agent = make_staff("alex")
        assert client_for(agent).get("/desk/").status_code == 200
        assert client_for(agent).get("/supervisor/").status_code == 403

    def test_users_outside_staff_groups_get_403(self):
        nobody = User.objects.create_user("visitor", password="x")
        assert client_for(nobody).get("/desk/").status_code == 403

    def test_forms_require_csrf(self, offline_use_case):
        agent = make_staff("alex")
        _, handoff = escalated_conversation()
        client = Client(enforce_csrf_checks=True)
        client.force_login(agent)
        assert client.post(f"/desk/handoffs/{handoff.pk}/accept").status_code == 403
        assert Handoff.objects.get(pk=handoff.pk).status == "queued"


@pytest.mark.django_db
class TestDeskActions:
    def test_inbox_shows_only_handoffs_in_the_agents_queues(self, offline_use_case):
        alex = make_staff("alex")
        outsider = make_staff("olga", queue=False)
        _, handoff = escalated_conversation()
        assert handoff.queue.name == "general"
        assert b"Noah Brown" in client_for(alex).get("/desk/inbox").content
        assert b"Noah Brown" not in client_for(outsider).get("/desk/inbox").content
        # ... and the server refuses, whatever the page shows.
        assert client_for(outsider).post(f"/desk/handoffs/{handoff.pk}/accept").status_code == 409
        assert client_for(outsider).get(f"/desk/conversations/{handoff.conversation_id}").status_code == 403

    def test_only_one_agent_wins_the_accept_race(self, offline_use_case):
        alex, bea = make_staff("alex"), make_staff("bea")
        _, handoff = escalated_conversation()
        first = client_for(alex).post(f"/desk/handoffs/{handoff.pk}/accept")
        second = client_for(bea).post(f"/desk/handoffs/{handoff.pk}/accept")
        assert first.status_code == 200 and b"Reply" in first.content
        assert second.status_code == 409 and b"already accepted" in second.content
        assert Handoff.objects.get(pk=handoff.pk).agent == alex

    def test_accepted_conversation_shows_packet_and_history(self, offline_use_case):
        alex = make_staff("alex")
        _, handoff = escalated_conversation()
        page = client_for(alex).post(f"/desk/handoffs/{handoff.pk}/accept").content.decode()
        assert "Summary" in page and "Customer asked for a person" in page
        assert "I want a real person" in page

    def test_only_the_accepting_agent_replies(self, offline_use_case):
        alex, bea = make_staff("alex"), make_staff("bea")
        _, handoff = escalated_conversation()
        client_for(alex).post(f"/desk/handoffs/{handoff.pk}/accept")
        assert client_for(bea).post(f"/desk/handoffs/{handoff.pk}/reply", {"text": "hi"}).status_code == 400
        assert (
            client_for(alex).post(f"/desk/handoffs/{handoff.pk}/reply", {"text": "Hello Noah"}).status_code
            == 204
        )
        assert list(Message.objects.filter(role="agent").values_list("text", "sender__username")) == [
            ("Hello Noah", "alex")
        ]

    def test_resolve_records_outcome_and_disposition(self, offline_use_case):
        alex = make_staff("alex")
        _, handoff = escalated_conversation()
        client = client_for(alex)
        client.post(f"/desk/handoffs/{handoff.pk}/accept")
        response = client.post(
            f"/desk/handoffs/{handoff.pk}/resolve",
            {"outcome": "follow_up", "disposition": "call back Monday"},
        )
        assert response.status_code == 200
        handoff.refresh_from_db()
        conversation = Conversation.objects.get(id=handoff.conversation_id)
        assert (conversation.status, conversation.outcome, handoff.disposition) == (
            "closed",
            "follow_up",
            "call back Monday",
        )
        assert client.post(f"/desk/handoffs/{handoff.pk}/resolve", {"outcome": "bogus"}).status_code == 400

    @pytest.mark.parametrize(
        ("form", "problem"),
        [
            ({}, "pick an outcome"),
            ({"outcome": "bogus"}, "pick an outcome from the list"),
            (
                {"outcome": "resolved", "disposition": "x" * 201},
                "the closing note is limited to 200 characters",
            ),
        ],
    )
    def test_resolve_with_a_bad_form_answers_400_saying_what_to_fix(self, offline_use_case, form, problem):
        alex = make_staff("alex")
        _, handoff = escalated_conversation()
        client = client_for(alex)
        client.post(f"/desk/handoffs/{handoff.pk}/accept")
        response = client.post(f"/desk/handoffs/{handoff.pk}/resolve", form, headers={"HX-Request": "true"})
        assert (response.status_code, response["HX-Retarget"]) == (400, "#resolve-problem")
        assert problem in response.content.decode()
        assert Handoff.objects.get(pk=handoff.pk).status == "accepted"

    def test_a_reply_with_a_malformed_draft_is_not_sent(self, offline_use_case):
        alex = make_staff("alex")
        _, handoff = escalated_conversation()
        client = client_for(alex)
        client.post(f"/desk/handoffs/{handoff.pk}/accept")
        response = client.post(f"/desk/handoffs/{handoff.pk}/reply", {"text": "Hello", "draft_id": "abc"})
        assert response.status_code == 400 and "reload the conversation" in response.content.decode()
        assert not Message.objects.filter(role="agent").exists()

    def test_agent_note_is_recalled_from_the_customers_memory(self, offline_use_case):
        from memory.selectors import recall

        alex = make_staff("alex")
        _, handoff = escalated_conversation()
        client = client_for(alex)
        client.post(f"/desk/handoffs/{handoff.pk}/accept")
        url = f"/desk/conversations/{handoff.conversation_id}/notes"
        assert client.post(url, {"text": "Prefers a call back after 6pm"}).status_code == 200
        assert client.post(url, {"text": "  "}).status_code == 400
        customer_id = Conversation.objects.get(id=handoff.conversation_id).customer_id
        recalled = recall(customer_id=customer_id, query="when can we call them back?", k=3)
        assert recalled and recalled[0].text == "Prefers a call back after 6pm"

    def test_hand_back_returns_the_conversation_to_the_ai(self, offline_use_case):
        alex = make_staff("alex")
        _, handoff = escalated_conversation()
        client = client_for(alex)
        client.post(f"/desk/handoffs/{handoff.pk}/accept")
        assert client.post(f"/desk/handoffs/{handoff.pk}/hand-back").status_code == 200
        conversation = Conversation.objects.get(id=handoff.conversation_id)
        assert (conversation.handler, conversation.status) == ("ai", "open")
        assert Handoff.objects.get(pk=handoff.pk).status == "closed"

    def test_copilot_draft_choice_is_recorded(self, offline_use_case):
        alex = make_staff("alex")
        _, handoff = escalated_conversation()
        client = client_for(alex)
        client.post(f"/desk/handoffs/{handoff.pk}/accept")
        conversation_id = handoff.conversation_id
        for question in ["Is shipping free?", "When is support available?", "ok"]:
            message = Message.objects.create(
                conversation_id=conversation_id, role="customer", text=question, created_at=timezone.now()
            )
            copilot.record_ai_draft(conversation_id=conversation_id, customer_message_id=message.id)
        sent_as_is, edited, ignored = CopilotDraft.objects.order_by("created_at")
        assert "free" in sent_as_is.text.lower()
        client.post(
            f"/desk/handoffs/{handoff.pk}/reply", {"text": sent_as_is.text, "draft_id": sent_as_is.pk}
        )
        client.post(
            f"/desk/handoffs/{handoff.pk}/reply",
            {"text": edited.text + " Anything else?", "draft_id": edited.pk},
        )
        client.post(f"/desk/drafts/{ignored.pk}/ignore")
        statuses = list(CopilotDraft.objects.order_by("created_at").values_list("status", flat=True))
        assert statuses == ["sent_as_is", "edited", "ignored"]


@pytest.mark.django_db
class TestSupervisorActions:
    def test_take_over_an_ai_conversation(self, offline_use_case):
        sam = make_staff("sam", supervisor=True)
        session = start_chat(name="Noah Brown")
        response = client_for(sam).post(f"/supervisor/conversations/{session['conversation_id']}/take-over")
        assert response.status_code == 204 and response["HX-Redirect"].endswith(session["conversation_id"])
        handoff = Handoff.objects.get(conversation_id=session["conversation_id"])
        assert (handoff.status, handoff.agent, handoff.reason) == ("accepted", sam, "supervisor")

    def test_reassign_to_another_agent_and_agents_cannot(self, offline_use_case):
        sam, alex, bea = make_staff("sam", supervisor=True), make_staff("alex"), make_staff("bea")
        _, handoff = escalated_conversation()
        client_for(alex).post(f"/desk/handoffs/{handoff.pk}/accept")
        url = f"/supervisor/conversations/{handoff.conversation_id}/reassign"
        assert client_for(alex).post(url, {"agent_id": alex.pk}).status_code == 403
        assert client_for(sam).post(url, {"agent_id": bea.pk}).status_code == 200
        assert Handoff.objects.get(pk=handoff.pk).agent == bea

    @pytest.mark.parametrize("form", [{"agent_id": "abc"}, {}, {"agent_id": "999999"}])
    def test_reassign_to_no_real_agent_answers_400_saying_to_pick_one(self, offline_use_case, form):
        sam, alex = make_staff("sam", supervisor=True), make_staff("alex")
        _, handoff = escalated_conversation()
        client_for(alex).post(f"/desk/handoffs/{handoff.pk}/accept")
        url = f"/supervisor/conversations/{handoff.conversation_id}/reassign"
        response = client_for(sam).post(url, form, headers={"HX-Request": "true"})
        assert response.status_code == 400
        assert "pick an agent" in response.content.decode()
        assert response["HX-Retarget"] == "#watch-result"  # shown on the watch page, not dropped
        assert Handoff.objects.get(pk=handoff.pk).agent == alex

    def test_board_lists_live_conversations_with_queue_depth(self, offline_use_case):
        sam = make_staff("sam", supervisor=True)
        escalated_conversation()
        start_chat(name="Ada Lovelace")
        page = client_for(sam).get("/supervisor/table").content.decode()
        assert "Noah Brown" in page and "Ada Lovelace" in page
        assert 'data-testid="queue-depth-general">1<' in page


async def staff_socket(path: str, user: User | None) -> tuple[WebsocketCommunicator, bool]:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:
        client = Client()
        await database_sync_to_async(client.force_login)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


@pytest.mark.django_db(transaction=True)
class TestStaffSockets:
    async def test_customers_and_anonymous_sockets_never_reach_desk_groups(self, offline_use_case):
        _, connected = await staff_socket("/ws/desk/", None)
        assert not connected
        session = await database_sync_to_async(start_chat)()
        _, connected = await staff_socket(f"/ws/desk/?token={session['token']}", None)
        assert not connected

    async def test_agent_socket_is_refused_on_the_supervisor_board(self, offline_use_case):
        alex = await database_sync_to_async(make_staff)("alex")
        _, connected = await staff_socket("/ws/supervisor/", alex)
        assert not connected

    async def test_agent_sees_a_handoff_appear_live_and_watches_the_transcript(self, offline_use_case):
        alex = await database_sync_to_async(make_staff)("alex")
        desk, connected = await staff_socket("/ws/desk/", alex)
        assert connected
        session = await database_sync_to_async(start_chat)(name="Noah Brown")
        chat = await connect_chat(session["token"])
        await chat.send_json_to({"type": "message", "text": "get me a human agent now", "client_id": "x1"})
        await receive_until(chat, "handoff")
        event = await desk.receive_json_from(timeout=5)
        while event["event"] != "conversation.handoff_changed":
            event = await desk.receive_json_from(timeout=5)
        assert event["status"] == "queued" and event["conversation_id"] == session["conversation_id"]
        await desk.send_json_to({"type": "watch", "conversation_id": session["conversation_id"]})
        while (await desk.receive_json_from(timeout=5))["event"] != "watching":
            pass
        await chat.send_json_to({"type": "message", "text": "hello? anyone?", "client_id": "x2"})
        seen = []
        while not any(e.get("text") == "hello? anyone?" for e in seen):
            seen.append(await desk.receive_json_from(timeout=5))
        await chat.disconnect()
        await desk.disconnect()

    async def test_agent_cannot_watch_a_conversation_outside_their_queues(self, offline_use_case):
        olga = await database_sync_to_async(make_staff)("olga", queue=False)
        await database_sync_to_async(seed_handoff_defaults)()
        session, _ = await database_sync_to_async(escalated_conversation)()
        desk, connected = await staff_socket("/ws/desk/", olga)
        assert connected
        await desk.send_json_to({"type": "watch", "conversation_id": session["conversation_id"]})
        assert (await desk.receive_json_from(timeout=5))["event"] == "error"
        await desk.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_agent_reassigned_a_conversation_outside_their_queues_is_told_on_their_desk(
    offline_use_case,
):
    await database_sync_to_async(seed_handoff_defaults)()
    olga = await database_sync_to_async(make_staff)("olga", queue=False)
    boss = await database_sync_to_async(make_staff)("boss", supervisor=True)
    session, handoff = await database_sync_to_async(escalated_conversation)()
    desk, connected = await staff_socket("/ws/desk/", olga)
    assert connected
    await database_sync_to_async(handoff_services.reassign_handoff)(
        handoff_id=handoff.pk, supervisor=boss, agent=olga
    )
    event = await desk.receive_json_from(timeout=5)
    assert (event["event"], event["status"], event["agent_id"], event["conversation_id"]) == (
        "conversation.handoff_changed",
        "accepted",
        olga.pk,
        session["conversation_id"],
    )
    assert await desk.receive_nothing(timeout=0.3), "told once"
    await desk.disconnect()

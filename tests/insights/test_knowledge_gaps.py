"""The knowledge gaps page: unanswered questions grouped by meaning, agents' replies, drafts from them."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Message
from handoff import services as handoff_services
from handoff.models import RuleDecision, Signal
from insights import selectors
from knowledge import selectors as knowledge_selectors
from knowledge import services as knowledge_services
from knowledge.models import Document
from tests.staff import make_staff

pytestmark = pytest.mark.django_db

PAGE = "/admin/insights/knowledgegap/"
SHIPPING = [
    "Do you ship to Canada?",
    "Can I get my order delivered to Canada?",
    "do you deliver internationally, to canada for example",
]
PAYPAL = ["Can I pay with PayPal?", "Do you accept PayPal as a payment method?"]
PASSWORD = "How do I change the password on my account?"
CANADA_REPLY = "Yes: we ship to Canada with Canada Post, 5-8 business days, duties paid at checkout."


def ask(text: str) -> Message:
    """A customer's question in a new web chat conversation."""
    inbound = conversation_services.Inbound(
        channel="webchat", identity_channel="webchat", address=f"visitor-{uuid.uuid4().hex}", text=text
    )
    return conversation_services.receive_message(inbound).message


def gap(text: str, *, agent: User | None = None, reply: str = "") -> Signal:
    """A question no article answered; with `agent`, the customer is handed to them and they reply."""
    question = ask(text)
    signal = handoff_services.record_knowledge_gap(message_id=question.id, best_score=0.31)
    if agent is not None:
        handoff = handoff_services.start_handoff(
            conversation_id=question.conversation_id, reason="customer_request"
        )
        handoff_services.accept_handoff(handoff_id=handoff.pk, agent=agent)
        if reply:
            handoff_services.send_agent_reply(handoff_id=handoff.pk, agent=agent, text=reply)
    return signal


def admin_user(username: str, *permissions: str, staff: bool = True) -> User:
    """A staff user holding `permissions` ("app_label.codename")."""
    user = User.objects.create_user(username, password="pw-" + username, is_staff=staff)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def draft_url(signal: Signal, reply: Message) -> str:
    return f"{PAGE}{signal.pk}/replies/{reply.pk}/draft/"


def agent_reply(signal: Signal) -> Message:
    return Message.objects.get(conversation_id=signal.conversation_id, role="agent")


def test_paraphrased_questions_group_together_and_an_unrelated_one_stands_apart():
    dana = make_staff("dana", first_name="Dana")
    shipping = [gap(SHIPPING[0], agent=dana, reply=CANADA_REPLY), gap(SHIPPING[1]), gap(SHIPPING[2])]
    paypal = [gap(text) for text in PAYPAL]
    password = gap(PASSWORD)

    groups = selectors.knowledge_gap_groups()

    assert [g.count for g in groups] == [3, 2, 1]
    assert [{q.signal_id for q in g.questions} for g in groups] == [
        {s.pk for s in shipping},
        {s.pk for s in paypal},
        {password.pk},
    ]
    first = groups[0]
    assert first.representative.text in SHIPPING
    assert first.first_asked == shipping[0].created_at and first.last_asked == shipping[2].created_at
    assert {q.text for q in first.examples} == set(SHIPPING) - {first.representative.text}
    [reply] = first.replies
    assert (reply.text, reply.agent, reply.signal_id) == (CANADA_REPLY, "Dana", shipping[0].pk)
    assert reply.conversation_id == shipping[0].conversation_id and reply.draft_id is None
    assert groups[1].replies == [] and groups[2].replies == []


def test_the_reply_shown_is_the_first_agent_message_after_the_question():
    dana = make_staff("dana", first_name="Dana")
    signal = gap(SHIPPING[0], agent=dana, reply=CANADA_REPLY)
    handoff = handoff_services.start_handoff(conversation_id=signal.conversation_id, reason="rule")
    handoff_services.send_agent_reply(handoff_id=handoff.pk, agent=dana, text="Anything else?")

    [group] = selectors.knowledge_gap_groups()

    assert [r.text for r in group.replies] == [CANADA_REPLY]


def test_the_admin_index_lists_knowledge_gaps_and_the_page_shows_groups_counts_and_replies():
    dana = make_staff("dana", first_name="Dana")
    gap(SHIPPING[0], agent=dana, reply=CANADA_REPLY)
    gap(SHIPPING[1])
    gap(PASSWORD)
    client = logged_in(User.objects.create_superuser("root", password="pw-root"))

    assert f'href="{PAGE}"' in client.get("/admin/").content.decode()
    html = client.get(PAGE).content.decode()

    assert "3 questions in 2 groups" in html
    assert "asked 2 times" in html and "asked 1 time<" in html
    assert CANADA_REPLY in html and "Dana" in html
    assert html.count("Draft an article from this reply") == 1
    assert "/admin/conversations/conversation/" in html
    assert html.index("asked 2 times") < html.index(PASSWORD)  # most asked first


def test_the_time_window_leaves_older_questions_out():
    old = gap(PAYPAL[0])
    Signal.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    gap(PASSWORD)
    client = logged_in(User.objects.create_superuser("root", password="pw-root"))

    assert "1 question in 1 group" in client.get(PAGE).content.decode()  # the last 30 days
    assert PAYPAL[0] not in client.get(PAGE + "?days=7").content.decode()
    assert PAYPAL[0] in client.get(PAGE + "?days=90").content.decode()


def test_drafting_from_a_reply_makes_one_unpublished_draft_and_opens_it():
    dana = make_staff("dana", first_name="Dana")
    signals = [gap(SHIPPING[0], agent=dana, reply=CANADA_REPLY), gap(SHIPPING[1])]
    [group] = selectors.knowledge_gap_groups()
    reply = agent_reply(signals[0])
    client = logged_in(User.objects.create_superuser("root", password="pw-root"))

    response = client.post(draft_url(signals[0], reply), {"question": group.representative.signal_id})

    draft = Document.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/knowledge/document/{draft.pk}/change/"
    assert (draft.status, draft.title, draft.text) == ("draft", group.representative.text, CANADA_REPLY)
    assert draft.external_id == f"gap-{signals[0].pk}-{reply.pk}"
    assert draft.source.kind == "drafts"
    found = knowledge_selectors.search("How long does shipping to Canada take?")
    assert draft.pk not in {p.document_id for p in found}
    followed = client.get(response["Location"])
    assert "Draft created: review it, then publish" in followed.content.decode()

    knowledge_services.publish_documents(Document.objects.filter(pk=draft.pk))
    found = knowledge_selectors.search("How long does shipping to Canada take?")
    assert draft.pk in {p.document_id for p in found}  # once published, the AI answers from it


def test_a_second_click_makes_no_second_draft_and_keeps_the_edited_one():
    dana = make_staff("dana", first_name="Dana")
    signal = gap(SHIPPING[0], agent=dana, reply=CANADA_REPLY)
    reply = agent_reply(signal)
    client = logged_in(User.objects.create_superuser("root", password="pw-root"))
    first = client.post(draft_url(signal, reply), {"question": signal.pk})
    Document.objects.update(text="Edited by the admin.")

    second = client.post(draft_url(signal, reply), {"question": signal.pk})

    assert second.status_code == 302 and second["Location"] == first["Location"]
    assert Document.objects.get().text == "Edited by the admin."
    html = client.get(PAGE).content.decode()
    assert "Draft an article from this reply" not in html and "Draft to review" in html


def test_a_message_that_is_not_the_agent_reply_to_the_gap_is_refused():
    dana = make_staff("dana", first_name="Dana")
    signal = gap(SHIPPING[0], agent=dana, reply=CANADA_REPLY)
    other = gap(PASSWORD, agent=dana, reply="Use the link on the login page.")
    client = logged_in(User.objects.create_superuser("root", password="pw-root"))

    assert client.post(draft_url(signal, signal.message)).status_code == 404  # the customer's question
    assert client.post(draft_url(signal, agent_reply(other))).status_code == 404  # another conversation
    assert client.get(draft_url(signal, agent_reply(signal))).status_code == 405
    assert not Document.objects.exists()


def test_only_staff_allowed_to_view_knowledge_gaps_see_the_page():
    gap(PASSWORD)
    anonymous = Client().get(PAGE)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    not_staff = admin_user("visitor", "insights.view_knowledgegap", staff=False)
    assert logged_in(not_staff).get(PAGE)["Location"].startswith("/admin/login/")
    assert logged_in(admin_user("clerk")).get(PAGE).status_code == 403
    assert "Knowledge gaps" not in logged_in(admin_user("clerk2")).get("/admin/").content.decode()
    assert logged_in(admin_user("reader", "insights.view_knowledgegap")).get(PAGE).status_code == 200


def test_drafting_needs_permission_to_add_knowledge_documents():
    dana = make_staff("dana", first_name="Dana")
    signal = gap(SHIPPING[0], agent=dana, reply=CANADA_REPLY)
    reader = logged_in(admin_user("reader", "insights.view_knowledgegap"))
    editor = logged_in(admin_user("editor", "insights.view_knowledgegap", "knowledge.add_document"))

    assert "Draft an article from this reply" not in reader.get(PAGE).content.decode()
    assert reader.post(draft_url(signal, agent_reply(signal))).status_code == 403
    assert not Document.objects.exists()
    assert "Draft an article from this reply" in editor.get(PAGE).content.decode()
    assert editor.post(draft_url(signal, agent_reply(signal))).status_code == 302
    assert Document.objects.filter(status="draft").count() == 1


def test_a_long_question_makes_a_one_line_title_cut_at_a_word():
    question = "Hello there,\nI would like to know " + "whether you can deliver my parcel " * 8
    title = selectors.gap_article_title(question)
    assert len(title) <= selectors.GAP_TITLE_MAX_CHARS and title.endswith("…") and "\n" not in title
    assert " ".join(question.split()).startswith(title[:-1])


def test_the_default_knowledge_gap_rule_flags_the_conversation_for_supervisors():
    make_staff("dana")  # seeds the default rules
    signal = gap(PASSWORD)
    [decision] = RuleDecision.objects.filter(conversation_id=signal.conversation_id)
    assert (decision.rule_name, decision.effect) == ("Knowledge gap", "flag")
    assert not signal.conversation.handoffs.exists()

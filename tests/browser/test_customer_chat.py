import pytest
from playwright.sync_api import expect

from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def test_customer_chats_and_sees_the_reply_stream_in(offline_use_case, live_daphne, new_page):
    page = new_page()
    page.goto(f"http://{live_daphne}/chat/")
    page.get_by_placeholder("Name").fill("Noah Brown")
    page.get_by_role("button", name="Start chatting").click()
    box = page.get_by_label("Message")
    box.fill("When is your support team available?")
    box.press("Enter")
    expect(page.locator(".bubble.customer .text")).to_have_text("When is your support team available?")
    expect(page.locator(".bubble.ai .text")).to_contain_text("8am to 8pm")
    # Under the reply, the article it came from.
    expect(page.locator(".bubble.ai .citations")).to_contain_text("Sources: Contact us")
    expect(page.locator(".bubble.ai .text")).not_to_contain_text("[1]")
    expect(box).to_have_value("")


def test_a_message_sent_before_starting_starts_the_chat_and_is_answered(
    offline_use_case, live_daphne, new_page
):
    page = new_page()
    page.goto(f"http://{live_daphne}/chat/")
    page.get_by_placeholder("Name").fill("Noah Brown")
    box = page.get_by_label("Message")
    box.fill("When is your support team available?")
    box.press("Enter")
    expect(page.locator(".bubble.ai .text")).to_contain_text("8am to 8pm")
    expect(page.locator(".bubble.customer")).to_have_class("bubble customer delivered")
    expect(page.get_by_role("button", name="Start chatting")).to_be_hidden()
    stored = Message.objects.get(role="customer")
    assert (stored.text, stored.conversation.customer.display_name) == (
        "When is your support team available?",
        "Noah Brown",
    )


def test_a_message_that_cannot_be_sent_says_so(offline_use_case, live_daphne, new_page):
    page = new_page()
    page.goto(f"http://{live_daphne}/chat/")
    page.get_by_placeholder("Email").fill("not an email")
    box = page.get_by_label("Message")
    box.fill("Where is my order?")
    box.press("Enter")
    expect(page.locator(".bubble.customer .state")).to_contain_text("Not sent")
    expect(page.locator("#status")).to_contain_text("Could not start the chat")
    expect(box).to_have_value("Where is my order?")  # given back, nothing typed is lost
    assert not Message.objects.exists()

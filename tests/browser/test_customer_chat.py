import pytest
from playwright.sync_api import expect

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
    expect(box).to_have_value("")

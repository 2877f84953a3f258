"""An admin turns an agent's reply to an unanswered question into a draft article, in a real browser."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from knowledge.models import Document
from tests.insights.test_knowledge_gaps import CANADA_REPLY, PASSWORD, PAYPAL, SHIPPING, gap
from tests.staff import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = "docs"


def test_admin_drafts_an_article_from_an_agent_reply_to_a_knowledge_gap(live_daphne, new_page):
    base = f"http://{live_daphne}"
    dana = make_staff("dana", first_name="Dana")
    gap(SHIPPING[0], agent=dana, reply=CANADA_REPLY)
    for text in [*SHIPPING[1:], *PAYPAL]:
        gap(text)
    gap(PASSWORD, agent=dana, reply="Open Account > Security and choose Change password.")
    User.objects.create_superuser("root", password="pw-root")

    page = new_page()
    page.goto(f"{base}/admin/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw-root")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Knowledge gaps").click()
    expect(page.locator("#gap-summary")).to_have_text("6 questions in 3 groups.")
    shipping = page.locator(".gap-group").first
    expect(shipping.locator("h2")).to_contain_text("asked 3 times")
    expect(shipping.locator(".gap-reply")).to_contain_text(CANADA_REPLY)
    page.screenshot(path=f"{SCREENSHOTS}/knowledge_gaps.png", full_page=True)

    shipping.get_by_role("button", name="Draft an article from this reply").click()

    draft = Document.objects.get()
    expect(page).to_have_url(re.compile(rf"/admin/knowledge/document/{draft.pk}/change/$"))
    expect(page.locator(".messagelist")).to_contain_text("Draft created: review it, then publish")
    expect(page.get_by_label("Status")).to_have_value("draft")
    expect(page.get_by_label("Text")).to_have_value(CANADA_REPLY)

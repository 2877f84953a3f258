"""The whole handoff, as people see it: a customer, an agent and a supervisor in three browser pages."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from handoff.defaults import seed_handoff_defaults
from tests.staff import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = "docs"


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-" + username)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()


def test_customer_escalates_agent_accepts_and_replies_supervisor_sees_it_move(
    offline_use_case, live_daphne, new_page
):
    base = f"http://{live_daphne}"
    seed_handoff_defaults()
    make_staff("alex", first_name="Alex")
    make_staff("sam", supervisor=True, first_name="Sam")

    agent = new_page(timezone_id="America/New_York")
    login(agent, base, "alex")
    agent.goto(f"{base}/desk/")
    expect(agent.get_by_text("Nobody is waiting")).to_be_visible()

    supervisor = new_page()
    login(supervisor, base, "sam")
    supervisor.goto(f"{base}/supervisor/")

    customer = new_page()
    customer.goto(f"{base}/chat/")
    customer.get_by_placeholder("Name").fill("Noah Brown")
    customer.get_by_role("button", name="Start chatting").click()
    box = customer.get_by_label("Message")
    box.fill("Is shipping free?")
    box.press("Enter")
    expect(customer.locator(".bubble.ai .text")).to_contain_text("free")

    row = supervisor.locator("tr", has_text="Noah Brown")
    expect(row.get_by_test_id("handler")).to_have_text("AI")

    box.fill("This is useless, I want to talk to a real person")
    box.press("Enter")
    expect(customer.locator(".bubble.system").last).to_contain_text("member of our team")

    item = agent.locator(".inbox-item", has_text="Noah Brown")
    expect(item).to_be_visible()
    expect(row.get_by_test_id("handler")).to_contain_text("Human")
    item.get_by_role("button", name="Accept").click()

    expect(agent.get_by_test_id("summary")).not_to_be_empty()
    expect(agent.get_by_test_id("transcript")).to_contain_text("Is shipping free?")
    expect(agent.get_by_test_id("packet")).to_contain_text("Customer asked for a person")
    expect(customer.locator(".bubble.system").last).to_have_text(re.compile("Alex from our team has joined"))
    expect(row.get_by_test_id("handler")).to_contain_text("Alex")

    reply = agent.get_by_label("Reply")
    reply.fill("Hi Noah, Alex here. I can help with that.")
    reply.press("Enter")
    expect(customer.locator(".bubble.agent .text")).to_have_text("Hi Noah, Alex here. I can help with that.")
    expect(customer.locator(".bubble.agent .who")).to_have_text("Alex")
    expect(reply).to_have_value("")

    box.fill("Thanks Alex, where is my order?")
    box.press("Enter")
    expect(agent.get_by_test_id("transcript")).to_contain_text("where is my order?")
    agent.screenshot(path=f"{SCREENSHOTS}/desk.png")
    supervisor.screenshot(path=f"{SCREENSHOTS}/board.png")
    assert User.objects.get(username="alex").handoff_set.count() == 1

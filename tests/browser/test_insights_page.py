import pytest
from playwright.sync_api import expect

from tests.insights import builders as b

pytestmark = pytest.mark.django_db(transaction=True)


def test_supervisor_sees_the_insights_charts_drawn(live_daphne, new_page):
    supervisor = b.supervisor()
    orders = b.use_case("orders")
    for i in range(6):
        b.conversation(
            arm="ai", use_case=orders, outcome="resolved" if i < 4 else "abandoned", handle_seconds=90
        )
        b.conversation(
            arm="human", use_case=orders, outcome="resolved", handle_seconds=400, handoff_reason="rollout"
        )
    page = new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://{live_daphne}/insights/")
    page.get_by_label("Username").fill(supervisor.username)
    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Insights")).to_be_visible()
    # Chart.js (served from /static/vendor/) drew both charts from the page's data.
    page.wait_for_function(
        "() => window.Chart && Chart.getChart('by-use-case') && Chart.getChart('over-time')"
    )
    ai_rates = page.evaluate("() => Chart.getChart('by-use-case').data.datasets[0].data")
    assert ai_rates == [66.7]
    expect(page.locator("#use-case-orders .verdict")).to_contain_text("Not enough evidence")
    assert errors == []

import pytest
from django.test import Client

from tests.insights import builders as b

pytestmark = pytest.mark.django_db


def page(user=None):
    client = Client()
    if user:
        client.force_login(user)
    return client.get("/insights/")


def test_anonymous_visitors_are_sent_to_login():
    response = page()
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/insights/")


def test_agents_may_not_see_insights():
    assert page(b.agent()).status_code == 403


def test_supervisors_see_charts_served_from_static():
    orders = b.use_case("orders", mode="shadow")
    b.conversation(
        arm="human", use_case=orders, outcome="resolved", handle_seconds=300, handoff_reason="rollout"
    )
    response = page(b.supervisor())
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script src="/static/vendor/chart.umd.min.js"></script>' in html
    assert 'id="insights-data"' in html and 'id="use-case-orders"' in html
    assert "Shadow mode" in html


def _arm(use_case, arm: str, resolved: int, closed: int) -> None:
    for i in range(closed):
        b.conversation(
            arm=arm,
            use_case=use_case,
            outcome="resolved" if i < resolved else "not_resolved",
            handle_seconds=120,
            handoff_reason="rollout" if arm == "human" else None,
        )


def test_the_parity_verdict_appears_only_when_the_intervals_support_it():
    supported = b.use_case("orders")
    _arm(supported, "ai", resolved=80, closed=100)  # Wilson 95%: 71%-87%, within 5 points of 75%
    _arm(supported, "human", resolved=75, closed=100)
    thin = b.use_case("returns")
    _arm(thin, "ai", resolved=9, closed=10)  # better on paper, far too few
    _arm(thin, "human", resolved=7, closed=10)
    worse = b.use_case("exchanges")
    _arm(worse, "ai", resolved=40, closed=100)
    _arm(worse, "human", resolved=80, closed=100)
    html = page(b.supervisor()).content.decode()

    def section(slug: str) -> str:
        start = html.index(f'id="use-case-{slug}"')
        return html[start : html.index("</section>", start)]

    assert "AI at parity with humans — consider widening the slice" in section("orders")
    assert 'data-parity="yes"' in section("orders")
    assert "consider widening" not in section("returns") and "Not enough evidence" in section("returns")
    assert "consider widening" not in section("exchanges") and "fewer conversations than humans" in section(
        "exchanges"
    )

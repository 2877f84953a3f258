from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from insights.selectors import wilson_interval
from tests.insights import builders as b

pytestmark = pytest.mark.django_db


@pytest.fixture
def hand_computed_set():
    """AI: 6 conversations, 5 closed, 3 resolved by the AI, 1 escalated; human: 4 closed, 2 resolved, 1 escalated."""
    orders = b.use_case("orders")
    other = b.use_case("returns")
    ai = [
        dict(outcome="resolved", handle_seconds=100),
        dict(outcome="resolved", handle_seconds=200),
        dict(outcome="resolved", handle_seconds=300),
        # resolved by a person after a handoff: not the AI's resolution, but an escalation
        dict(outcome="resolved", handle_seconds=900, handoff_reason="customer_request"),
        dict(outcome="abandoned", handle_seconds=50),
        dict(outcome=""),  # still open: counted, not in the rates
    ]
    human = [
        dict(outcome="resolved", handle_seconds=600, handoff_reason="rollout"),
        dict(outcome="resolved", handle_seconds=400, handoff_reason="rollout"),
        dict(outcome="follow_up", handle_seconds=500, handoff_reason="rollout"),
        dict(outcome="escalated", handle_seconds=1000, handoff_reason="rollout"),
    ]
    for spec in ai:
        b.conversation(arm="ai", use_case=orders, **spec)
    for spec in human:
        b.conversation(arm="human", use_case=orders, **spec)
    # Outside the question asked: another use case, too old, an imported transcript.
    b.conversation(arm="ai", use_case=other, outcome="abandoned", handle_seconds=10)
    b.conversation(
        arm="ai",
        use_case=orders,
        outcome="abandoned",
        handle_seconds=5,
        created_at=timezone.now() - timedelta(days=40),
    )
    b.conversation(arm="ai", use_case=orders, outcome="resolved", handle_seconds=5, channel="import")
    return orders


def as_supervisor() -> Client:
    client = Client()
    client.force_login(b.supervisor())
    return client


def test_summary_numbers_match_the_hand_computed_set(hand_computed_set):
    body = as_supervisor().get("/api/insights/summary", {"use_case": "orders"}).json()
    assert body["use_case"] == "orders"
    assert body["ai"] == {
        "conversations": 6,
        "closed": 5,
        "resolved": 3,
        "escalated": 1,
        "resolution_rate": 0.6,
        "resolution_rate_ci": [0.2307, 0.8824],
        "escalation_rate": 0.2,
        "escalation_rate_ci": [0.0362, 0.6245],
        "median_handle_seconds": 200.0,
    }
    assert body["human"] == {
        "conversations": 4,
        "closed": 4,
        "resolved": 2,
        "escalated": 1,
        "resolution_rate": 0.5,
        "resolution_rate_ci": [0.15, 0.85],
        "escalation_rate": 0.25,
        "escalation_rate_ci": [0.0456, 0.6994],
        "median_handle_seconds": 550.0,
    }
    assert body["verdict"]["parity"] is False and "Not enough evidence" in body["verdict"]["text"]


def test_since_and_use_case_narrow_the_summary(hand_computed_set):
    client = as_supervisor()
    everything = client.get(
        "/api/insights/summary", {"since": (timezone.now() - timedelta(days=60)).isoformat()}
    ).json()
    assert everything["use_case"] is None
    assert everything["ai"]["conversations"] == 6 + 1 + 1  # plus the other use case and the old one
    assert everything["ai"]["closed"] == 7
    only_future = client.get(
        "/api/insights/summary", {"since": (timezone.now() + timedelta(days=1)).date().isoformat()}
    )
    assert only_future.json()["ai"]["conversations"] == 0
    assert only_future.json()["ai"]["resolution_rate"] is None
    assert only_future.json()["ai"]["resolution_rate_ci"] is None


@pytest.mark.parametrize(
    ("params", "code"),
    [({"since": "last tuesday"}, "invalid_since"), ({"use_case": "nope"}, "unknown_use_case")],
)
def test_bad_parameters_get_a_clear_400(hand_computed_set, params, code):
    response = as_supervisor().get("/api/insights/summary", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and response.json()["error"]["detail"]


def test_only_supervisors_read_the_summary(hand_computed_set):
    assert Client().get("/api/insights/summary").status_code == 401
    client = Client()
    client.force_login(b.agent())
    assert client.get("/api/insights/summary").status_code == 403


def test_wilson_interval_known_values():
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and round(high, 4) == 0.2775
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


def test_parity_needs_the_ai_lower_bound_within_the_margin():
    from insights.selectors import ArmStats, parity_verdict

    def arm(resolved: int, closed: int) -> ArmStats:
        return ArmStats(conversations=closed, closed=closed, resolved=resolved)

    assert parity_verdict(arm(80, 100), arm(75, 100)).parity  # AI low 71.1% >= 75% - 5
    assert not parity_verdict(arm(78, 100), arm(75, 100)).parity  # AI low 68.9% < 70%
    assert not parity_verdict(arm(29, 29), arm(10, 29)).parity  # too few, however good

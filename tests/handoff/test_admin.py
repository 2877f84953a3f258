"""Operators and rules are data: admins edit them, and a config the engine cannot run is refused clearly."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from handoff.defaults import seed_handoff_defaults
from handoff.models import EscalationRule, Operator

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-123456"))
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/handoff/operator/",
        "/admin/handoff/escalationrule/",
        "/admin/handoff/queue/",
        "/admin/handoff/signal/",
        "/admin/handoff/ruledecision/",
        "/admin/handoff/handoff/",
    ],
)
def test_admin_lists_the_handoff_data(admin_client, path):
    seed_handoff_defaults()
    assert admin_client.get(path).status_code == 200


def test_admin_edits_an_operator_and_a_rule(admin_client):
    seed_handoff_defaults()
    operator = Operator.objects.get(slug="legal-threat")
    page = admin_client.get(f"/admin/handoff/operator/{operator.pk}/change/")
    assert page.status_code == 200 and b"legal_threat" in page.content
    rule = EscalationRule.objects.get(name="Legal threat")
    assert admin_client.get(f"/admin/handoff/escalationrule/{rule.pk}/change/").status_code == 200


def test_staff_without_admin_rights_cannot_edit_rules(client):
    client.force_login(User.objects.create_user("agent", password="pw-123456"))
    response = client.get("/admin/handoff/escalationrule/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "pattern", "config": {"patterns": ["(unclosed"]}}, "not a valid regex"),
        ({"kind": "pattern", "config": {}}, 'needs "patterns" or "keywords"'),
        ({"kind": "semantic", "config": {"threshold": 0.7}}, 'needs "examples"'),
        ({"kind": "policy", "config": {"check": "promise", "patterns": ["x"]}}, "AI's own messages"),
    ],
)
def test_operator_config_errors_say_what_to_fix(fields, message):
    operator = Operator(slug="x", name="X", label="x", **fields)
    with pytest.raises(ValidationError, match=message):
        operator.full_clean()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"condition": {}}, "JSON object"),
        ({"condition": {"signl": {"label": "x"}}}, "unknown keys"),
        ({"condition": {"signal": {"min_count": 2}}}, "operator"),
        ({"condition": {"min_turns": "ten"}}, "must be a number"),
        ({"effect": "redact", "condition": {"signal": {"label": "x"}}}, "names the operator"),
    ],
)
def test_rule_condition_errors_say_what_to_fix(fields, message):
    rule = EscalationRule(name="r", **fields)
    with pytest.raises(ValidationError, match=message):
        rule.full_clean()


def test_seeded_operators_and_rules_are_valid():
    seed_handoff_defaults()
    for row in [*Operator.objects.all(), *EscalationRule.objects.all()]:
        row.full_clean()

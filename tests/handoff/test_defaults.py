import pytest
from django.contrib.auth.models import User

from deskapp.seed import seed_demo
from handoff.defaults import OPERATORS, RULES
from handoff.models import EscalationRule, Operator, Queue

pytestmark = pytest.mark.django_db


def test_demo_seed_installs_operators_rules_and_the_general_queue_once():
    seed_demo()
    Operator.objects.filter(slug="abuse").update(enabled=False)  # an admin's edit survives a re-seed
    seed_demo()
    assert Operator.objects.count() == len(OPERATORS)
    assert EscalationRule.objects.count() == len(RULES)
    assert not Operator.objects.get(slug="abuse").enabled
    general = Queue.objects.get(name="general")
    assert set(general.members.values_list("username", flat=True)) == {"agent", "supervisor"}
    assert set(EscalationRule.objects.values_list("queue__name", flat=True)) == {"general"}
    kinds = set(Operator.objects.values_list("kind", flat=True))
    assert kinds == {"pattern", "sentiment", "semantic", "generative", "policy"}
    assert User.objects.get(username="agent").queue_memberships.count() == 1

import pytest
from django.contrib.auth.models import User

from conversations.models import LLMProvider, UseCase
from demostore.models import StoreOrder
from deskapp.seed import seed_demo
from infra.permissions import is_agent, is_supervisor

pytestmark = pytest.mark.django_db


def test_seed_is_idempotent_and_keeps_changed_passwords():
    seed_demo()
    agent = User.objects.get(username="agent")
    agent.set_password("changed-by-the-agent")
    agent.save()
    seed_demo()
    assert User.objects.filter(username__in=["admin", "agent", "supervisor"]).count() == 3
    assert UseCase.objects.filter(is_default=True).count() == 1
    assert LLMProvider.objects.count() == 1
    assert StoreOrder.objects.count() == 1000
    assert User.objects.get(username="agent").check_password("changed-by-the-agent")


def test_seeded_roles():
    seed_demo()
    agent, supervisor = User.objects.get(username="agent"), User.objects.get(username="supervisor")
    assert is_agent(agent) and not is_supervisor(agent)
    assert is_supervisor(supervisor) and is_agent(supervisor)
    assert User.objects.get(username="admin").is_superuser


def test_seed_wires_each_use_case_to_its_actions_once():
    from conversations.models import Action

    seed_demo()
    seed_demo()
    assert Action.objects.count() == 12
    cancel = UseCase.objects.get(slug="cancel-order")
    assert set(cancel.actions.values_list("name", flat=True)) == {
        "find_user_id_by_email",
        "find_user_id_by_name_zip",
        "get_user_details",
        "get_order_details",
        "cancel_pending_order",
    }
    writes = Action.objects.filter(http_method="POST")
    assert writes.count() == 7 and all(a.requires_confirmation for a in writes)
    assert all(a.headers == {"Authorization": "Bearer ${DEMOSTORE_API_TOKEN}"} for a in Action.objects.all())

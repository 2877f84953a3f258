from io import StringIO

import pytest

from conversations.models import Conversation
from deskapp.management.commands.run import Command
from tests.insights import builders as b

pytestmark = pytest.mark.django_db(transaction=True)


def test_make_run_simulates_traffic_once_on_an_empty_database(offline_use_case):
    b.supervisor()
    out = StringIO()
    Command(stdout=out).offer_traffic(3)
    assert Conversation.objects.filter(status="closed").count() == 3
    assert "fresh database: simulating 3 conversations" in out.getvalue()
    Command(stdout=out).offer_traffic(3)
    assert Conversation.objects.count() == 3, "a second start adds nothing"
    assert "python manage.py simulate_traffic --conversations 200" in out.getvalue()

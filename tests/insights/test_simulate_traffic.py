from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from conversations.models import Conversation, LLMProvider, Message, UseCase
from handoff.models import CopilotDraft, Handoff
from infra.permissions import AGENTS
from insights import selectors
from tests.insights import builders as b

pytestmark = pytest.mark.django_db(transaction=True)


def test_simulated_traffic_goes_through_the_chat_path_and_ends_with_outcomes(offline_use_case):
    b.staff_user("agent", AGENTS)
    UseCase.objects.create(
        slug="exchanges",
        name="Exchanges",
        mode="shadow",
        instructions="Delivered items can be exchanged for another option of the same product.",
        llm_provider=LLMProvider.objects.get(),
    )
    offline_use_case.live_percentages = {"webchat": 50}
    offline_use_case.save()
    out = StringIO()
    call_command("simulate_traffic", conversations=12, days=3, concurrency=3, stdout=out)
    assert "simulated 12 conversations" in out.getvalue()

    conversations = list(Conversation.objects.all())
    assert len(conversations) == 12
    assert all(c.status == "closed" and c.outcome and c.closed_at for c in conversations)
    assert all(timezone.now() - c.created_at < timezone.timedelta(days=3, hours=1) for c in conversations)
    # Real traffic: every conversation has the customer's words, and AI conversations the AI's answers.
    for c in conversations:
        roles = set(Message.objects.filter(conversation=c).values_list("role", flat=True))
        assert "customer" in roles
        if c.assigned_handler == "ai":
            assert "ai" in roles or Handoff.objects.filter(conversation=c).exists()
        else:
            assert "agent" in roles and Handoff.objects.get(conversation=c).reason == "rollout"
    assert not Handoff.objects.exclude(status="closed").exists(), "the simulation leaves no one in the queue"
    shadow = Conversation.objects.filter(shadow=True)
    assert shadow.count() == 6
    assert CopilotDraft.objects.filter(conversation__in=shadow).exclude(status="pending").count() >= 6

    summary = selectors.summary(use_case=None, since=timezone.now() - timezone.timedelta(days=4))
    assert summary["ai"]["closed"] + summary["human"]["closed"] == 12
    assert summary["human"]["closed"] >= 6


def test_simulating_an_unknown_use_case_is_refused(offline_use_case):
    with pytest.raises(CommandError, match="unknown or disabled use case: nope"):
        call_command("simulate_traffic", conversations=1, use_case=["nope"])
    assert not Conversation.objects.exists()


def test_simulating_without_staff_users_says_how_to_fix_it(offline_use_case):
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("simulate_traffic", conversations=1)
    assert not Conversation.objects.exists()

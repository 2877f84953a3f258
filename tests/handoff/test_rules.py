"""Escalation rule conditions: counts within N turns, intents from the LLM, failed actions, waiting time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.actions.models import Action, ActionInvocation
from conversations.models import Message
from conversations.services import Inbound
from handoff import services
from handoff.defaults import seed_handoff_defaults
from handoff.models import EscalationRule, Handoff, Operator, RuleDecision, Signal
from orchestration.pipeline import accept_customer_message
from tests.fakes.openai_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)


def sms(text: str, sid: str):
    return accept_customer_message(
        Inbound(channel="sms", identity_channel="phone", address="+14155550123", text=text, external_id=sid)
    )


def test_count_rule_only_counts_signals_within_its_turn_window(offline_use_case):
    Operator.objects.create(
        slug="oops", name="Oops", kind="pattern", label="oops", config={"keywords": ["oops"]}
    )
    EscalationRule.objects.create(
        name="Two oops close together",
        effect="escalate",
        condition={"signal": {"label": "oops", "min_count": 2, "within_turns": 2}},
    )
    assert sms("oops one", "1").ai_should_reply
    assert sms("all fine now", "2").ai_should_reply
    assert sms("oops two", "3").ai_should_reply, "the first oops is three turns back"
    assert not sms("oops three", "4").ai_should_reply
    decision = RuleDecision.objects.get()
    assert decision.detail["count"] == 2 and decision.rule.name == "Two oops close together"


def test_min_score_keeps_weak_signals_from_firing(offline_use_case):
    Operator.objects.create(
        slug="oops", name="Oops", kind="pattern", label="oops", config={"keywords": ["oops"]}
    )
    EscalationRule.objects.create(
        name="Strong oops", effect="flag", condition={"signal": {"label": "oops", "min_score": 1.5}}
    )
    sms("oops", "1")
    assert Signal.objects.count() == 1 and not RuleDecision.objects.exists()


def test_intent_from_the_generative_operator_drives_a_rule(openai_use_case, fake_openai):
    seed_handoff_defaults()
    Operator.objects.filter(slug="intent-llm").update(enabled=True)
    EscalationRule.objects.create(
        name="Cancellation intent", effect="flag", priority=2, condition={"intent": "cancel_order"}
    )
    fake_openai.script(Reply(text='{"label": "cancel_order", "score": 0.93}'))
    accepted = sms("please stop order #W2611340 from shipping", "1")
    signal = Signal.objects.get(operator_slug="intent-llm")
    assert (signal.label, signal.score) == ("cancel_order", 0.93)
    assert RuleDecision.objects.get(rule_name="Cancellation intent").message_id == accepted.message.id
    prompt = fake_openai.requests[0]["messages"]
    assert (
        "cancel_order" in prompt[0]["content"]
        and prompt[1]["content"] == "please stop order #W2611340 from shipping"
    )


def test_generative_operator_failure_is_skipped_and_the_message_kept(openai_use_case, fake_openai):
    seed_handoff_defaults()
    Operator.objects.filter(slug="intent-llm").update(enabled=True)
    fake_openai.script(Reply(status=500))
    accepted = sms("please stop order #W2611340 from shipping", "1")
    assert accepted.ai_should_reply and Message.objects.filter(id=accepted.message.id).exists()
    assert not Signal.objects.filter(operator_slug="intent-llm").exists()


def test_actions_that_keep_failing_hand_off_with_the_actions_in_the_packet(offline_use_case):
    seed_handoff_defaults()
    accepted = sms("cancel order #W2611340", "1")

    def fail() -> None:
        ActionInvocation.objects.create(
            conversation=accepted.conversation,
            action_name="cancel_pending_order",
            status=ActionInvocation.Status.FAILED,
            error="timeout",
        )

    fail()
    _, handoff = services.evaluate_rules(conversation_id=accepted.conversation.id)
    assert handoff is None, "one failure is not enough"
    fail()
    _, handoff = services.evaluate_rules(conversation_id=accepted.conversation.id)
    assert handoff.reason == "action_failed" and handoff.rule.name == "Action keeps failing"
    assert [(a["action"], a["status"], a["error"]) for a in handoff.packet["actions"]] == [
        ("cancel_pending_order", "failed", "timeout")
    ] * 2


@pytest.mark.parametrize(
    ("second", "escalates"),
    [
        ({"status": ActionInvocation.Status.FAILED}, True),
        ({"status": ActionInvocation.Status.REJECTED, "changes": True}, True),
        ({"status": ActionInvocation.Status.REJECTED, "changes": False}, False),  # a look-up's "not found"
        ({"status": ActionInvocation.Status.SUCCEEDED}, False),
    ],
)
def test_the_next_customer_message_after_actions_failed_hands_off(offline_use_case, second, escalates):
    seed_handoff_defaults()
    accepted = sms("cancel order #W2611340", "1")

    def invocation(status: str, changes: bool = False) -> None:
        action = Action.objects.create(
            name=f"action_{ActionInvocation.objects.count()}",
            description="test",
            requires_confirmation=changes,
        )
        ActionInvocation.objects.create(
            conversation=accepted.conversation, action=action, action_name=action.name, status=status
        )

    invocation(ActionInvocation.Status.FAILED)
    invocation(**second)
    again = sms("hello? did it work?", "2")
    assert again.ai_should_reply is not escalates
    decisions = RuleDecision.objects.filter(rule_name="Action keeps failing")
    assert [d.detail for d in decisions] == ([{"failed_actions": 2}] if escalates else [])


def test_waiting_time_rule_fires_when_the_customer_waited_long_enough(offline_use_case):
    EscalationRule.objects.create(
        name="Waiting two minutes", effect="flag", condition={"min_wait_seconds": 120}
    )
    first = sms("hello?", "1")
    assert not RuleDecision.objects.exists()
    Message.objects.filter(id=first.message.id).update(created_at=timezone.now() - timedelta(minutes=3))
    sms("anyone there?", "2")
    decision = RuleDecision.objects.get()
    assert decision.detail["wait_seconds"] >= 180


def test_frustration_over_several_turns_escalates(offline_use_case):
    seed_handoff_defaults()
    sms("I'm really annoyed, the package is late again", "1")
    sms("This is terrible service, awful", "2")
    assert not Handoff.objects.exists()
    assert not sms("This is ridiculous, nothing works and I'm angry", "3").ai_should_reply
    assert Handoff.objects.get().rule.name == "Frustrated over several turns"


def test_waiting_in_the_queue_too_long_is_flagged_by_the_periodic_check(offline_use_case, monkeypatch):
    from handoff.tasks import check_waiting_conversations
    from tests.handoff.events import published

    EscalationRule.objects.create(
        name="Queued five minutes", effect="flag", condition={"min_wait_seconds": 300}
    )
    waiting = sms("hello?", "1")
    handoff = services.start_handoff(conversation_id=waiting.conversation.id, reason="customer_request")
    assert check_waiting_conversations.delay().get() == 0, "just queued"
    Handoff.objects.filter(pk=handoff.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    with published(monkeypatch) as sent:
        assert check_waiting_conversations.delay().get() == 1
    assert check_waiting_conversations.delay().get() == 0, "flagged once per conversation"
    decision = RuleDecision.objects.get()
    assert decision.conversation_id == waiting.conversation.id and decision.detail["wait_seconds"] >= 360
    assert [kind for _, kind, _ in sent] == ["conversation.flag_raised"]

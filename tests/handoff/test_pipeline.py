"""Operators and rules on the shared customer-message path: signals, redaction, flags, escalation."""

import json
import logging

import pytest

from conversations.models import Conversation, Message
from conversations.services import Inbound
from handoff.defaults import seed_handoff_defaults
from handoff.models import EscalationRule, Handoff, Operator, RuleDecision, Signal
from infra import event_types
from infra.groups import conversation_group, conversation_staff_group, queue_group, supervisors_group
from orchestration.pipeline import accept_customer_message
from tests.handoff.events import published

pytestmark = pytest.mark.django_db(transaction=True)

CARD = "4111 1111 1111 1111"


def sms(text: str, sid: str, phone: str = "+14155550100"):
    return accept_customer_message(
        Inbound(channel="sms", identity_channel="phone", address=phone, text=text, external_id=sid)
    )


def test_card_number_is_redacted_before_it_is_stored_published_or_logged(
    offline_use_case, monkeypatch, caplog
):
    seed_handoff_defaults()
    caplog.set_level(logging.DEBUG)
    with published(monkeypatch) as sent:
        accepted = sms(f"my card is {CARD} please charge it", "SM1")
    stored = Message.objects.get(id=accepted.message.id)
    assert stored.text == "my card is [card number redacted] please charge it"
    signal = Signal.objects.get(label="card_number")
    assert signal.message_id == stored.id and signal.severity == "critical"
    digits = CARD.replace(" ", "")
    everything = json.dumps([payload for _, _, payload in sent]) + json.dumps(signal.span) + caplog.text
    assert CARD not in everything and digits not in everything
    redact = RuleDecision.objects.get(effect="redact")
    assert redact.rule_name == "Redact payment card numbers" and redact.message_id == stored.id
    assert accepted.ai_should_reply, "a redacted message is still answered"


def test_a_16_digit_order_number_failing_luhn_is_kept(offline_use_case):
    seed_handoff_defaults()
    accepted = sms("where is order 1234567812345678?", "SM2")
    assert Message.objects.get(id=accepted.message.id).text == "where is order 1234567812345678?"
    assert not Signal.objects.filter(label="card_number").exists()


def test_signal_goes_to_supervisors_and_staff_never_to_the_customer(offline_use_case, monkeypatch):
    seed_handoff_defaults()
    with published(monkeypatch) as sent:
        accepted = sms("I will never shop here again", "SM3")
    conversation_id = accepted.conversation.id
    signals = [(groups, payload) for groups, kind, payload in sent if kind == event_types.SIGNAL_RAISED]
    assert [p["label"] for _, p in signals] == ["churn_risk"]
    assert signals[0][0] == (supervisors_group(), conversation_staff_group(conversation_id))
    flags = [(groups, payload) for groups, kind, payload in sent if kind == event_types.FLAG_RAISED]
    assert flags == [
        (
            (supervisors_group(), conversation_staff_group(conversation_id)),
            {
                "conversation_id": str(conversation_id),
                "rule": "Churn risk",
                "decision_id": RuleDecision.objects.get(rule_name="Churn risk").pk,
                "message_id": str(accepted.message.id),
            },
        )
    ]
    for groups, kind, _ in sent:
        if conversation_group(conversation_id) in groups:
            assert kind == event_types.MESSAGE_CREATED, f"{kind} must not reach the customer"
    assert accepted.ai_should_reply, "a flag alone does not take the conversation from the AI"


def test_asking_for_a_person_escalates_before_the_ai_turn(offline_use_case, monkeypatch):
    seed_handoff_defaults()
    with published(monkeypatch) as sent:
        accepted = sms("can I speak with someone from your team?", "SM4")
    assert not accepted.ai_should_reply
    handoff = Handoff.objects.get()
    assert (handoff.reason, handoff.rule.name, handoff.queue.name, handoff.priority) == (
        "customer_request",
        "Customer asks for a person",
        "general",
        30,
    )
    conversation = Conversation.objects.get()
    assert (conversation.status, conversation.handler) == ("waiting", "human")
    decision = RuleDecision.objects.get(effect="escalate")
    assert decision.rule == handoff.rule and decision.message_id == accepted.message.id
    customer_view = [
        (kind, payload) for groups, kind, payload in sent if groups == (conversation_group(conversation.id),)
    ]
    assert (event_types.HANDOFF_CHANGED, {"status": "queued", "agent": None}) in customer_view
    system = Message.objects.get(role="system")
    assert "reply here" in system.text, "SMS wording for the person coming"
    packet_events = [(g, p) for g, kind, p in sent if kind == event_types.PACKET_READY]
    assert [g for g, _ in packet_events] == [
        (supervisors_group(), conversation_staff_group(conversation.id), queue_group(handoff.queue_id))
    ]


def test_declining_a_person_does_not_escalate(offline_use_case):
    seed_handoff_defaults()
    accepted = sms("I don't need a human, just tell me if shipping is free", "SM5")
    assert accepted.ai_should_reply
    assert not Handoff.objects.exists() and not RuleDecision.objects.exists()


def test_legal_threat_outranks_the_request_for_a_person(offline_use_case):
    seed_handoff_defaults()
    sms("get me a manager or I'm calling my lawyer", "SM6")
    handoff = Handoff.objects.get()
    assert handoff.rule.name == "Legal threat" and handoff.priority == 10 and handoff.reason == "rule"
    assert list(RuleDecision.objects.values_list("rule_name", flat=True)) == ["Legal threat"]


def test_repeating_yourself_escalates_on_the_second_repeat_only(offline_use_case):
    seed_handoff_defaults()
    assert sms("Where is my order? I ordered it two weeks ago", "R1").ai_should_reply
    assert sms("I asked where my order is, it has been two weeks", "R2").ai_should_reply
    assert Signal.objects.filter(label="repeated").count() == 1
    assert not sms("Where is my order?? I ordered it two weeks ago!", "R3").ai_should_reply
    assert Handoff.objects.get().rule.name == "Customer repeats themselves twice"


def test_disabled_rule_does_not_fire_but_its_signal_is_still_raised(offline_use_case):
    seed_handoff_defaults()
    EscalationRule.objects.filter(name="Customer asks for a person").update(enabled=False)
    accepted = sms("I want to talk to a real person", "SM7")
    assert accepted.ai_should_reply and not Handoff.objects.exists()
    assert Signal.objects.filter(label="asks_for_human").exists()


def test_rule_on_turn_count_fires_once(offline_use_case):
    seed_handoff_defaults()
    EscalationRule.objects.create(name="Third message", priority=3, effect="flag", condition={"min_turns": 3})
    for n in range(5):
        sms(f"question number {n} about my lamp", f"T{n}")
    assert RuleDecision.objects.filter(rule_name="Third message").count() == 1
    assert RuleDecision.objects.get(rule_name="Third message").detail == {"turns": 3}


def test_retried_message_runs_no_operator_twice(offline_use_case):
    seed_handoff_defaults()
    sms("I will never shop here again", "DUP")
    again = sms("I will never shop here again", "DUP")
    assert not again.created and Signal.objects.count() == 1


def test_a_broken_operator_never_loses_the_message(offline_use_case):
    seed_handoff_defaults()
    Operator.objects.create(
        slug="broken", name="Broken", kind="pattern", label="x", config={"patterns": ["(unclosed"]}
    )
    accepted = sms("I want to talk to a real person", "B1")
    assert Message.objects.filter(id=accepted.message.id).exists()
    assert Handoff.objects.exists(), "the other operators still ran"


def test_operators_without_seed_change_nothing(offline_use_case):
    accepted = sms("hello there", "N1")
    assert accepted.ai_should_reply and not Signal.objects.exists()


def test_a_broken_card_operator_still_never_lets_a_card_number_be_stored(offline_use_case):
    seed_handoff_defaults()
    Operator.objects.filter(slug="card-number").update(
        config={"patterns": ["(broken"], "luhn": True, "redact": True, "mask": "[card number redacted]"}
    )
    accepted = sms(f"card {CARD} thanks", "SM-broken")
    assert Message.objects.get(id=accepted.message.id).text == "card [card number redacted] thanks"


def test_a_redact_rule_masks_another_pattern_operators_matches(offline_use_case):
    Operator.objects.create(
        slug="ssn",
        name="US SSN",
        kind="pattern",
        label="ssn",
        config={"patterns": [r"\b\d{3}-\d{2}-\d{4}\b"]},
    )
    EscalationRule.objects.create(
        name="Redact SSNs", effect="redact", priority=1, condition={"signal": {"operator": "ssn"}}
    )
    accepted = sms("my ssn is 123-45-6789", "SSN1")
    assert Message.objects.get(id=accepted.message.id).text == "my ssn is [redacted]"
    signal = Signal.objects.get(label="ssn")
    assert "6789" not in json.dumps(signal.span)
    assert RuleDecision.objects.get().rule_name == "Redact SSNs"


def test_operator_and_rule_changes_apply_to_the_very_next_message_wherever_they_are_made(offline_use_case):
    """Operators and rules are kept between messages; any change to their rows must still be seen at once."""
    import psycopg
    from django.db import connection, transaction

    from tests.live_server import test_database_url

    seed_handoff_defaults()
    churn = "I will never shop here again"
    sms(churn, "C1", phone="+14155550101")
    assert Signal.objects.filter(label="churn_risk").count() == 1

    Operator.objects.filter(slug="churn-intent").update(enabled=False)  # no save(), no signals
    sms(churn, "C2", phone="+14155550102")
    assert Signal.objects.filter(label="churn_risk").count() == 1

    # Another process (the admin's) turns it back on: this process never hears of it but the database.
    with psycopg.connect(test_database_url(), autocommit=True) as admin:
        admin.execute("UPDATE handoff_operator SET enabled = true WHERE slug = 'churn-intent'")
    sms(churn, "C3", phone="+14155550103")
    assert Signal.objects.filter(label="churn_risk").count() == 2

    # A row created and then changed in one transaction keeps its xmin: the change is seen all the same.
    with transaction.atomic():
        rule = EscalationRule.objects.create(
            name="Churn goes to a person",
            priority=1,
            effect="escalate",
            condition={"signal": {"label": "churn_risk"}},
        )
        assert not sms(churn, "C4", phone="+14155550104").ai_should_reply
        rule.enabled = False
        rule.save()
        assert sms(churn, "C5", phone="+14155550105").ai_should_reply
    assert connection.in_atomic_block is False

"""Each seeded operator on positive and negative examples, including the tricky negatives."""

import pytest

from conversations.actions.models import ActionInvocation
from conversations.models import Conversation, Customer
from handoff.defaults import seed_handoff_defaults
from handoff.models import Operator
from handoff.operators import MessageView, run_operator
from infra.entities import luhn_valid

pytestmark = pytest.mark.django_db
CLAIMED = "action-claimed-not-logged"


def findings(slug: str, text: str, *, earlier: tuple[str, ...] = (), role: str = "customer", **view) -> list:
    seed_handoff_defaults()
    operator = Operator.objects.get(slug=slug)
    return run_operator(operator, MessageView(text=text, role=role, previous_customer_texts=earlier, **view))


def test_luhn_check_tells_card_numbers_from_other_long_numbers():
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("1234567812345678")


@pytest.mark.parametrize(
    "text",
    [
        "my card is 4111 1111 1111 1111, charge it",
        "4242-4242-4242-4242",
        "amex 378282246310005 exp 12/29",
    ],
)
def test_card_number_is_found(text):
    (found,) = findings("card-number", text)
    assert found.label == "card_number"
    assert found.excerpt == "[card number redacted]", "a signal never carries the card number"


@pytest.mark.parametrize(
    "text",
    [
        "my order number is 1234567812345678",  # 16 digits that fail Luhn
        "order #W2611340 please",
        "call me at +1 415 555 0100",
        "tracking 1Z999AA10123456784",
    ],
)
def test_numbers_that_are_not_cards_are_left_alone(text):
    assert findings("card-number", text) == []


@pytest.mark.parametrize(
    "text",
    ["I want to talk to a real person", "agent", "Can I speak with a representative?", "get me a manager"],
)
def test_keyword_request_for_a_human(text):
    (found,) = findings("human-request", text)
    assert found.label == "asks_for_human"


@pytest.mark.parametrize(
    "text",
    [
        "I don't need a human, just tell me if shipping is free",
        "no need to talk to a person, thanks",
        "Is my agent code still valid?",
        "what are your opening hours",
    ],
)
def test_keyword_operator_ignores_declined_or_unrelated_mentions(text):
    assert findings("human-request", text) == []


@pytest.mark.parametrize(
    "text",
    [
        "can I speak with someone from your team?",
        "get me a representative",
        "transfer me to customer service",
    ],
)
def test_semantic_request_for_a_human(text):
    (found,) = findings("asks-for-human", text)
    assert found.label == "asks_for_human" and found.score >= 0.72


@pytest.mark.parametrize(
    "text",
    [
        "I don't need a human, just tell me if shipping is free",
        "No human please, you are fine",
        "where is my order",
    ],
)
def test_semantic_human_request_ignores_negatives(text):
    assert findings("asks-for-human", text) == []


@pytest.mark.parametrize("text", ["this is fucking ridiculous", "you useless bot", "shut up and listen"])
def test_abuse_is_found(text):
    (found,) = findings("abuse", text)
    assert found.label == "abuse"


@pytest.mark.parametrize("text", ["the scrap metal lamp arrived", "I'm a bit disappointed", "class of 2020"])
def test_abuse_ignores_harmless_words(text):
    assert findings("abuse", text) == []


def test_repeated_question_is_found_when_rephrased():
    (found,) = findings(
        "repeated-question",
        "I asked where my order is, it has been two weeks",
        earlier=("Where is my order? I ordered it two weeks ago",),
    )
    assert found.label == "repeated" and found.score >= 0.82


@pytest.mark.parametrize(
    ("text", "earlier"),
    [
        ("Can I return the lamp I bought?", ("Where is my order? I ordered it two weeks ago",)),
        ("yes please", ("yes please",)),  # short confirmations repeat naturally
        ("Where is my order? I ordered it two weeks ago", ()),
    ],
)
def test_repeated_question_ignores_new_questions_and_short_answers(text, earlier):
    assert findings("repeated-question", text, earlier=earlier) == []


@pytest.mark.parametrize(
    "text",
    ["I'm calling my lawyer", "I will sue you for this", "expect legal action", "I'll file a chargeback"],
)
def test_legal_threat_is_found(text):
    (found,) = findings("legal-threat", text)
    assert found.label == "legal_threat"


@pytest.mark.parametrize(
    "text", ["is it legal to ship batteries?", "Sue is my sister's name", "the court shoes"]
)
def test_legal_threat_ignores_lookalikes(text):
    assert findings("legal-threat", text) == []


@pytest.mark.parametrize(
    "text",
    ["please close my account", "I will never shop here again", "I'm switching to Amazon", "unsubscribe me"],
)
def test_churn_intent_is_found(text):
    (found,) = findings("churn-intent", text)
    assert found.label == "churn_risk"


@pytest.mark.parametrize("text", ["cancel my order #W2611340", "how do I update my account address?"])
def test_churn_intent_ignores_ordinary_order_changes(text):
    assert findings("churn-intent", text) == []


def test_frustration_needs_negative_turns_in_a_row():
    (found,) = findings(
        "frustration",
        "This is ridiculous, nothing works and I'm angry",
        earlier=("I'm really annoyed, the package is late again", "This is terrible service"),
    )
    assert found.label == "frustrated" and found.score > 0.35


@pytest.mark.parametrize(
    ("text", "earlier"),
    [
        ("Thanks, that's great!", ("this is terrible",)),
        ("ugh, annoying", ("Thanks so much, you've been great", "wonderful, perfect")),
    ],
)
def test_frustration_ignores_one_bad_moment(text, earlier):
    assert findings("frustration", text, earlier=earlier) == []


def test_ordinary_service_requests_are_not_frustration():
    assert (
        findings(
            "frustration",
            "Please cancel order #W2611340, I ordered it by mistake",
            earlier=(
                "My lamp arrived broken, I want to return it",
                "The tracking shows a delay, is it lost?",
            ),
        )
        == []
    )


def test_generative_operator_is_skipped_cleanly_without_an_llm():
    seed_handoff_defaults()
    Operator.objects.filter(slug="intent-llm").update(enabled=True)
    assert findings("intent-llm", "I want to cancel my order", provider=None) == []


def test_action_claim_without_an_audit_log_entry_is_a_policy_breach():
    (found,) = findings("action-claimed-not-logged", "Done! I've cancelled your order #W123.", role="ai")
    assert found.label == "policy_breach" and "cancelled" in found.excerpt


def test_ai_reply_without_claims_is_not_a_breach():
    assert findings("action-claimed-not-logged", "Would you like me to cancel order #W123?", role="ai") == []


@pytest.mark.parametrize(
    "text", ["I guarantee it arrives tomorrow", "You'll get a 50% discount", "free of charge!"]
)
def test_promise_outside_policy_is_found(text):
    (found,) = findings("promise-outside-policy", text, role="ai")
    assert found.label == "policy_breach"


@pytest.mark.parametrize(
    "text", ["Refunds to a card take 5 to 7 business days.", "I'm afraid I can't offer a coupon for that."]
)
def test_ordinary_policy_wording_is_not_a_promise(text):
    assert findings("promise-outside-policy", text, role="ai") == []


def test_missing_disclosure_on_the_first_ai_reply_only():
    assert findings("disclosure-missing", "Hi, how can I help?", role="ai")[0].label == "disclosure_missing"
    assert findings("disclosure-missing", "Hi, I'm the store's automated assistant.", role="ai") == []
    assert findings("disclosure-missing", "Sure, one moment.", role="ai", ai_messages_before=2) == []


def audited(conversation: Conversation, action: str, status: str) -> ActionInvocation:
    """An action as the executor logs it (the real audit row, read back through `actions_taken`)."""
    error = "" if status == ActionInvocation.Status.SUCCEEDED else "backend said no"
    return ActionInvocation.objects.create(
        conversation=conversation, action_name=action, status=status, error=error
    )


def test_action_claim_is_checked_against_the_matching_audited_action():
    conversation = Conversation.objects.create(customer=Customer.objects.create(), channel="webchat")
    audited(conversation, "get_order_details", ActionInvocation.Status.SUCCEEDED)
    claim = "I've cancelled order #W123."
    view = {"role": "ai", "conversation_id": conversation.id}
    assert findings("action-claimed-not-logged", claim, **view), "looking an order up is not cancelling it"
    audited(conversation, "cancel_pending_order", ActionInvocation.Status.FAILED)
    assert findings("action-claimed-not-logged", claim, **view), "a failed cancellation is not a cancellation"
    audited(conversation, "cancel_pending_order", ActionInvocation.Status.SUCCEEDED)
    assert findings("action-claimed-not-logged", claim, **view) == []


@pytest.mark.parametrize("status", ["awaiting_confirmation", "declined", "refused", "rejected"])
def test_an_action_that_did_not_run_does_not_back_a_claim(status):
    conversation = Conversation.objects.create(customer=Customer.objects.create(), channel="webchat")
    audited(conversation, "cancel_pending_order", status)
    view = {"role": "ai", "conversation_id": conversation.id}
    assert findings("action-claimed-not-logged", "I've cancelled order #W123.", **view)


def attempted(conversation: Conversation, action: str, status: str, error: str = "") -> ActionInvocation:
    """A consequential call as the executor audits it (the action's own row, so it changes something)."""
    from conversations.actions.models import Action

    row, _ = Action.objects.get_or_create(
        name=action, defaults={"description": action, "requires_confirmation": True, "url_template": "/x"}
    )
    return ActionInvocation.objects.create(
        conversation=conversation, action=row, action_name=action, status=status, error=error
    )


@pytest.mark.parametrize(
    ("action", "status", "error", "text"),
    [
        ("cancel_pending_order", "refused", "not_your_order: not theirs", "Done, the order is cancelled."),
        ("modify_pending_order_address", "refused", "not_your_order: x", "Done, the address is updated."),
        ("modify_user_address", "awaiting_confirmation", "", "Your address has been changed."),
        ("cancel_pending_order", "rejected", "not pending", "All set! Your refund is on its way."),
        ("return_delivered_order_items", "failed", "HTTP 502", "Your return has been submitted."),
        ("exchange_delivered_order_items", "refused", "repeated: waiting", "The replacement is on its way."),
    ],
)
def test_claims_of_a_change_the_audit_log_shows_was_not_made_are_a_policy_breach(action, status, error, text):
    conversation = Conversation.objects.create(customer=Customer.objects.create(), channel="webchat")
    attempted(conversation, action, status, error)
    (found,) = findings(CLAIMED, text, role="ai", conversation_id=conversation.id)
    assert found.label == "policy_breach" and found.extra["check"] == "claim_not_backed"
    assert found.extra["attempt"] == {"action": action, "status": status}


@pytest.mark.parametrize(
    "text",
    [
        "I can cancel it once you say yes.",
        "It was not changed.",
        "Nothing was changed, the order is still pending.",
        "Would you like me to cancel order #W1234567?",
        "Once you say yes, the order will be cancelled.",
        "If it's cancelled, the refund goes back to your gift card.",
        "Your order #W7654321 was cancelled last week.",  # a status read of another order
        "Correction: that change was not made — it is waiting for your yes.",
    ],
)
def test_honest_replies_about_a_change_still_waiting_are_not_a_breach(text):
    conversation = Conversation.objects.create(customer=Customer.objects.create(), channel="webchat")
    attempted(conversation, "cancel_pending_order", "awaiting_confirmation")
    ActionInvocation.objects.filter(conversation=conversation).update(arguments={"order_id": "#W1234567"})
    assert findings(CLAIMED, text, role="ai", conversation_id=conversation.id) == []


def test_a_claim_is_judged_by_the_latest_attempt_at_that_change():
    conversation = Conversation.objects.create(customer=Customer.objects.create(), channel="webchat")
    view = {"role": "ai", "conversation_id": conversation.id}
    attempted(conversation, "cancel_pending_order", "succeeded")
    assert findings(CLAIMED, "Your order is cancelled.", **view) == []
    attempted(conversation, "cancel_pending_order", "refused", "not_your_order: not theirs")
    assert findings(CLAIMED, "Your order is cancelled.", **view), "an earlier success backs no later attempt"


def test_refunds_that_follow_a_cancellation_are_backed_by_it():
    conversation = Conversation.objects.create(customer=Customer.objects.create(), channel="webchat")
    attempted(conversation, "cancel_pending_order", "succeeded")
    text = "Done: the order is cancelled and I've credited the refund back to your gift card."
    assert findings(CLAIMED, text, role="ai", conversation_id=conversation.id) == []

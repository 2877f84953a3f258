"""How a change and a result are said from data on the action: describe hints and result templates."""

import pytest

from conversations.actions import sentences

PRODUCT = {
    "name": "Tea Kettle",
    "product_id": "9832717871",
    "variants": {
        "1111111111": {"item_id": "1111111111", "options": {"material": "glass"}, "price": 54.0},
    },
}
ACCOUNT = {
    "user_id": "u1",
    "payment_methods": {
        "credit_card_1": {
            "id": "credit_card_1",
            "source": "credit_card",
            "brand": "visa",
            "last_four": "1234",
        },
        "gift_card_2": {"id": "gift_card_2", "source": "gift_card", "balance": 17.5},
        "paypal_3": {"id": "paypal_3", "source": "paypal"},
    },
}
PAYMENT = {"describe": {"say": ["{brand} ending {last_four}", "{source} (balance ${balance})", "{source}"]}}
PARAMETERS = {
    "type": "object",
    "properties": {
        "item_ids": {
            "type": "array",
            "x-baton": {"describe": {"key": "item_id", "say": "{name} ({options}, ${price})"}},
        },
        "payment_method_id": {"type": "string", "x-baton": PAYMENT},
        "order_id": {"type": "string"},
        "note": {"type": "string"},
    },
}


def say(template: str, **arguments) -> str:
    return sentences.change(template, PARAMETERS, arguments, [PRODUCT, ACCOUNT])


def test_a_variant_inherits_its_products_name_and_repeats_are_counted():
    text = say("return {item_ids} of {order_id}", item_ids=["1111111111", "1111111111"], order_id="#W1")
    assert text == "return 2 × Tea Kettle (glass, $54.00) of #W1"


@pytest.mark.parametrize(
    ("method", "said"),
    [
        ("credit_card_1", "Visa ending 1234"),
        ("gift_card_2", "gift card (balance $17.50)"),
        ("paypal_3", "Paypal"),
    ],
)
def test_the_first_template_whose_fields_all_exist_says_a_payment_method(method, said):
    assert say("pay with your {payment_method_id}", payment_method_id=method) == f"pay with your {said}"


def test_a_value_never_read_and_an_absent_optional_argument():
    assert say(
        "pay {order_id} with {payment_method_id}, {note}", order_id="#W1", payment_method_id="x_9"
    ) == ("pay #W1 with x_9")


@pytest.mark.parametrize("template", ["cancel {order}", "cancel {order_id", "cancel {}", "cancel }"])
def test_an_unusable_confirmation_template_is_refused(template):
    with pytest.raises(sentences.TemplateError):
        say(template, order_id="#W1")


def test_result_paths_collect_from_lists_pick_elements_and_fall_through_lines():
    result = {
        "order_id": "#W1",
        "status": "cancelled",
        "fulfillments": [{"tracking_id": ["111"]}, {"tracking_id": ["222"]}],
        "payment_history": [
            {"transaction_type": "payment", "amount": 10.5, "payment_method_id": "gift_card_2"},
            {"transaction_type": "refund", "amount": 10.5, "payment_method_id": "gift_card_2"},
        ],
    }
    parameters = {"type": "object", "x-baton": {"describe": {"payment_method_id": {"say": "{source}"}}}}

    def said(template: str) -> str:
        return sentences.result(template, parameters, result, [result, ACCOUNT])

    assert (
        said("{order_id} is {status}; tracking {fulfillments.tracking_id}")
        == "#W1 is cancelled; tracking 111 and 222"
    )
    assert said(
        "${payment_history[transaction_type=refund].amount} back to your {payment_history[-1].payment_method_id}"
    ) == ("$10.50 back to your gift card")
    assert said("{missing.path}\n{stray\n{order_id} is {status}.") == "#W1 is cancelled."
    assert said("{nothing}") == ""

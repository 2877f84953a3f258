"""The demo store's actions (the τ-bench retail operations over HTTP) and which use case may use which."""

from conversations.models import Action, UseCase

AUTH = {"Authorization": "Bearer ${DEMOSTORE_API_TOKEN}"}
ADDRESS_PROPERTIES = {
    "address1": {"type": "string", "description": "street and number"},
    "address2": {"type": "string", "description": "suite or apartment, may be empty"},
    "city": {"type": "string", "description": "city"},
    "state": {"type": "string", "description": "two-letter state code"},
    "country": {"type": "string", "description": "country, e.g. USA"},
    "zip": {"type": "string", "pattern": "^[0-9]{5}$", "description": "five-digit zip code"},
}
ORDER_ID = {"type": "string", "pattern": "^#?W[0-9]{7}$", "description": "the order id, like #W1234567"}
PAYMENT = {"type": "string", "minLength": 1, "description": "the payment method id, e.g. gift_card_7245904"}

# `describe` hints say a value in the customer's terms, from the record read earlier in the conversation
# (an order's item, a product's variant, an account's payment method).
SAY_ITEM = {"key": "item_id", "say": ["{name} ({options}, ${price})", "{name} ({options})", "{name}"]}
SAY_PAYMENT = {
    "key": "id",
    "say": ["{brand} ending {last_four}", "{source} (balance ${balance})", "{source}"],
}
# After a change a balance read before it may be stale: a result says the kind only.
SAY_PAYMENT_NOW = {"key": "id", "say": ["{brand} ending {last_four}", "{source}"]}
ITEM_IDS = {
    "type": "array",
    "items": {"type": "string", "pattern": "^[0-9]{10}$"},
    "minItems": 1,
    "x-baton": {"describe": SAY_ITEM},
}
# How payment method ids in a write's result are said.
SAY_RESULT_FIELDS = {
    "payment_method_id": SAY_PAYMENT_NOW,
    "return_payment_method_id": SAY_PAYMENT_NOW,
    "exchange_payment_method_id": SAY_PAYMENT_NOW,
}


# `x-baton` hints tell the offline engine how to resolve a parameter from the customer's account:
# which order statuses the action accepts, what a payment method is for, which look-up reads what.
# The runtime's account section follows them too: `lists` names the account fields holding ids another
# look-up reads, `shows` the fields of a record worth a line in the prompt.
def order_in(*statuses: str) -> dict:
    return {**ORDER_ID, "x-baton": {"statuses": list(statuses)}}


def payment_for(role: str) -> dict:
    return {
        **PAYMENT,
        "x-baton": {
            "role": role,
            "choices": "payment_methods",  # the account field holding the customer's methods
            "original": "payment_history.0.payment_method_id",  # the order's path to what paid for it
            "describe": SAY_PAYMENT,
        },
    }


def reads(what: str, schema: dict, **hints: object) -> dict:
    return {**schema, "x-baton": {**schema.get("x-baton", {}), "reads": what, **hints}}


ADDRESS_TEXT = "{address1}, {address2}, {city}, {state} {zip}, {country}"
STATUS_TEXT = "The status of order {order_id} is now {status}"


def _address_result(lead: str) -> str:
    """Result lines saying the result's `address` (the second for an address without a suite)."""
    full = lead + "{address.address1}, {address.address2}, {address.city}, {address.state} {address.zip}."
    return full + "\n" + full.replace(" {address.address2},", "")


def _schema(properties: dict, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
        "x-baton": {"describe": SAY_RESULT_FIELDS},
    }


ACTIONS = [
    {
        "name": "find_user_id_by_email",
        "description": "Find the customer's account (user id) from the email address they gave, to verify them.",
        "parameters": _schema({"email": {"type": "string", "minLength": 3}}),
        "url_template": "/users/lookup",
        "requires_verified_customer": False,
        "identifies_customer": True,
    },
    {
        "name": "find_user_id_by_name_zip",
        "description": "Find the customer's account (user id) from their first name, last name and zip code.",
        "parameters": _schema(
            {
                "first_name": {"type": "string", "minLength": 1},
                "last_name": {"type": "string", "minLength": 1},
                "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
            }
        ),
        "url_template": "/users/lookup",
        "requires_verified_customer": False,
        "identifies_customer": True,
    },
    {
        "name": "get_user_details",
        "description": "Read the verified customer's account: name, default address, payment methods, orders.",
        "examples": "what orders do I have\nwhat is the address on my account\nwhich payment methods do I have",
        "parameters": reads("account", _schema({"user_id": {"type": "string"}}), lists={"orders": "order"}),
        "url_template": "/users/{user_id}",
        "scope": Action.Scope.ACCOUNT,
        "reads_account": True,
    },
    {
        "name": "get_order_details",
        "description": "Look up an order of the verified customer: its status, items, tracking number.",
        "examples": "where is my order\nhas my order shipped\nwhat's the status of my order\n"
        "tracking number for my package\nwhen will my order arrive",
        "parameters": reads("order", _schema({"order_id": ORDER_ID}), shows=["status", "items"]),
        "url_template": "/orders/{order_id}",
        "scope": Action.Scope.ORDER,
    },
    {
        "name": "get_product_details",
        "description": "Read a product and all its variants (item ids, options, availability, price).",
        "examples": "which colors does it come in\nwhat sizes are available",
        "parameters": reads("product", _schema({"product_id": {"type": "string", "pattern": "^[0-9]{10}$"}})),
        "url_template": "/products/{product_id}",
        "requires_verified_customer": False,
    },
    {
        "name": "cancel_pending_order",
        "description": "Cancel a pending order that has not shipped yet; the refund goes to the original payment "
        "method. The reason is 'no longer needed' or 'ordered by mistake'.",
        "examples": "cancel my order\nI want to cancel an order\nI ordered it by mistake, please cancel it\n"
        "I no longer need my order, cancel it",
        "parameters": _schema(
            {
                "order_id": order_in("pending"),
                "reason": {"type": "string", "enum": ["no longer needed", "ordered by mistake"]},
            }
        ),
        "http_method": "POST",
        "url_template": "/orders/{order_id}/cancel",
        "scope": Action.Scope.ORDER,
        "requires_confirmation": True,
        "confirmation_template": "cancel order {order_id} because it was {reason}; the refund goes back to "
        "the original payment method",
        "result_template": STATUS_TEXT
        + "; ${payment_history[transaction_type=refund].amount} is refunded to "
        "your {payment_history[transaction_type=refund].payment_method_id}.\n" + STATUS_TEXT + ".",
    },
    {
        "name": "modify_pending_order_address",
        "description": "Change the shipping address of a pending order that has not shipped yet.",
        "examples": "send my order to a different address\nchange the shipping address of my order\n"
        "ship order to my new address instead",
        "parameters": _schema({"order_id": order_in("pending"), **ADDRESS_PROPERTIES}),
        "http_method": "POST",
        "url_template": "/orders/{order_id}/address",
        "scope": Action.Scope.ORDER,
        "requires_confirmation": True,
        "confirmation_template": "ship order {order_id} to " + ADDRESS_TEXT,
        "result_template": _address_result("Order {order_id} ({status}) now ships to "),
    },
    {
        "name": "modify_pending_order_payment",
        "description": "Pay a pending order with another payment method of the customer's account.",
        "examples": "pay my order with my gift card instead\nchange the payment method of my order",
        "parameters": _schema({"order_id": order_in("pending"), "payment_method_id": payment_for("new")}),
        "http_method": "POST",
        "url_template": "/orders/{order_id}/payment",
        "scope": Action.Scope.ORDER,
        "requires_confirmation": True,
        "confirmation_template": "pay order {order_id} with your {payment_method_id} instead",
        "result_template": "Order {order_id} is now paid with your "
        "{payment_history[transaction_type=payment][-1].payment_method_id} "
        "(${payment_history[transaction_type=payment][-1].amount}); the earlier payment goes back to your "
        "{payment_history[-1].payment_method_id}.\n" + STATUS_TEXT + ".",
    },
    {
        "name": "modify_pending_order_items",
        "description": "Swap items of a pending order for other options of the same products (only once per order).",
        "examples": "change the color of an item in my pending order before it ships\n"
        "modify the items of my order that hasn't shipped\n"
        "my order hasn't shipped yet, I'd like a different size of the shoes\n"
        "swap the lamp in my pending order for another version",
        "parameters": _schema(
            {
                "order_id": order_in("pending"),
                "item_ids": ITEM_IDS,
                "new_item_ids": ITEM_IDS,
                "payment_method_id": payment_for("charge"),
            }
        ),
        "http_method": "POST",
        "url_template": "/orders/{order_id}/items",
        "scope": Action.Scope.ORDER,
        "requires_confirmation": True,
        "confirmation_template": "change {item_ids->new_item_ids} in order {order_id}, the price difference "
        "settled with your {payment_method_id}; the order can't be modified again after this",
        "result_template": STATUS_TEXT + "; the price difference, ${payment_history[-1].amount}, is a "
        "{payment_history[-1].transaction_type} on your {payment_history[-1].payment_method_id}.\n"
        + STATUS_TEXT
        + ".",
    },
    {
        "name": "return_delivered_order_items",
        "description": "Return items of a delivered order for a refund to the original payment method or a "
        "gift card.",
        "examples": "I want to return an item\nreturn my delivered order for a refund\n"
        "send it back and get my money back",
        "parameters": _schema(
            {
                "order_id": order_in("delivered"),
                "item_ids": ITEM_IDS,
                "payment_method_id": payment_for("refund"),
            }
        ),
        "http_method": "POST",
        "url_template": "/orders/{order_id}/return",
        "scope": Action.Scope.ORDER,
        "requires_confirmation": True,
        "confirmation_template": "return {item_ids} of order {order_id}, refunded to your {payment_method_id}",
        "result_template": STATUS_TEXT
        + "; the refund goes to your {return_payment_method_id} once the items "
        "are back.\n" + STATUS_TEXT + ".",
    },
    {
        "name": "exchange_delivered_order_items",
        "description": "Exchange delivered items for another option (size, color, ...) of the same product.",
        "examples": "exchange an item for a different color\nswap it for another size\n"
        "I'd like to exchange what I received for a different version\n"
        "the jacket I got doesn't fit, can I get it in another size",
        "parameters": _schema(
            {
                "order_id": order_in("delivered"),
                "item_ids": ITEM_IDS,
                "new_item_ids": ITEM_IDS,
                "payment_method_id": payment_for("charge"),
            }
        ),
        "http_method": "POST",
        "url_template": "/orders/{order_id}/exchange",
        "scope": Action.Scope.ORDER,
        "requires_confirmation": True,
        "confirmation_template": "exchange {item_ids->new_item_ids} of order {order_id}, the price difference "
        "settled with your {payment_method_id}",
        "result_template": STATUS_TEXT + "; the price difference of ${exchange_price_difference} (new items "
        "minus old) is settled with your {exchange_payment_method_id}.\n" + STATUS_TEXT + ".",
    },
    {
        "name": "modify_user_address",
        "description": "Change the default address on the customer's account.",
        "examples": "update the address on my account\nI moved, change my default address\n"
        "change my account address",
        "parameters": _schema({"user_id": {"type": "string"}, **ADDRESS_PROPERTIES}),
        "http_method": "POST",
        "url_template": "/users/{user_id}/address",
        "scope": Action.Scope.ACCOUNT,
        "requires_confirmation": True,
        "confirmation_template": "change your account's default address to " + ADDRESS_TEXT,
        "result_template": _address_result("The default address on your account is now "),
    },
]

LOOKUPS = ["find_user_id_by_email", "find_user_id_by_name_zip", "get_user_details", "get_order_details"]
USE_CASE_ACTIONS = {
    "general": [a["name"] for a in ACTIONS],
    "order-status": LOOKUPS,
    "cancel-order": [*LOOKUPS, "cancel_pending_order"],
    "return-items": [*LOOKUPS, "return_delivered_order_items"],
    "exchange-items": [*LOOKUPS, "get_product_details", "exchange_delivered_order_items"],
    "order-address": [*LOOKUPS, "modify_pending_order_address"],
    "account-address": [*LOOKUPS, "modify_user_address"],
}


def seed_actions() -> int:
    """Create the store's actions and wire them to the seeded use cases; existing rows are left as edited."""
    created = 0
    for spec in ACTIONS:
        defaults = {
            "kind": Action.Kind.HTTP,
            "http_method": "GET",
            "base_url_setting": "DEMOSTORE_BASE_URL",
            "headers": AUTH,
            "timeout_seconds": 10,
            "retries": 1,
            **{k: v for k, v in spec.items() if k != "name"},
        }
        _, was_created = Action.objects.get_or_create(name=spec["name"], defaults=defaults)
        created += was_created
    for slug, names in USE_CASE_ACTIONS.items():
        use_case = UseCase.objects.filter(slug=slug).first()
        if use_case and not use_case.actions.exists():
            use_case.actions.set(Action.objects.filter(name__in=names))
    return created

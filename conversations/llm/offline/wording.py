"""What the offline engine says: questions that name the choices, confirmations and results in plain words."""

from typing import Any

from conversations.actions.wording import CONFIRM_QUESTION

from .state import DONE

ASK_VERIFICATION = (
    "Before I look at or change anything on an account, I need to verify you: please tell me the email "
    "address on your account, or your first name, last name and zip code?"
)
NOT_FOUND = (
    "I couldn't find an account with those details. Could you check the email address, or give your first "
    "name, last name and zip code exactly as on the account?"
)
NOT_FOUND_AGAIN = (
    "I still can't find an account with those details, so I'm bringing in a colleague who can help."
)
ASK_ADDRESS = (
    "Please write the new address on one line (street, suite if any, city, state and zip code, e.g. "
    "12 Oak Street, Suite 4, Austin, TX 78701): what is it?"
)
BACKEND_DOWN = (
    "Sorry, that didn't work: our order system didn't respond, so nothing was changed. You can try again in "
    "a moment."
)
CANNOT_ANSWER = "I can't answer that here. Shall I get a person who can?"
NOT_IN_ARTICLES = (
    "I don't have that in our help articles, and I'd rather not guess. "
    "Would you like me to connect you with a person who can answer it?"
)
# Replies that offer a person: a yes to one hands the conversation over.
PERSON_OFFERS = (CANNOT_ANSWER, NOT_IN_ARTICLES)
DECLINED = "Alright, I haven't changed anything. What would you like me to do instead?"


def options(options: dict[str, Any]) -> str:
    return ", ".join(str(v) for v in (options or {}).values())


def item(item: dict[str, Any]) -> str:
    price = f", ${item['price']:.2f}" if isinstance(item.get("price"), int | float) else ""
    return f"{item['name']} ({options(item.get('options'))}{price})"


def _join(parts: list[str]) -> str:
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def order_line(order: dict[str, Any]) -> str:
    names: dict[str, int] = {}
    for i in order.get("items") or []:
        names[i["name"]] = names.get(i["name"], 0) + 1
    held = ", ".join(f"{n} {name}s" if n > 1 else name for name, n in names.items())
    return f"{order.get('order_id')} — {held}, {order.get('status')}"


def which_order(orders: list[dict[str, Any]]) -> str:
    if not orders:
        return "I couldn't find that order on your account. Which order is it?"
    listing = "; ".join(order_line(o) for o in orders)
    return f"Which order do you mean? {listing}."


def no_fitting_order(tool: dict[str, Any], orders: list[dict[str, Any]], allowed: set[str]) -> str:
    listing = "; ".join(order_line(o) for o in orders) or "none"
    allowed_text = " or ".join(sorted(allowed)) or "the right"
    return (
        f"That needs an order that is {allowed_text}, and I don't see one that fits on your account "
        f"({listing}). Which order do you mean, or shall I get a person?"
    )


def which_items(order: dict[str, Any]) -> str:
    listing = "; ".join(item(i) for i in order.get("items") or [])
    return f"Which items of order {order.get('order_id')} do you mean? It holds: {listing}."


def which_variant(old: dict[str, Any], product: dict[str, Any]) -> str:
    available = [
        options(v.get("options"))
        for v in (product.get("variants") or {}).values()
        if v.get("available") and v["item_id"] != old["item_id"]
    ]
    return (
        f"Which {old['name']} would you like instead of the one you have ({options(old.get('options'))})? "
        f"Available: {'; '.join(available[:8]) or 'none right now'}."
    )


def payment_method(method: dict[str, Any]) -> str:
    source = method.get("source")
    if source == "credit_card":
        return f"{str(method.get('brand') or 'card').title()} ending {method.get('last_four')}"
    if source == "gift_card":
        balance = method.get("balance")
        return "gift card" + (f" (balance ${balance})" if balance is not None else "")
    if source == "paypal":
        return "PayPal"
    return str(method.get("id"))


def kind_words(kind: str) -> str:
    return {"credit_card": "a credit card", "gift_card": "a gift card", "paypal": "PayPal"}.get(kind, kind)


def ask_payment(
    methods: list[dict[str, Any]], role: str, *, original: str | None = None, exclude: str | None = None
) -> str:
    choices = [m for m in methods if m.get("id") != exclude]
    listing = "; ".join(payment_method(m) for m in choices) or "none on file"
    if role == "refund":
        first = next((m for m in methods if m.get("id") == original), None)
        shown = f" ({payment_method(first)})" if first else ""
        return (
            f"Where should the refund go: the original payment method{shown}, or a gift card? "
            f"On your account: {listing}."
        )
    if role == "new":
        return f"Which payment method would you like to use instead? On your account: {listing}."
    return f"Which payment method should settle any price difference? On your account: {listing}."


def ask_reason(reasons: list[str], order: dict[str, Any] | None = None) -> str:
    what = f"order {order_line(order)}" if order and order.get("items") else "it"
    if not reasons:
        return f"Why would you like to cancel {what}?"
    return f"Why would you like to cancel {what}: is it {' or '.join(reasons)}?"


def confirmation(summary: str) -> str:
    return f"To confirm: {summary}. {CONFIRM_QUESTION}"


def what_differs(summary: str) -> str:
    return (
        f"From what you've told me, I still understand: {summary}. What should be different (the order, the "
        "items, the options or the payment method)?"
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def success(content: dict[str, Any]) -> str:
    """A change made, said as the action's result template words it (else its status), or a read's answer."""
    data = content.get("result") or {}
    summary = content.get("summary")
    said = _sentence(str(content.get("said") or ""))
    if summary:
        status = data.get("status") if isinstance(data, dict) else None
        text = f"{DONE} {_sentence(summary)}"
        if said:
            text += f" {said}"
        elif status:
            text += f" Order {data.get('order_id')} is now {status}."
        return text + " Is there anything else I can help with?"
    if said:
        return said
    if isinstance(data, dict) and "order_id" in data and "status" in data:
        return order(data)
    return f"{DONE} that's taken care of."


def order(data: dict[str, Any]) -> str:
    held = "; ".join(item(i) for i in data.get("items", []))
    tracking = [t for f in data.get("fulfillments", []) for t in f.get("tracking_id", [])]
    text = f"Order {data['order_id']} is {data['status']}. It holds: {held}."
    if tracking:
        text += f" Tracking number: {', '.join(tracking)}."
    return text


def account(data: dict[str, Any]) -> str:
    name = data.get("name") or {}
    a = data.get("address") or {}
    methods = "; ".join(payment_method(m) for m in (data.get("payment_methods") or {}).values())
    return (
        f"Your account: {name.get('first_name')} {name.get('last_name')}, default address "
        f"{a.get('address1')}, {a.get('city')}, {a.get('state')} {a.get('zip')}; orders: "
        f"{', '.join(data.get('orders', [])) or 'none'}; payment methods: {methods or 'none'}."
    )


def not_yours(order_id: str | None) -> str:
    return (
        f"I can only help with orders on your own account, and {order_id} isn't one of them, so I haven't "
        "touched it."
    )


def capabilities(tools: list[dict[str, Any]]) -> str:
    """What this use case can do, from its actions' descriptions (first clause of each)."""
    things = []
    for tool in tools:
        description = (tool["function"].get("description") or "").partition(" Examples: ")[0]
        first = description.split(";")[0].split(". ")[0].strip().rstrip(".")
        if first and not first.lower().startswith("find the customer"):
            things.append(first[0].lower() + first[1:])
    listing = "; ".join(things[:8])
    return f"I can {listing}." if listing else "I can answer questions about this service."

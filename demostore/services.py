"""Writes of the demo store: seeding from the τ-bench retail data."""

import json
from pathlib import Path

from django.db import transaction

from .models import StoreOrder, StoreProduct, StoreUser

DATA_DIR = Path(__file__).resolve().parent / "data"


def load_seed_data(data_dir: Path = DATA_DIR) -> dict[str, int]:
    """Load users, products and orders once; records already present are left as they are."""
    users = json.loads((data_dir / "users.json").read_text())
    products = json.loads((data_dir / "products.json").read_text())
    orders = json.loads((data_dir / "orders.json").read_text())
    with transaction.atomic():
        StoreUser.objects.bulk_create(
            [
                StoreUser(
                    user_id=user_id,
                    email=u["email"].lower(),
                    first_name=u["name"]["first_name"],
                    last_name=u["name"]["last_name"],
                    zip=u["address"]["zip"],
                    data=u,
                )
                for user_id, u in users.items()
            ],
            ignore_conflicts=True,
            batch_size=500,
        )
        StoreProduct.objects.bulk_create(
            [StoreProduct(product_id=pid, name=p["name"], data=p) for pid, p in products.items()],
            ignore_conflicts=True,
        )
        StoreOrder.objects.bulk_create(
            [
                StoreOrder(order_id=oid, user_id=o["user_id"], status=o["status"], data=o)
                for oid, o in orders.items()
            ],
            ignore_conflicts=True,
            batch_size=500,
        )
    return {
        "users": StoreUser.objects.count(),
        "products": StoreProduct.objects.count(),
        "orders": StoreOrder.objects.count(),
    }


class StoreError(Exception):
    """A request the store refuses: `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


CANCEL_REASONS = ("no longer needed", "ordered by mistake")
ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")


def _locked_order(order_id: str) -> StoreOrder:
    order_id = order_id.strip()
    if order_id and not order_id.startswith("#"):
        order_id = "#" + order_id
    order = StoreOrder.objects.select_for_update().filter(order_id=order_id).first()
    if order is None:
        raise StoreError("order not found", status=404)
    return order


def _locked_user(user_id: str) -> StoreUser:
    user = StoreUser.objects.select_for_update().filter(user_id=user_id).first()
    if user is None:
        raise StoreError("user not found", status=404)
    return user


def _require_status(order: StoreOrder, allowed: str, verb: str) -> None:
    if order.status != allowed:
        raise StoreError(f"order {order.order_id} is {order.status}; only {allowed} orders can be {verb}")


def _payment_method(user: StoreUser, payment_method_id: str) -> dict:
    method = user.data.get("payment_methods", {}).get(payment_method_id)
    if method is None:
        raise StoreError(f"payment method {payment_method_id} is not on this account", status=400)
    return method


def _adjust_gift_card(user: StoreUser, method: dict, delta: float) -> None:
    """Add `delta` to a gift card's balance (negative to charge it), refusing an overdraft."""
    if method["source"] != "gift_card":
        return
    balance = round(method["balance"] + delta, 2)
    if balance < 0:
        raise StoreError(f"gift card {method['id']} has not enough balance", status=400)
    method["balance"] = balance
    user.data["payment_methods"][method["id"]] = method


def _address(fields: dict) -> dict:
    missing = [f for f in ADDRESS_FIELDS if f != "address2" and not str(fields.get(f) or "").strip()]
    if missing:
        raise StoreError(f"missing address fields: {', '.join(missing)}", status=400)
    return {f: str(fields.get(f) or "").strip() for f in ADDRESS_FIELDS}


def _order_items(order: StoreOrder, item_ids: list[str]) -> list[dict]:
    """The order's items named by `item_ids` (a repeated id names a repeated item)."""
    if not item_ids:
        raise StoreError("give at least one item id", status=400)
    remaining = list(order.data["items"])
    chosen = []
    for item_id in item_ids:
        match = next((i for i in remaining if i["item_id"] == item_id), None)
        if match is None:
            raise StoreError(f"item {item_id} is not in order {order.order_id}", status=400)
        remaining.remove(match)
        chosen.append(match)
    return chosen


def _replacements(old_items: list[dict], new_item_ids: list[str]) -> list[dict]:
    """The available variants replacing `old_items`, each of the same product."""
    if len(new_item_ids) != len(old_items):
        raise StoreError("give one new item id for each item to change", status=400)
    variants = []
    for old, new_id in zip(old_items, new_item_ids, strict=True):
        product = StoreProduct.objects.filter(product_id=old["product_id"]).first()
        variant = (product.data["variants"].get(new_id) if product else None) or None
        if variant is None:
            raise StoreError(f"item {new_id} is not a variant of {old['name']}", status=400)
        if not variant["available"]:
            raise StoreError(f"item {new_id} is not available", status=400)
        if new_id == old["item_id"]:
            raise StoreError(f"item {new_id} is the same as the one ordered", status=400)
        variants.append(variant)
    return variants


def _save(order: StoreOrder, user: StoreUser | None = None) -> dict:
    order.save(update_fields=["status", "data"])
    if user is not None:
        user.save(update_fields=["data", "zip"])
    return order.data


@transaction.atomic
def cancel_pending_order(*, order_id: str, reason: str) -> dict:
    """Cancel a pending order and refund every payment to its method (gift cards at once)."""
    order = _locked_order(order_id)
    _require_status(order, "pending", "cancelled")
    if reason not in CANCEL_REASONS:
        raise StoreError(f"reason must be one of: {', '.join(CANCEL_REASONS)}", status=400)
    user = _locked_user(order.user_id)
    refunds = []
    for payment in order.data["payment_history"]:
        if payment["transaction_type"] != "payment":
            continue
        refunds.append({**payment, "transaction_type": "refund"})
        method = user.data["payment_methods"].get(payment["payment_method_id"])
        if method:
            _adjust_gift_card(user, method, payment["amount"])
    order.data["payment_history"].extend(refunds)
    order.data["status"] = order.status = "cancelled"
    order.data["cancel_reason"] = reason
    return _save(order, user)


@transaction.atomic
def modify_pending_order_address(*, order_id: str, **address: str) -> dict:
    """Change where a pending order ships."""
    order = _locked_order(order_id)
    _require_status(order, "pending", "modified")
    order.data["address"] = _address(address)
    return _save(order)


@transaction.atomic
def modify_pending_order_payment(*, order_id: str, payment_method_id: str) -> dict:
    """Pay a pending order with another single method of the same account."""
    order = _locked_order(order_id)
    _require_status(order, "pending", "modified")
    user = _locked_user(order.user_id)
    payments = [p for p in order.data["payment_history"] if p["transaction_type"] == "payment"]
    if len(payments) != 1:
        raise StoreError("only an order paid with a single method can change its payment method")
    current = payments[0]
    if current["payment_method_id"] == payment_method_id:
        raise StoreError("the new payment method must differ from the current one", status=400)
    new_method = _payment_method(user, payment_method_id)
    amount = current["amount"]
    _adjust_gift_card(user, new_method, -amount)
    old_method = user.data["payment_methods"].get(current["payment_method_id"])
    if old_method:
        _adjust_gift_card(user, old_method, amount)
    order.data["payment_history"].extend(
        [
            {"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
            {
                "transaction_type": "refund",
                "amount": amount,
                "payment_method_id": current["payment_method_id"],
            },
        ]
    )
    return _save(order, user)


@transaction.atomic
def modify_pending_order_items(
    *, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> dict:
    """Swap items of a pending order for other variants of the same products; allowed once per order."""
    order = _locked_order(order_id)
    _require_status(order, "pending", "modified")
    user = _locked_user(order.user_id)
    old_items = _order_items(order, item_ids)
    variants = _replacements(old_items, new_item_ids)
    method = _payment_method(user, payment_method_id)
    difference = round(sum(v["price"] for v in variants) - sum(i["price"] for i in old_items), 2)
    _adjust_gift_card(user, method, -difference)
    order.data["payment_history"].append(
        {
            "transaction_type": "payment" if difference > 0 else "refund",
            "amount": abs(difference),
            "payment_method_id": payment_method_id,
        }
    )
    for item, variant in zip(old_items, variants, strict=True):
        item.update(item_id=variant["item_id"], price=variant["price"], options=variant["options"])
    order.data["status"] = order.status = "pending (item modified)"
    return _save(order, user)


@transaction.atomic
def return_delivered_order_items(*, order_id: str, item_ids: list[str], payment_method_id: str) -> dict:
    """Request the return of delivered items, refunded to the original method or a gift card."""
    order = _locked_order(order_id)
    _require_status(order, "delivered", "returned")
    user = _locked_user(order.user_id)
    method = _payment_method(user, payment_method_id)
    original = order.data["payment_history"][0]["payment_method_id"]
    if method["source"] != "gift_card" and payment_method_id != original:
        raise StoreError("refunds go to the original payment method or to a gift card", status=400)
    _order_items(order, item_ids)
    order.data["status"] = order.status = "return requested"
    order.data["return_items"] = sorted(item_ids)
    order.data["return_payment_method_id"] = payment_method_id
    return _save(order)


@transaction.atomic
def exchange_delivered_order_items(
    *, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> dict:
    """Request the exchange of delivered items for available variants of the same products."""
    order = _locked_order(order_id)
    _require_status(order, "delivered", "exchanged")
    user = _locked_user(order.user_id)
    old_items = _order_items(order, item_ids)
    variants = _replacements(old_items, new_item_ids)
    method = _payment_method(user, payment_method_id)
    difference = round(sum(v["price"] for v in variants) - sum(i["price"] for i in old_items), 2)
    if method["source"] == "gift_card" and method["balance"] < difference:
        raise StoreError(f"gift card {payment_method_id} has not enough balance", status=400)
    order.data["status"] = order.status = "exchange requested"
    order.data["exchange_items"] = sorted(item_ids)
    order.data["exchange_new_items"] = sorted(new_item_ids)
    order.data["exchange_payment_method_id"] = payment_method_id
    order.data["exchange_price_difference"] = difference
    return _save(order)


@transaction.atomic
def modify_user_address(*, user_id: str, **address: str) -> dict:
    """Change an account's default address."""
    user = _locked_user(user_id)
    user.data["address"] = _address(address)
    user.zip = user.data["address"]["zip"]
    user.save(update_fields=["data", "zip"])
    return {"user_id": user.user_id, **user.data}

"""The store's write operations over its HTTP API, with τ-bench's rules."""

import json
from urllib.parse import quote

import pytest
from django.test import Client

from demostore.models import StoreOrder, StoreUser
from demostore.services import load_seed_data

pytestmark = pytest.mark.django_db

AUTH = {"HTTP_AUTHORIZATION": "Bearer test-demostore-token"}
USER = "aarav_anderson_8794"  # orders: #W9300146 pending, #W4316152 delivered, #W3220203 processed
GIFT_CARD = "gift_card_7245904"
ADDRESS = {
    "address1": "12 Oak Street",
    "address2": "Suite 4",
    "city": "Austin",
    "state": "TX",
    "country": "USA",
    "zip": "78701",
}


@pytest.fixture
def store():
    load_seed_data()


def post(path: str, body: dict, **headers):
    return Client().post(
        "/demostore/api/" + path, json.dumps(body), content_type="application/json", **(headers or AUTH)
    )


def order(order_id: str) -> StoreOrder:
    return StoreOrder.objects.get(order_id=order_id)


def balance() -> float:
    return StoreUser.objects.get(user_id=USER).data["payment_methods"][GIFT_CARD]["balance"]


def test_writes_need_the_token(store):
    response = post(
        f"orders/{quote('#W9300146', safe='')}/cancel", {"reason": "no longer needed"}, HTTP_X="1"
    )
    assert response.status_code == 401
    assert order("#W9300146").status == "pending"


def test_cancel_pending_order_refunds_a_gift_card_at_once(store):
    before = balance()
    response = post("orders/%23W9300146/cancel", {"reason": "ordered by mistake"})
    assert response.status_code == 200, response.content
    cancelled = order("#W9300146")
    assert cancelled.status == "cancelled" and cancelled.data["cancel_reason"] == "ordered by mistake"
    assert cancelled.data["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": 153.23,
        "payment_method_id": GIFT_CARD,
    }
    assert balance() == round(before + 153.23, 2)


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("orders/%23W4316152/cancel", {"reason": "no longer needed"}, 409, "only pending orders"),
        ("orders/%23W9300146/cancel", {"reason": "too expensive"}, 400, "reason must be one of"),
        ("orders/%23W3220203/address", ADDRESS, 409, "only pending orders"),
        (
            "orders/%23W9300146/return",
            {"item_ids": ["9190635437"], "payment_method_id": GIFT_CARD},
            409,
            "delivered",
        ),
        (
            "orders/%23W4316152/return",
            {"item_ids": ["1111111111"], "payment_method_id": GIFT_CARD},
            400,
            "not in order",
        ),
        (
            "orders/%23W4316152/exchange",
            {"item_ids": ["7292993796"], "new_item_ids": ["9190635437"], "payment_method_id": GIFT_CARD},
            400,
            "not a variant",
        ),
        ("orders/%23W0000000/cancel", {"reason": "no longer needed"}, 404, "not found"),
        ("orders/%23W9300146/cancel", {}, 400, "reason must be"),
    ],
)
def test_refused_writes_change_nothing(store, path, body, status, error):
    before = {o.order_id: (o.status, o.data) for o in StoreOrder.objects.filter(user_id=USER)}
    response = post(path, body)
    assert response.status_code == status
    assert error in response.json()["error"]
    assert {o.order_id: (o.status, o.data) for o in StoreOrder.objects.filter(user_id=USER)} == before


def test_a_non_json_body_is_a_clear_400(store):
    response = Client().post(
        "/demostore/api/orders/%23W9300146/cancel", "nope", content_type="application/json", **AUTH
    )
    assert response.status_code == 400 and "JSON" in response.json()["error"]


def test_modify_pending_order_address(store):
    assert post("orders/%23W9300146/address", ADDRESS).status_code == 200
    assert order("#W9300146").data["address"] == ADDRESS


def test_return_goes_to_original_method_or_a_gift_card_only(store):
    response = post("orders/%23W4316152/return", {"item_ids": ["7292993796"], "payment_method_id": GIFT_CARD})
    assert response.status_code == 200
    returned = order("#W4316152")
    assert returned.status == "return requested"
    assert returned.data["return_items"] == ["7292993796"]
    assert returned.data["return_payment_method_id"] == GIFT_CARD
    # #W9311069 was paid with the gift card too; a method not on the account is refused
    refused = post("orders/%23W9311069/return", {"item_ids": ["7154215719"], "payment_method_id": "paypal_1"})
    assert refused.status_code == 400 and order("#W9311069").status == "delivered"


def test_exchange_for_an_available_variant_of_the_same_product(store):
    from demostore.models import StoreProduct

    kettle = StoreProduct.objects.get(product_id="9832717871").data["variants"]
    new_id = next(v["item_id"] for v in kettle.values() if v["available"] and v["item_id"] != "7292993796")
    response = post(
        "orders/%23W4316152/exchange",
        {"item_ids": ["7292993796"], "new_item_ids": [new_id], "payment_method_id": GIFT_CARD},
    )
    assert response.status_code == 200, response.content
    exchanged = order("#W4316152")
    assert exchanged.status == "exchange requested"
    assert exchanged.data["exchange_new_items"] == [new_id]
    second = post(
        "orders/%23W4316152/exchange",
        {"item_ids": ["7292993796"], "new_item_ids": [new_id], "payment_method_id": GIFT_CARD},
    )
    assert second.status_code == 409, "one change per order"


def test_modify_items_once_then_the_order_is_locked(store):
    from demostore.models import StoreProduct

    lamp = StoreProduct.objects.get(product_id="6817146515").data["variants"]
    new_id = next(v["item_id"] for v in lamp.values() if v["available"] and v["item_id"] != "9190635437")
    body = {"item_ids": ["9190635437"], "new_item_ids": [new_id], "payment_method_id": GIFT_CARD}
    assert post("orders/%23W9300146/items", body).status_code == 200
    modified = order("#W9300146")
    assert modified.status == "pending (item modified)"
    assert modified.data["items"][0]["item_id"] == new_id
    assert post("orders/%23W9300146/items", body).status_code == 409
    assert post("orders/%23W9300146/cancel", {"reason": "no longer needed"}).status_code == 409


def test_modify_user_address_updates_the_account(store):
    response = post(f"users/{USER}/address", ADDRESS)
    assert response.status_code == 200
    user = StoreUser.objects.get(user_id=USER)
    assert user.data["address"] == ADDRESS and user.zip == "78701"
    lookup = Client().get(
        "/demostore/api/users/lookup",
        {"first_name": "Aarav", "last_name": "Anderson", "zip": "78701"},
        **AUTH,
    )
    assert lookup.json() == {"user_id": USER}


def test_modify_payment_moves_the_charge_to_another_method_of_the_account(store):
    same = post("orders/%23W9300146/payment", {"payment_method_id": GIFT_CARD})
    assert same.status_code == 400 and "differ" in same.json()["error"]
    noah = StoreUser.objects.get(user_id="noah_brown_6181")
    pending = StoreOrder.objects.filter(user_id="noah_brown_6181").first()
    pending.status = pending.data["status"] = "pending"
    pending.save()
    current = pending.data["payment_history"][0]["payment_method_id"]
    other = next(m for m in noah.data["payment_methods"] if m != current)
    response = post("orders/%23W7678072/payment", {"payment_method_id": other})
    assert response.status_code == 200, response.content
    history = order("#W7678072").data["payment_history"]
    assert [h["transaction_type"] for h in history[-2:]] == ["payment", "refund"]
    assert history[-2]["payment_method_id"] == other and history[-1]["payment_method_id"] == current

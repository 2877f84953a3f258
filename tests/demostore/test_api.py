from urllib.parse import quote

import pytest
from django.test import Client

from demostore.services import load_seed_data

pytestmark = pytest.mark.django_db

AUTH = {"HTTP_AUTHORIZATION": "Bearer test-demostore-token"}


@pytest.fixture
def store():
    load_seed_data()


def test_requests_without_the_token_get_401(store):
    assert Client().get("/demostore/api/users/noah_brown_6181").status_code == 401
    wrong = Client().get("/demostore/api/users/noah_brown_6181", HTTP_AUTHORIZATION="Bearer wrong")
    assert wrong.status_code == 401


def test_user_details(store):
    response = Client().get("/demostore/api/users/noah_brown_6181", **AUTH)
    assert response.status_code == 200
    assert response.json()["email"] == "noah.brown7922@example.com"
    assert response.json()["orders"] == ["#W7678072"]


def test_order_by_url_encoded_id(store):
    response = Client().get("/demostore/api/orders/" + quote("#W2611340", safe=""), **AUTH)
    assert response.status_code == 200
    assert response.json()["user_id"] == "james_li_5688" and response.json()["status"] == "processed"


def test_lookups_by_email_and_by_name_zip(store):
    by_email = Client().get("/demostore/api/users/lookup", {"email": "NOAH.BROWN7922@example.com"}, **AUTH)
    assert by_email.json() == {"user_id": "noah_brown_6181"}
    by_name = Client().get(
        "/demostore/api/users/lookup", {"first_name": "noah", "last_name": "Brown", "zip": "80279"}, **AUTH
    )
    assert by_name.json() == {"user_id": "noah_brown_6181"}
    missing = Client().get("/demostore/api/users/lookup", {"email": "nobody@example.com"}, **AUTH)
    assert missing.status_code == 404
    incomplete = Client().get("/demostore/api/users/lookup", {"first_name": "Noah"}, **AUTH)
    assert incomplete.status_code == 400


def test_product_details_and_list(store):
    product = Client().get("/demostore/api/products/9523456873", **AUTH).json()
    assert product["name"] == "T-Shirt" and "9612497925" in product["variants"]
    assert Client().get("/demostore/api/products", **AUTH).json()["products"]["T-Shirt"] == "9523456873"

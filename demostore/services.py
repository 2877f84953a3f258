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

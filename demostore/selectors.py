"""Reads of the demo store."""

from .models import StoreOrder, StoreProduct, StoreUser


def user(user_id: str) -> StoreUser | None:
    return StoreUser.objects.filter(user_id=user_id).first()


def user_by_email(email: str) -> StoreUser | None:
    return StoreUser.objects.filter(email=email.strip().lower()).first()


def user_by_name_zip(first_name: str, last_name: str, zip_code: str) -> StoreUser | None:
    return StoreUser.objects.filter(
        first_name__iexact=first_name.strip(), last_name__iexact=last_name.strip(), zip=zip_code.strip()
    ).first()


def order(order_id: str) -> StoreOrder | None:
    order_id = order_id.strip()
    if order_id and not order_id.startswith("#"):
        order_id = "#" + order_id
    return StoreOrder.objects.filter(order_id=order_id).first()


def product(product_id: str) -> StoreProduct | None:
    return StoreProduct.objects.filter(product_id=product_id).first()


def product_types() -> dict[str, str]:
    return dict(StoreProduct.objects.order_by("name").values_list("name", "product_id"))

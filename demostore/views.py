import json
from functools import wraps

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .auth import require_store_token
from .services import StoreError


def not_found(what: str) -> JsonResponse:
    return JsonResponse({"error": f"{what} not found"}, status=404)


@csrf_exempt
@require_GET
@require_store_token
def user_detail(request: HttpRequest, user_id: str) -> JsonResponse:
    user = selectors.user(user_id)
    return JsonResponse({"user_id": user.user_id, **user.data}) if user else not_found("user")


@csrf_exempt
@require_GET
@require_store_token
def user_lookup(request: HttpRequest) -> JsonResponse:
    params = request.GET
    if params.get("email"):
        user = selectors.user_by_email(params["email"])
    elif params.get("first_name") and params.get("last_name") and params.get("zip"):
        user = selectors.user_by_name_zip(params["first_name"], params["last_name"], params["zip"])
    else:
        return JsonResponse({"error": "give email, or first_name, last_name and zip"}, status=400)
    return JsonResponse({"user_id": user.user_id}) if user else not_found("user")


@csrf_exempt
@require_GET
@require_store_token
def order_detail(request: HttpRequest, order_id: str) -> JsonResponse:
    order = selectors.order(order_id)
    return JsonResponse(order.data) if order else not_found("order")


@csrf_exempt
@require_GET
@require_store_token
def product_detail(request: HttpRequest, product_id: str) -> JsonResponse:
    product = selectors.product(product_id)
    return JsonResponse(product.data) if product else not_found("product")


@csrf_exempt
@require_GET
@require_store_token
def product_list(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"products": selectors.product_types()})


def _json_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise StoreError("the body must be a JSON object", status=400) from None
    if not isinstance(body, dict):
        raise StoreError("the body must be a JSON object", status=400)
    return body


def _strings(body: dict, *names: str, optional: tuple[str, ...] = ()) -> dict[str, str]:
    values = {}
    for name in names + optional:
        value = body.get(name, "" if name in optional else None)
        if not isinstance(value, str) or (name not in optional and not value.strip()):
            raise StoreError(f"{name} must be a non-empty string", status=400)
        values[name] = value
    return values


def _id_list(body: dict, name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise StoreError(f"{name} must be a non-empty list of item ids", status=400)
    return value


def _write(operation):
    """Run a store write from a JSON body; a refused request answers with its status and a reason."""

    @wraps(operation)
    @csrf_exempt
    @require_POST
    @require_store_token
    def view(request: HttpRequest, **ids: str) -> JsonResponse:
        try:
            return JsonResponse(operation(_json_body(request), **ids))
        except StoreError as exc:
            return JsonResponse({"error": exc.message}, status=exc.status)

    return view


@_write
def cancel_order(body: dict, order_id: str) -> dict:
    return services.cancel_pending_order(order_id=order_id, **_strings(body, "reason"))


@_write
def modify_order_address(body: dict, order_id: str) -> dict:
    fields = _strings(body, "address1", "city", "state", "country", "zip", optional=("address2",))
    return services.modify_pending_order_address(order_id=order_id, **fields)


@_write
def modify_order_payment(body: dict, order_id: str) -> dict:
    return services.modify_pending_order_payment(order_id=order_id, **_strings(body, "payment_method_id"))


@_write
def modify_order_items(body: dict, order_id: str) -> dict:
    return services.modify_pending_order_items(
        order_id=order_id,
        item_ids=_id_list(body, "item_ids"),
        new_item_ids=_id_list(body, "new_item_ids"),
        **_strings(body, "payment_method_id"),
    )


@_write
def return_order_items(body: dict, order_id: str) -> dict:
    return services.return_delivered_order_items(
        order_id=order_id, item_ids=_id_list(body, "item_ids"), **_strings(body, "payment_method_id")
    )


@_write
def exchange_order_items(body: dict, order_id: str) -> dict:
    return services.exchange_delivered_order_items(
        order_id=order_id,
        item_ids=_id_list(body, "item_ids"),
        new_item_ids=_id_list(body, "new_item_ids"),
        **_strings(body, "payment_method_id"),
    )


@_write
def modify_user_address(body: dict, user_id: str) -> dict:
    fields = _strings(body, "address1", "city", "state", "country", "zip", optional=("address2",))
    return services.modify_user_address(user_id=user_id, **fields)

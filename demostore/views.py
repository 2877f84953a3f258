from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from . import selectors
from .auth import require_store_token


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

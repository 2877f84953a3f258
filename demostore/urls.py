from django.urls import path

from . import views

urlpatterns = [
    path("users/lookup", views.user_lookup, name="store-user-lookup"),
    path("users/<str:user_id>", views.user_detail, name="store-user"),
    path("users/<str:user_id>/address", views.modify_user_address, name="store-user-address"),
    # Write routes come before the catch-all order route; an order id never holds a slash.
    path("orders/<str:order_id>/cancel", views.cancel_order, name="store-order-cancel"),
    path("orders/<str:order_id>/address", views.modify_order_address, name="store-order-address"),
    path("orders/<str:order_id>/payment", views.modify_order_payment, name="store-order-payment"),
    path("orders/<str:order_id>/items", views.modify_order_items, name="store-order-items"),
    path("orders/<str:order_id>/return", views.return_order_items, name="store-order-return"),
    path("orders/<str:order_id>/exchange", views.exchange_order_items, name="store-order-exchange"),
    path("orders/<path:order_id>", views.order_detail, name="store-order"),
    path("products", views.product_list, name="store-products"),
    path("products/<str:product_id>", views.product_detail, name="store-product"),
]

from django.urls import path

from . import views

urlpatterns = [
    path("users/lookup", views.user_lookup, name="store-user-lookup"),
    path("users/<str:user_id>", views.user_detail, name="store-user"),
    path("orders/<path:order_id>", views.order_detail, name="store-order"),
    path("products", views.product_list, name="store-products"),
    path("products/<str:product_id>", views.product_detail, name="store-product"),
]

from django.contrib import admin

from .models import StoreOrder, StoreProduct, StoreUser


@admin.register(StoreUser)
class StoreUserAdmin(admin.ModelAdmin):
    list_display = ("user_id", "email", "first_name", "last_name", "zip")
    search_fields = ("user_id", "email", "last_name", "zip")


@admin.register(StoreOrder)
class StoreOrderAdmin(admin.ModelAdmin):
    list_display = ("order_id", "user", "status")
    list_filter = ("status",)
    search_fields = ("order_id", "user__user_id")
    raw_id_fields = ("user",)


@admin.register(StoreProduct)
class StoreProductAdmin(admin.ModelAdmin):
    list_display = ("name", "product_id")
    search_fields = ("name", "product_id")

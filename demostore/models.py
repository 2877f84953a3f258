"""A sample commerce backend. Other apps never import it: they call its HTTP API like any external system."""

from django.db import models


class StoreUser(models.Model):
    user_id = models.CharField(max_length=100, primary_key=True)
    email = models.CharField(max_length=320, unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    zip = models.CharField(max_length=20)
    data = models.JSONField()

    class Meta:
        indexes = [models.Index(fields=["first_name", "last_name", "zip"], name="storeuser_name_zip")]

    def __str__(self) -> str:
        return self.user_id


class StoreOrder(models.Model):
    order_id = models.CharField(max_length=32, primary_key=True)
    user = models.ForeignKey(StoreUser, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=40, db_index=True)
    data = models.JSONField()

    def __str__(self) -> str:
        return self.order_id


class StoreProduct(models.Model):
    product_id = models.CharField(max_length=32, primary_key=True)
    name = models.CharField(max_length=200)
    data = models.JSONField()

    def __str__(self) -> str:
        return f"{self.name} ({self.product_id})"

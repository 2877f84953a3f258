from django.urls import path

from . import views

urlpatterns = [
    path("metrics", views.prometheus_metrics, name="metrics"),
]

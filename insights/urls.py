from django.urls import path

from . import views

urlpatterns = [
    path("metrics", views.prometheus_metrics, name="metrics"),
    path("api/insights/summary", views.summary_api, name="insights-summary"),
    path("insights/", views.insights_page, name="insights"),
]

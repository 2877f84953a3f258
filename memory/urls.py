from django.urls import path

from . import views

urlpatterns = [
    path("api/memory/recall", views.recall, name="memory-recall"),
    path("api/memory/observations", views.add_observations, name="memory-observations"),
]

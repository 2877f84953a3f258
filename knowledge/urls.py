from django.urls import path

from . import views

urlpatterns = [path("api/knowledge/search", views.search, name="knowledge-search")]

from django.contrib import admin
from django.urls import include, path

from . import views

admin.site.site_header = "Baton administration"
admin.site.site_title = "Baton"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("orchestration.urls")),
    path("", include("memory.urls")),
    path("", include("knowledge.urls")),
    path("", include("handoff.urls")),
    path("", include("insights.urls")),
    path("demostore/api/", include("demostore.urls")),
]

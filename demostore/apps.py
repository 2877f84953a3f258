from django.apps import AppConfig


class DemostoreConfig(AppConfig):
    name = "demostore"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Demo store (sample backend)"

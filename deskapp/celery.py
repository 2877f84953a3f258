import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskapp.settings")

app = Celery("baton")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""Test settings: the real Redis channel layer (database 9), Celery tasks run eagerly in-process.

Benchmarks set BATON_CELERY_EAGER=0 and start a real worker, as `make run` does with Redis.
"""

import os

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("DEMOSTORE_API_TOKEN", "test-demostore-token")
os.environ.setdefault("TWILIO_AUTH_TOKEN", "test-twilio-auth-token")
os.environ.setdefault("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
os.environ.setdefault("BATON_PUBLIC_URL", "https://baton.example.test")
# Connections kept open in worker threads would stop the test database from being dropped.
os.environ.setdefault("BATON_DB_CONN_MAX_AGE", "0")

from .settings import *  # noqa: E402,F403

CELERY_TASK_ALWAYS_EAGER = os.environ.get("BATON_CELERY_EAGER", "1") == "1"
# Tests assert on what background work wrote, so in-process background work runs inline.
BATON_BACKGROUND_INLINE = os.environ.get("BATON_BACKGROUND_INLINE", "1") == "1"
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

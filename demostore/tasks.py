"""Celery tasks of the demostore app: take ids, load, call a service."""

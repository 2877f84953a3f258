"""Celery tasks of the handoff app: take ids, load, call a service."""

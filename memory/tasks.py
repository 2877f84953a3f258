"""Celery tasks of the memory app: take ids, load, call a service."""

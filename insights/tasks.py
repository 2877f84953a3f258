"""Celery tasks of the insights app: take ids, load, call a service."""

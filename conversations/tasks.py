"""Celery tasks of the conversations app: take ids, load, call a service."""

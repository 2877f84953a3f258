"""The benchmarks' throwaway databases: dropped at the end even while something still holds them open."""

import sys

import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper

from tests.live_server import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from _throwaway import drop_database  # noqa: E402

NAME = "baton_test_throwaway_drop"


def database_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


@pytest.mark.django_db(transaction=True)
def test_a_database_another_session_still_uses_is_dropped():
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {NAME}")
        cursor.execute(f"CREATE DATABASE {NAME}")
    # As a background thread's kept connection did: Django's destroy_test_db failed on it.
    holder = DatabaseWrapper({**connection.settings_dict, "NAME": NAME})
    holder.ensure_connection()
    try:
        drop_database(NAME)
        assert not database_exists(NAME)
    finally:
        holder.close()
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {NAME}")  # left behind only when the drop failed

"""Read-mostly rows (operators and rules, a use case's tools, its knowledge scope) kept in a process and
read again as soon as one row of their tables changed, in any process.

A row's (ctid, xmin) changes whenever it is updated, by save() or .update() alike; inserts and deletes
change the list. So equal stamps mean unchanged rows, at the cost of one small statement instead of
building the rows again (the ORM's query building is most of a read's CPU). An admin's edit is seen
by the next read after it commits, in every process: nothing waits for an expiry.
"""

from collections.abc import Callable
from typing import Generic, TypeVar

from django.db import connection

T = TypeVar("T")


class StampedCache(Generic[T]):
    """Values built from the rows of `tables` (names, or a function giving them once the models are
    loaded), by key; callers treat what they get as read-only."""

    def __init__(self, tables: Callable[[], list[str]]) -> None:
        self._tables = tables
        self._sql = ""
        self._values: dict[tuple[str, object], tuple[tuple, T]] = {}

    def _stamp(self) -> tuple:
        if not self._sql:
            self._sql = "SELECT " + ", ".join(
                f"(SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY ctid) FROM {table})"
                for table in self._tables()
            )
        with connection.cursor() as cursor:
            cursor.execute(self._sql)
            return tuple(cursor.fetchone())

    def get(self, key: object, build: Callable[[], T]) -> T:
        stamp = self._stamp()
        cache_key = (connection.settings_dict["NAME"], key)  # tests switch databases in one process
        cached = self._values.get(cache_key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        # Built after the stamp: a change in between is seen by the next call, never hidden.
        value = build()
        self._values[cache_key] = (stamp, value)
        return value

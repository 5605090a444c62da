"""Row counts for the database page without counting the internal tables.

Datasette's database page counts every table's rows on every view. For a plain table SQLite
counts in one step that its time limit cannot interrupt, so on an archive of years the hidden
internal tables (the near-duplicate index, the fetch state, the full-text index's own
tables: millions of rows that no reviewer browses) cost seconds a view (bench/scale.py).
Tables the metadata hides are left out (the database page then does not list them); the
others are counted as before.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from datasette.database import QueryInterrupted


def count_only_visible_tables(datasette: Any, database: Any) -> None:
    """Replace ``database.table_counts`` with one that skips the tables hidden in metadata."""

    async def table_counts(limit: int = 10) -> dict[str, int | None]:
        tables = datasette.metadata("tables", database=database.name, fallback=False) or {}
        counts: dict[str, int | None] = {}
        for table in await database.table_names():
            if tables.get(table, {}).get("hidden"):
                # Left out, not None: Datasette's home page drops every count when one is None.
                continue
            try:
                result = await database.execute(
                    f"select count(*) from [{table}]", custom_time_limit=limit
                )
                counts[table] = result.rows[0][0]
            except (QueryInterrupted, sqlite3.DatabaseError):  # as Datasette's own
                counts[table] = None
        return counts

    database.table_counts = table_counts

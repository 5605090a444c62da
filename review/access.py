"""Who may read what through Datasette: the articles and their record, not the raw material.

``hidden: true`` in the metadata only takes a table off the listing; its pages, JSON and
CSV still answer. The stored HTML (``pages``: hostile pages as fetched, large) and the
internal tables (migrations, full-text index shadow tables) are refused here with a 403,
whoever asks. Arbitrary SQL, which would reach them too, is off unless ``newsmon serve
--allow-sql`` (Datasette's ``allow_sql`` block, set by review.serve).
"""

from __future__ import annotations

import re
from typing import Any

from datasette import hookimpl

RAW_TABLES = {"pages"}
# Migrations (_sqlite_migrations), SQLite's own tables, and full-text indexes with their
# shadow tables (articles_fts, articles_fts_data, ...), for any table that gets one.
_INTERNAL = re.compile(r"^(_|sqlite_)|_fts($|_)")


def is_internal(table: str) -> bool:
    return table in RAW_TABLES or bool(_INTERNAL.search(table))


@hookimpl
def permission_allowed(datasette: Any, actor: Any, action: str, resource: Any) -> bool | None:
    table = resource[1] if isinstance(resource, tuple) and len(resource) == 2 else None
    if action == "view-table" and table is not None and is_internal(str(table)):
        return False
    return None

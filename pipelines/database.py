"""The SQLite archive: opening it (created or migrated, in WAL mode) and writing to it.

Its schema is pipelines/schema.py. A database that has migrations this code does not know
was written by a newer newsmon, and is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from pipelines.schema import migrations

BUSY_TIMEOUT_MS = 10_000  # a concurrent crawl or reader holds the lock for milliseconds


class DatabaseError(RuntimeError):
    """The archive cannot be opened or written; the message is meant for the user."""


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A transaction that takes the write lock at its start (BEGIN IMMEDIATE).

    In WAL mode a deferred transaction that reads and then writes fails at once with
    "database is locked" when another process wrote in between, and the busy timeout does
    not apply to that case; taking the lock first makes it wait its turn instead.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def open_database(path: str | Path) -> sqlite_utils.Database:
    """The archive at ``path``, created or migrated as needed, in WAL mode."""
    path = Path(path)
    if path.is_dir():
        raise DatabaseError(f"{path} is a directory, not a database file")
    if not path.parent.exists():
        raise DatabaseError(f"cannot create {path}: directory {path.parent} does not exist")
    try:
        db = sqlite_utils.Database(path)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if db.journal_mode != "wal":
            db.enable_wal()
        _refuse_newer_schema(db, path)
        migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot use {path} as the newsmon database: {exc}") from None
    return db


def _refuse_newer_schema(db: sqlite_utils.Database, path: Path) -> None:
    known = {m.name for m in migrations._migrations}
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        raise DatabaseError(
            f"{path} was written by a newer newsmon (unknown migration {unknown[0]}); "
            "upgrade newsmon to use it"
        )

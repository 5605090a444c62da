"""Keeping the raw pages from growing without end: delete old ones, give the space back.

The fetched HTML of every stored article (``pages``) is most of an archive's size: ~40 KiB an
article gzip, against ~15 KiB for everything else (articles, versions, stories, the full-text
index; see docs/PERFORMANCE.md). It is kept for re-extraction, which matters for recent
pages (an extraction fix, a changed site layout) and rarely for old ones. ``delete_old_pages``
drops the pages fetched before a cutoff; the articles, their versions and their stories stay.

Deletion runs in short write transactions, so a crawl writing to the same archive waits a
moment at most. Deleted pages leave free pages inside the file that later writes reuse;
``vacuum`` gives them back to the filesystem, and refuses when the disk could not hold the
copy VACUUM writes (a full disk half-way through would fail the VACUUM, not the archive).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from pipelines.database import DatabaseError, write_transaction

# Rows deleted per write transaction: a crawl's store waits for at most one batch.
BATCH = 500


@dataclass(frozen=True)
class Deleted:
    pages: int
    bytes: int  # their gzip payloads
    cutoff: str


def delete_old_pages(db: sqlite_utils.Database, older_than: timedelta) -> Deleted:
    """Delete the raw pages fetched before now - ``older_than``, in batches (rowid order)."""
    cutoff = (datetime.now(UTC) - older_than).strftime("%Y-%m-%dT%H:%M:%SZ")
    deleted = freed = 0
    last = 0
    while True:
        with write_transaction(db):
            rows = db.execute(
                "select rowid, length(html_gz) from pages where rowid > ? and fetched < ? "
                "order by rowid limit ?",
                [last, cutoff, BATCH],
            ).fetchall()
            if not rows:
                break
            db.conn.executemany("delete from pages where rowid = ?", [(r[0],) for r in rows])
        last = rows[-1][0]
        deleted += len(rows)
        freed += sum(r[1] or 0 for r in rows)
    return Deleted(deleted, freed, cutoff)


@dataclass(frozen=True)
class Vacuumed:
    before: int
    after: int


def file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def vacuum(db: sqlite_utils.Database, path: Path) -> Vacuumed:
    """Rewrite the archive without its free pages; DatabaseError when the disk is too small.

    VACUUM writes a copy of the live data to a temporary file and then, in WAL mode, all of
    it again to the write-ahead log: both must fit."""
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages, free = (
        db.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "freelist_count")
    )
    live = (pages - free) * page_size
    temp = Path(tempfile.gettempdir())
    need = {path.parent.resolve(): live, temp.resolve(): live}
    if _same_filesystem(path.parent, temp):
        need = {path.parent.resolve(): 2 * live}
    for folder, size in need.items():
        if shutil.disk_usage(folder).free < size * 1.1:
            raise DatabaseError(
                f"not enough free disk to VACUUM: it needs {size / 2**20:,.0f} MiB in "
                f"{folder}; the deleted pages' space is reused by later crawls meanwhile"
            )
    before = file_size(path)
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Vacuumed(before, file_size(path))


def _same_filesystem(first: Path, second: Path) -> bool:
    return first.resolve().stat().st_dev == second.resolve().stat().st_dev

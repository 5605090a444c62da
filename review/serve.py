"""`newsmon serve`: Datasette over the archive, with newsmon's metadata, read-only.

Safe by default: arbitrary SQL is off unless asked for, the raw pages and internal tables
answer 403 (review.access), responses carry a Content-Security-Policy (review.headers). The
metadata reaches Datasette through an anonymous in-memory file: no file that another user
of the machine could create, replace or symlink first.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sqlite3
import sys
import tempfile
from contextlib import closing
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from datasette.app import Datasette

# Every page answers in under a second on an archive of ten years (bench/scale.py): a facet
# over the whole of a million articles (agencies, publication dates) gives up after 200 ms
# and says so, while the same facet over a search, a date range or a source is quick; and
# Datasette's suggested facets, one query per column on every table page, are off.
SETTINGS: dict[str, Any] = {
    "sql_time_limit_ms": 3000,
    "facet_time_limit_ms": 200,
    "suggest_facets": False,
    "truncate_cells_html": 0,
    "allow_download": False,  # never hand out the whole database file
}


def metadata_for(
    db: Path, *, allow_sql: bool = False, log_dir: Path | None = None
) -> dict[str, Any]:
    """The shipped metadata, its database part under this archive's Datasette name.

    Without ``allow_sql`` nobody may run arbitrary SQL (Datasette's ``allow_sql`` block);
    the saved queries still answer. ``log_dir``: where the crawls wrote their logs, when
    not ``<db>.logs/`` (review.runlogs serves a run's log only from there).
    """
    template = yaml.safe_load(files("review").joinpath("metadata.yml").read_text("utf-8"))
    database = template.pop("database")
    if log_dir is not None:
        database["plugins"] = {"newsmon": {"log_dir": str(log_dir.resolve())}}
    metadata = {**template, "databases": {db.stem: database}}
    if not allow_sql:
        metadata["allow_sql"] = False
    return metadata


def datasette_for(db: Path, *, allow_sql: bool = False, log_dir: Path | None = None) -> Datasette:
    """The review server as an object (for tests and scripts), configured as `serve` runs it."""
    metadata = metadata_for(db, allow_sql=allow_sql, log_dir=log_dir)
    return Datasette([str(db)], metadata=metadata, settings=SETTINGS)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, allow_sql: bool) -> str | None:
    """What a reviewer must know before serving on an address other machines can reach."""
    if is_loopback(host):
        return None
    sql = " and anyone can run arbitrary SQL on it" if allow_sql else ""
    return (
        f"Warning: listening on {host}: the archive is exposed to every machine that can reach "
        f"this address, without authentication{sql}. Put it behind an authenticating proxy, "
        "or use --host 127.0.0.1."
    )


def datasette_argv(db: Path, metadata: str, host: str, port: int) -> list[str]:
    # A plain (not -i) file: Datasette opens it read-only and sees new rows as a crawl
    # writes them (WAL), which an immutable database would not.
    argv = [sys.executable, "-m", "datasette", "serve", str(db), "--metadata", metadata]
    argv += ["--host", host, "--port", str(port)]
    for name, value in SETTINGS.items():
        text = ("on" if value else "off") if isinstance(value, bool) else str(value)
        argv += ["--setting", name, text]
    return argv


def metadata_path(metadata: dict[str, Any]) -> str:
    """A path Datasette can read the metadata from, that no other user can create or change.

    On Linux, an anonymous in-memory file (memfd) inherited across exec: nothing on disk.
    Elsewhere, a private temporary file (mode 0600, unpredictable name, created exclusively).
    """
    data = json.dumps(metadata).encode("utf-8")
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("newsmon-metadata", 0)  # not close-on-exec: Datasette reads it
        with open(fd, "wb", closefd=False) as memory:
            memory.write(data)
        return f"/dev/fd/{fd}"
    fd, name = tempfile.mkstemp(prefix="newsmon-metadata-", suffix=".json")
    with open(fd, "wb") as private:
        private.write(data)
    return name


class NotAnArchive(Exception):
    """The file cannot be served: not SQLite, or no newsmon archive."""


def check_archive(db: Path) -> None:
    """Refuse a file Datasette would fail on with a traceback, read-only (serving never
    migrates, so an archive is read as it is)."""
    try:
        with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
            tables = {row[0] for row in conn.execute("select name from sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise NotAnArchive(f"cannot serve {db}: {exc}") from None
    if "articles" not in tables:
        raise NotAnArchive(f"cannot serve {db}: not a newsmon archive (no articles table)")


def serve(
    db: Path, host: str, port: int, *, allow_sql: bool = False, log_dir: Path | None = None
) -> None:
    """Replace this process with Datasette (so signals and exit codes are Datasette's)."""
    metadata = metadata_for(db, allow_sql=allow_sql, log_dir=log_dir)
    argv = datasette_argv(db, metadata_path(metadata), host, port)
    os.execv(argv[0], argv)

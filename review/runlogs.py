"""A crawl run's log as text, one click from its row: ``/<database>/crawl_runs/<id>/log``.

The URL names a run, never a file: the file is the one the run's own ``crawl_runs.log_path``
names, and it is served only when it lies in the archive's log directory (``<db>.logs/``
beside the database, or the ``log_dir`` of the plugin's configuration for that database,
which ``newsmon serve --log-dir`` sets), symbolic links resolved first. A path written into a
row by hand, or a link in the log directory pointing elsewhere, is refused like a missing
file; no other file of the machine can be reached through the route.

Logs are shown to whoever may read ``crawl_runs`` (docs/SECURITY.md): the same Datasette
permission check as the table's page, so restricting the table restricts its logs.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import IO, Any

from datasette.utils.asgi import NotFound
from markupsafe import Markup, escape

# Any run part, not only digits, so that every request for a run's log gets its 404 here:
# Datasette 0.65 answers a path no route matches with a 500 when `rich` is installed (its
# 404 handler prints a traceback outside an except block).
ROUTE = r"^/(?P<database>[^/.]+)/crawl_runs/(?P<run>[^/]+)/log$"
CHUNK = 64 * 1024
_PRUNED = (
    "The log of run {run} is no longer kept: newsmon keeps the logs of the newest 50 runs "
    "of each source (older runs' log_path is cleared), and a run stopped before its crawl "
    "started has none."
)


def log_url(datasette: Any, database: str, run_id: Any) -> str:
    return str(datasette.urls.row(database, "crawl_runs", str(run_id))) + "/log"


def render_log_path(datasette: Any, database: str, run_id: Any, log_path: str) -> Markup:
    """The log path as the link that opens the run's log."""
    href = log_url(datasette, database, run_id)
    return Markup(f'<a href="{escape(href)}">{escape(log_path)}</a>')


def render_run(datasette: Any, database: str, run_id: Any) -> Markup:
    """A run's id in a saved query as the link to its row."""
    href = datasette.urls.row(database, "crawl_runs", str(run_id))
    return Markup(f'<a href="{escape(href)}">{escape(run_id)}</a>')


def run_link_with_start(datasette: Any, database: str, run_id: int) -> Any:
    """An article's or version's run on its row page, which does not expand foreign keys:
    labelled by its start, as the tables label it (``label_column``)."""

    async def render() -> Markup:
        result = await datasette.get_database(database).execute(
            "select started from crawl_runs where id = ?", [run_id]
        )
        started = result.first()[0] if result.first() else None
        href = datasette.urls.row(database, "crawl_runs", str(run_id))
        return Markup(f'<a href="{escape(href)}">{escape(started or f"run {run_id}")}</a>')

    return render


def log_dir(datasette: Any, database: str) -> Path | None:
    """Where this database's logs may be: the configured directory, else ``<db>.logs/``
    beside it (the default of `newsmon crawl --log-dir`); None for an in-memory database."""
    config = datasette.plugin_config("newsmon", database=database) or {}
    if config.get("log_dir"):
        return Path(config["log_dir"]).resolve()
    path = datasette.get_database(database).path
    return Path(path + ".logs").resolve() if path else None


async def run_log(datasette: Any, request: Any) -> LogFile:
    try:
        database = datasette.get_database(route=request.url_vars["database"]).name
    except KeyError:
        raise NotFound(f"No database {request.url_vars['database']}") from None
    await datasette.ensure_permissions(
        request.actor,
        [("view-table", (database, "crawl_runs")), ("view-database", database), "view-instance"],
    )
    if not request.url_vars["run"].isdecimal():
        raise NotFound(f"No run {request.url_vars['run']} in {database}: runs are numbered")
    run = int(request.url_vars["run"])
    result = await datasette.get_database(database).execute(
        "select log_path from crawl_runs where id = ?", [run]
    )
    row = result.first()
    if row is None:
        raise NotFound(f"No run {run} in {database}")
    if not row["log_path"]:
        raise NotFound(_PRUNED.format(run=run))
    return LogFile(_served_path(datasette, database, run, row["log_path"]))


def _served_path(datasette: Any, database: str, run: int, log_path: str) -> Path:
    """The run's log file, only if it is a file inside the archive's log directory."""
    logs = log_dir(datasette, database)
    if logs is None:
        raise NotFound(f"{database} is not a database file: it has no log directory")
    try:
        path = (logs / log_path).resolve(strict=True)  # an absolute log_path replaces logs
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a NUL
        raise NotFound(f"The log file of run {run} is gone: {log_path}") from None
    if not path.is_relative_to(logs) or not path.is_file():
        raise NotFound(f"Run {run}'s log_path is not a file in {logs}/; it is not served")
    return path


class LogFile:
    """A text/plain response streaming the file as it was when asked for: a running crawl
    keeps writing its log, and the length sent must be the length announced."""

    def __init__(self, path: Path):
        self.path = path

    async def asgi_send(self, send: Any) -> None:
        with self.path.open("rb") as log:
            size = os.fstat(log.fileno()).st_size
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(size).encode()),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            left = size
            while True:
                chunk = await asyncio.to_thread(_read, log, min(CHUNK, left))
                left -= len(chunk)
                more = left > 0 and len(chunk) > 0
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    return


def _read(log: IO[bytes], size: int) -> bytes:
    return log.read(size) if size > 0 else b""

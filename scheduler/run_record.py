"""What a finished crawl recorded, read back from the archive, or written for it when the
crawl died before it could: its ``crawl_runs`` row, and the retention of the runs' logs."""

from __future__ import annotations

import re
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.dates import utc_now
from crawler.origins import publicize
from pipelines.database import DatabaseError, open_database, write_transaction
from pipelines.run_states import INTERRUPTED

if TYPE_CHECKING:
    from scheduler.crawl import CrawlJob

# Per source and database, the log files of the newest this many runs are kept.
LOGS_KEPT = 50


@dataclass
class CrawlResult:
    source: str
    # ok, partial, failed, blocked, interrupted, or skipped (another crawl held the lock)
    status: str
    reason: str
    row: dict[str, Any]
    seconds: float
    log_file: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "partial")


# A crawl ended by one of these signals was stopped from outside (an operator, systemd
# stopping the service, the daemon's own shutdown), not by a fault of its own.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL})


@dataclass
class Ending:
    """How a crawl process ended, as its parent saw it."""

    returncode: int
    stderr: bytes
    timed_out: bool = False
    stopped: bool = False  # the parent was shutting down when it ended

    @property
    def by_stop_signal(self) -> bool:
        return self.returncode < 0 and -self.returncode in STOP_SIGNALS

    def fallback(self, log_file: Path | None) -> tuple[str, str]:
        """(status, reason) for a run that did not record its own end."""
        if self.timed_out:
            return "failed", "timeout"
        if self.stopped or self.by_stop_signal:
            how = (
                f"by {signal.Signals(-self.returncode).name}"
                if self.by_stop_signal
                else "as newsmon stopped"
            )
            return INTERRUPTED, f"stopped {how} before the crawl recorded its end"
        return "failed", _last_error(self.stderr, self.returncode, log_file)


def collect(job: CrawlJob, ending: Ending, seconds: float, log_file: Path | None) -> CrawlResult:
    """The run's crawl_runs row; one is written here if the crawl died before writing it."""
    status, reason = ending.fallback(log_file)
    try:
        row = _recorded_row(
            job, status, publicize(reason, job.origin_map), ending.timed_out, log_file
        )
    except (sqlite3.Error, DatabaseError) as exc:  # e.g. a full disk: report, don't crash
        reason = publicize(f"cannot record the run: {exc}", job.origin_map)
        return CrawlResult(job.source, "failed", reason, {}, seconds, log_file)
    return CrawlResult(job.source, row["status"], row["reason"] or "", row, seconds, log_file)


def _recorded_row(
    job: CrawlJob, status: str, reason: str, timed_out: bool, log_file: Path | None
) -> dict[str, Any]:
    """The run's row, given ``status`` and ``reason`` if it timed out or never finished."""
    db = open_database(job.db)
    try:
        rows = list(db.table("crawl_runs").rows_where("run_id = ?", [job.run_id]))
        row = rows[-1] if rows else None
        if timed_out or row is None or row["status"] == "running":
            record: dict[str, str | None] = {
                "finished": utc_now(),
                "status": status,
                "reason": reason,
            }
            if row is None:
                record.update(
                    run_id=job.run_id,
                    source=job.source,
                    kind=job.kind,
                    started=record["finished"],
                    # A crawl stopped before Scrapy opened its log has none to point at.
                    log_path=str(log_file) if log_file and log_file.exists() else None,
                )
                db.table("crawl_runs").insert(record)
            else:
                db.table("crawl_runs").update(row["id"], record)
            row = next(iter(db.table("crawl_runs").rows_where("run_id = ?", [job.run_id])))
        return row
    finally:
        db.close()


_EXCEPTION_LINE = re.compile(r"^[\w.]+(?:Error|Exception|Exit): .+")


def _last_error(stderr: bytes, returncode: int, log_file: Path | None) -> str:
    """The crawl's own last word: the exception it died of, from stderr or its log."""
    text = stderr.decode("utf-8", "replace")
    if log_file is not None and log_file.exists():
        text += "\n" + log_file.read_text(encoding="utf-8", errors="replace")[-20000:]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if _EXCEPTION_LINE.match(line)]
    detail = (errors or lines or ["no output"])[-1]
    return f"crawl process exited with code {returncode}: {detail}"[:500]


def prune_logs(db_path: Path, source: str, keep: int = LOGS_KEPT) -> None:
    """Delete the log files of ``source``'s runs in this database but the newest ``keep``.

    Only files this database's ``crawl_runs`` names are touched, so a log directory shared
    with another database (or holding anything else) loses nothing that is not ours; the
    pruned runs' ``log_path`` is cleared first, so it never points at a deleted file.
    Best effort: a database that cannot be written (a full disk) keeps its logs for now.
    """
    try:
        db = open_database(db_path)
        try:
            with write_transaction(db):
                old = [
                    (row["id"], row["log_path"])
                    for row in db.query(
                        "select id, log_path from crawl_runs where source = ? "
                        "and log_path is not null order by id desc limit -1 offset ?",
                        [source, keep],
                    )
                ]
                db.conn.executemany(
                    "update crawl_runs set log_path = null where id = ?", [(i,) for i, _ in old]
                )
        finally:
            db.close()
    except (sqlite3.Error, DatabaseError):
        return
    for _, path in old:
        Path(path).unlink(missing_ok=True)

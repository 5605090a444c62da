"""Run crawls as ``scrapy crawl`` subprocesses and read back what each run recorded.

One process per crawl is the only safe shape for a long-lived tool: the Twisted reactor
cannot be restarted in-process, a crash or leak stays contained, and a hung crawl can be
killed. ``newsmon crawl`` and the ``newsmon schedule`` daemon both go through ``run_crawl``,
which also takes the source's lock, so the two never crawl one source at the same time.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.dates import utc_now
from crawler.origins import publicize
from pipelines.database import DatabaseError, open_database

# After SIGTERM Scrapy closes the spider once in-flight downloads end (DOWNLOAD_TIMEOUT is
# 30 s); a crawl still there this long after SIGTERM is killed.
KILL_GRACE_SECONDS = 45
FORCE_AFTER_SECONDS = 10
# Per source, the newest this many log files are kept.
LOGS_KEPT = 50


@dataclass
class CrawlJob:
    source: str
    db: Path
    settings: dict[str, str] = field(default_factory=dict)
    origin_map: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    kind: str = "crawl"  # crawl_runs.kind: "crawl", or "backfill" (scheduler/backfill.py)

    def new_log_file(self) -> Path | None:
        if self.log_dir is None:
            return None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return self.log_dir / f"{self.source}-{stamp}-{self.run_id[:8]}.log"

    def argv(self, log_file: Path | None) -> list[str]:
        """The exact command a crawl runs, as a user could type it."""
        argv = [sys.executable, "-m", "scrapy", "crawl", self.source]
        for name, value in self.settings.items():
            argv += ["-s", f"{name}={value}"]
        # newsmon's own come last, so a user's -s cannot redirect the run's record.
        argv += ["-s", f"NEWSMON_DB={self.db}", "-s", f"NEWSMON_RUN_ID={self.run_id}"]
        if log_file is not None:
            argv += ["-s", f"LOG_FILE={log_file}"]
        if self.origin_map:
            argv += ["-s", f"NEWSMON_ORIGIN_MAP={json.dumps(self.origin_map)}"]
        return argv


@dataclass
class CrawlResult:
    source: str
    status: str  # ok, partial, failed, blocked, or skipped (another crawl held the lock)
    reason: str
    row: dict[str, Any]
    seconds: float
    log_file: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "partial")


class SourceLock:
    """An exclusive flock on ``<db>.locks/<source>.lock``.

    The crawl process inherits the locked descriptor, so the lock lasts as long as the crawl,
    even if the process that started it dies; the kernel drops it when the last holder exits,
    so a killed process never leaves a stale lock behind.
    """

    def __init__(self, db: Path, source: str):
        self.path = db.with_name(db.name + ".locks") / f"{source}.lock"
        self.fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        self.record_holder(os.getpid())
        return True

    def record_holder(self, pid: int) -> None:
        """Write the pid of the crawl holding the lock, for people and tests to read."""
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{pid}\n".encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def crawl_environment() -> dict[str, str]:
    env = dict(os.environ)
    # Lets `scrapy crawl` find the project from any working directory.
    env.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    return env


def run_crawl(
    job: CrawlJob,
    *,
    timeout: float | None = None,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> CrawlResult:
    """Run one crawl to its end (or its time limit) under the source's lock."""
    started = time.monotonic()
    lock = SourceLock(job.db, job.source)
    if not lock.acquire():
        return CrawlResult(
            job.source, "skipped", f"another crawl of {job.source} is running", {}, 0.0
        )
    try:
        log_file = job.new_log_file()
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            job.argv(log_file),
            env=crawl_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if log_file else None,
            stderr=subprocess.PIPE,
            pass_fds=(lock.fd,) if lock.fd is not None else (),
            start_new_session=True,  # a terminal's Ctrl-C reaches the crawl through us only
        )
        lock.record_holder(process.pid)
        if on_start is not None:
            on_start(process)
        stderr, timed_out = wait(process, timeout)
    finally:
        lock.release()
    result = collect(
        job, process.returncode, stderr, timed_out, time.monotonic() - started, log_file
    )
    if job.log_dir is not None:
        prune_logs(job.log_dir, job.source)
    return result


def run_crawls(jobs: list[CrawlJob], *, timeout: float | None = None) -> list[CrawlResult]:
    """Run ``jobs`` in parallel (they are different sites) and return their results.

    On KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one by the caller) every crawl is
    stopped the polite way and the results of the stopped runs are still returned.
    """
    if not jobs:
        return []
    started: list[subprocess.Popen[bytes]] = []
    stopping = threading.Event()

    def on_start(process: subprocess.Popen[bytes]) -> None:
        started.append(process)
        if stopping.is_set():  # started just as the interrupt came
            terminate(process)

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(run_crawl, job, timeout=timeout, on_start=on_start) for job in jobs]
        try:
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            stopping.set()
            for process in list(started):
                terminate(process)
            return [future.result() for future in futures]


def wait(process: subprocess.Popen[bytes], timeout: float | None) -> tuple[bytes, bool]:
    """Wait for ``process``; past ``timeout`` send SIGTERM (Scrapy then closes the spider and
    flushes its pipelines), and SIGKILL if it is still there after a grace period."""
    try:
        _, stderr = process.communicate(timeout=timeout)
        return stderr or b"", False
    except subprocess.TimeoutExpired:
        terminate(process)
        _, stderr = process.communicate()
        return stderr or b"", True


def terminate(process: subprocess.Popen[bytes], grace: float = KILL_GRACE_SECONDS) -> None:
    """Stop a crawl, politely first: SIGTERM (Scrapy stops scheduling, closes the spider and
    lets its pipelines finish), a second SIGTERM after ``FORCE_AFTER_SECONDS`` (Scrapy's
    forced shutdown, for a crawl stuck waiting on downloads), SIGKILL after ``grace``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    for delay, action in (
        (min(FORCE_AFTER_SECONDS, grace), process.terminate),
        (grace, process.kill),
    ):
        timer = threading.Timer(delay, _if_alive, (process, action))
        timer.daemon = True
        timer.start()


def _if_alive(process: subprocess.Popen[bytes], action: Callable[[], None]) -> None:
    if process.poll() is None:
        action()


def collect(
    job: CrawlJob,
    returncode: int,
    stderr: bytes,
    timed_out: bool,
    seconds: float,
    log_file: Path | None,
) -> CrawlResult:
    """The run's crawl_runs row; one is written here if the crawl died before writing it."""
    fallback = "timeout" if timed_out else _last_error(stderr, returncode, log_file)
    try:
        row = _recorded_row(job, publicize(fallback, job.origin_map), timed_out, log_file)
    except (sqlite3.Error, DatabaseError) as exc:  # e.g. a full disk: report, don't crash
        reason = publicize(f"cannot record the run: {exc}", job.origin_map)
        return CrawlResult(job.source, "failed", reason, {}, seconds, log_file)
    return CrawlResult(job.source, row["status"], row["reason"] or "", row, seconds, log_file)


def _recorded_row(
    job: CrawlJob, fallback: str, timed_out: bool, log_file: Path | None
) -> dict[str, Any]:
    """The run's row, marked failed with ``fallback`` if it timed out or never finished."""
    db = open_database(job.db)
    try:
        rows = list(db.table("crawl_runs").rows_where("run_id = ?", [job.run_id]))
        row = rows[-1] if rows else None
        if timed_out or row is None or row["status"] == "running":
            record: dict[str, str | None] = {
                "finished": utc_now(),
                "status": "failed",
                "reason": fallback,
            }
            if row is None:
                record.update(
                    run_id=job.run_id,
                    source=job.source,
                    kind=job.kind,
                    started=record["finished"],
                    log_path=str(log_file) if log_file else None,
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


def prune_logs(log_dir: Path, source: str, keep: int = LOGS_KEPT) -> None:
    """Keep the newest ``keep`` log files of ``source``; the names sort by time."""
    logs = sorted(log_dir.glob(f"{source}-*.log"))
    for old in logs[:-keep] if keep else logs:
        old.unlink(missing_ok=True)

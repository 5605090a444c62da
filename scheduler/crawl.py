"""Run crawls as ``scrapy crawl`` subprocesses and read back what each run recorded.

One process per crawl is the only safe shape for a long-lived tool: the Twisted reactor
cannot be restarted in-process, a crash or leak stays contained, and a hung crawl can be
killed. ``newsmon crawl`` and the scheduler both go through ``run_crawls``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.dates import utc_now
from pipelines.database import open_database

# A child that ignores SIGTERM this long after its time limit is killed.
KILL_GRACE_SECONDS = 30


@dataclass
class CrawlJob:
    source: str
    db: Path
    settings: dict[str, str] = field(default_factory=dict)
    origin_map: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def new_log_file(self) -> Path | None:
        if self.log_dir is None:
            return None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return self.log_dir / f"{self.source}-{stamp}-{self.run_id[:8]}.log"

    def argv(self, log_file: Path | None) -> list[str]:
        """The exact command a crawl runs, as a user could type it."""
        argv = [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            self.source,
            "-s",
            f"NEWSMON_DB={self.db}",
            "-s",
            f"NEWSMON_RUN_ID={self.run_id}",
        ]
        if log_file is not None:
            argv += ["-s", f"LOG_FILE={log_file}"]
        if self.origin_map:
            argv += ["-s", f"NEWSMON_ORIGIN_MAP={json.dumps(self.origin_map)}"]
        for name, value in self.settings.items():
            argv += ["-s", f"{name}={value}"]
        return argv


@dataclass
class CrawlResult:
    source: str
    status: str
    reason: str
    row: dict[str, Any]
    seconds: float
    log_file: Path | None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "partial")


def crawl_environment() -> dict[str, str]:
    env = dict(os.environ)
    # Lets `scrapy crawl` find the project from any working directory.
    env.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    return env


def start(job: CrawlJob) -> tuple[subprocess.Popen[bytes], Path | None]:
    log_file = job.new_log_file()
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        job.argv(log_file),
        env=crawl_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL if log_file else None,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a Ctrl-C in the terminal reaches the crawl through us only
    )
    return process, log_file


def run_crawls(jobs: list[CrawlJob], *, timeout: float | None = None) -> list[CrawlResult]:
    """Run ``jobs`` in parallel (they are different sites) and return their results."""
    started = time.monotonic()
    running = [(job, *start(job)) for job in jobs]
    results = []
    for job, process, log_file in running:
        remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        stderr, timed_out = wait(process, remaining)
        results.append(
            collect(
                job, process.returncode, stderr, timed_out, time.monotonic() - started, log_file
            )
        )
    return results


def wait(process: subprocess.Popen[bytes], timeout: float | None) -> tuple[bytes, bool]:
    """Wait for ``process``; past ``timeout`` send SIGTERM (Scrapy then closes the spider and
    flushes its pipelines), and SIGKILL if it is still there after a grace period."""
    try:
        _, stderr = process.communicate(timeout=timeout)
        return stderr or b"", False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        return stderr or b"", True


def collect(
    job: CrawlJob,
    returncode: int,
    stderr: bytes,
    timed_out: bool,
    seconds: float,
    log_file: Path | None,
) -> CrawlResult:
    """The run's crawl_runs row; one is written here if the crawl died before writing it."""
    db = open_database(job.db)
    try:
        rows = list(db.table("crawl_runs").rows_where("run_id = ?", [job.run_id]))
        row = rows[-1] if rows else None
        if timed_out or row is None or row["status"] == "running":
            reason = "timeout" if timed_out else _last_error(stderr, returncode, log_file)
            record: dict[str, str | None] = {
                "finished": utc_now(),
                "status": "failed",
                "reason": reason,
            }
            if row is None:
                record.update(
                    run_id=job.run_id,
                    source=job.source,
                    started=record["finished"],
                    log_path=str(log_file) if log_file else None,
                )
                db.table("crawl_runs").insert(record)
            else:
                db.table("crawl_runs").update(row["id"], record)
            row = next(iter(db.table("crawl_runs").rows_where("run_id = ?", [job.run_id])))
    finally:
        db.close()
    return CrawlResult(job.source, row["status"], row["reason"] or "", row, seconds, log_file)


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

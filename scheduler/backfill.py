"""`newsmon backfill`: fill the archive with a source's past stories, one crawl process per source.

A backfill is an ordinary ``scrapy crawl`` run (started like `newsmon crawl`'s, under the
source's lock, forked from this process's import of Scrapy where that is safe) with the
``NEWSMON_BACKFILL_*`` settings that make the spider read the archive sitemaps
(crawler/backfill.py). It may take days at the default politeness, so:

- the crawl writes its progress to ``<db>.locks/<source>.backfill.json`` every second; this
  module shows it as a progress bar on a terminal, and as a line every 30 s otherwise;
- Ctrl-C or SIGTERM stops the crawl the polite way (what was fetched is stored, the run is
  recorded as ``interrupted``), and a rerun skips every URL already judged (the seen-URL table);
- Scrapy's one-hour CLOSESPIDER_TIMEOUT, meant for live crawls, is off unless ``-s`` sets it.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from scrapy.settings import Settings

from crawler.backfill import BackfillPlan
from pipelines.run_states import INTERRUPTED
from scheduler.crawl import (
    CrawlJob,
    CrawlProcess,
    Launch,
    Prefork,
    finish_crawl,
    forking_is_safe,
    spawn,
    start_or_fail,
    terminate,
)
from scheduler.run_record import CrawlResult

LOG_EVERY_SECONDS = 30.0
POLL_SECONDS = 0.5


@dataclass
class BackfillOptions:
    since: str
    until: str | None = None
    all_urls: bool = False
    max_pages: int | None = None

    def settings(self) -> dict[str, str]:
        """The crawl settings that make a run a backfill of this window."""
        return {
            "NEWSMON_BACKFILL_SINCE": self.since,
            "NEWSMON_BACKFILL_UNTIL": self.until or "",
            "NEWSMON_BACKFILL_ALL_URLS": "true" if self.all_urls else "false",
            "NEWSMON_BACKFILL_MAX_PAGES": str(self.max_pages or 0),
        }


def progress_path(db: Path, source: str) -> Path:
    """Where a backfill of ``source`` writes its progress; beside the source's lock file."""
    return db.with_name(db.name + ".locks") / f"{source}.backfill.json"


def backfill_job(
    source: str,
    db: Path,
    options: BackfillOptions,
    overrides: dict[str, str],
    origin_map: dict[str, str],
    log_dir: Path | None,
) -> CrawlJob:
    settings = {
        "CLOSESPIDER_TIMEOUT": "0",  # a backfill may run for days; -s can still set a limit
        **overrides,
        **options.settings(),
        "NEWSMON_BACKFILL_PROGRESS": str(progress_path(db, source)),
    }
    return CrawlJob(
        source, db, settings=settings, origin_map=origin_map, log_dir=log_dir, kind="backfill"
    )


def read_progress(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class ProgressView:
    """Shows one backfill's progress: a rich progress bar on a terminal, else a log line
    every ``LOG_EVERY_SECONDS`` on ``stream``."""

    source: str
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    bar: Progress | None = None
    task: TaskID | None = None
    last_line: float = float("-inf")

    def __enter__(self) -> ProgressView:
        if self.stream.isatty():
            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stored]} stored"),
                TextColumn("{task.fields[rate]}"),
                TextColumn("sitemaps {task.fields[sitemaps]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
            )
            self.bar.start()
            self.task = self.bar.add_task(
                self.source, total=None, stored=0, rate="", sitemaps="0/0"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, values: dict[str, Any], final: bool = False) -> None:
        if not values:
            return
        done, total = values.get("done", 0), values.get("selected", 0)
        elapsed = max(float(values.get("elapsed", 0.0)), 0.001)
        rate = f"{values.get('pages', 0) / elapsed:.2f} pages/s"
        sitemaps = f"{values.get('sitemaps_read', 0)}/{values.get('sitemaps_queued', 0)}"
        if self.bar is not None and self.task is not None:
            self.bar.update(
                self.task,
                total=max(total, done) or None,
                completed=done,
                stored=values.get("stored", 0),
                rate=rate,
                sitemaps=sitemaps,
            )
            return
        now = time.monotonic()
        if final or now - self.last_line >= LOG_EVERY_SECONDS:
            self.last_line = now
            remaining = max(total - done, 0)
            per_url = elapsed / done if done else None
            eta = f", ETA {format_seconds(remaining * per_url)}" if per_url and remaining else ""
            print(
                f"{self.source}: {done}/{total} URLs done, {values.get('stored', 0)} stored, "
                f"{values.get('skipped_seen', 0)} already in the archive, {rate}, "
                f"{values.get('considered', 0)} URLs considered, sitemaps {sitemaps}{eta}",
                file=self.stream,
                flush=True,
            )


def format_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Backfill:
    """Runs backfill jobs one after the other, showing progress; a signal stops them all."""

    def __init__(self, timeout: float | None = None, stream: TextIO | None = None):
        self.timeout = timeout
        self.stream = stream or sys.stderr
        self.stopped: list[int] = []  # the stop signals received, in order
        self.passed_on = 0  # how many of them the running crawl was sent

    def stop(self, signum: int, frame: Any = None) -> None:
        """SIGINT/SIGTERM: only noted here. The main thread's loop passes it on to the crawl
        (``_pass_on_stops``): a handler that acted itself could interrupt that loop, or
        itself, halfway through stopping the crawl."""
        self.stopped.append(signum)

    def _pass_on_stops(self, process: CrawlProcess) -> None:
        """The first stop stops the crawl politely (it stores what it fetched); another one
        forces it, as a second Ctrl-C does for `scrapy crawl`."""
        while self.passed_on < len(self.stopped):
            if self.passed_on == 0:
                terminate(process)
            elif process.poll() is None:
                process.send_signal(signal.SIGTERM)
            self.passed_on += 1

    def run(self, jobs: list[CrawlJob]) -> list[CrawlResult]:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.stop)
        # Each crawl is forked from this process's one import of Scrapy where that is safe.
        prefork = Prefork() if forking_is_safe() else None
        results = []
        for job in jobs:
            if self.stopped:
                break
            launch = prefork if prefork is not None and forking_is_safe() else spawn
            results.append(self.run_one(job, launch))
        return results

    def run_one(self, job: CrawlJob, launch: Launch) -> CrawlResult:
        path = progress_path(job.db, job.source)
        path.unlink(missing_ok=True)
        crawl = start_or_fail(job, launch)  # before any thread of ours: it may fork
        if isinstance(crawl, CrawlResult):
            return crawl
        with (
            ThreadPoolExecutor(max_workers=1) as pool,
            ProgressView(job.source, self.stream) as view,
        ):
            future: Future[CrawlResult] = pool.submit(finish_crawl, crawl, timeout=self.timeout)
            while not future.done():
                self._pass_on_stops(crawl.process)
                view.update(read_progress(path))
                time.sleep(POLL_SECONDS)
            view.update(read_progress(path), final=True)
        return future.result()


def cut_short(results: list[CrawlResult], planned: int) -> bool:
    """Whether a stop left work to resume: a source not run, or a run interrupted. A signal
    that came as the last crawl ended on its own (recorded ok or partial) left none."""
    return len(results) < planned or any(result.status == INTERRUPTED for result in results)


def check_plan(options: BackfillOptions, overrides: dict[str, str]) -> None:
    """Raises WindowError for a window or slug terms the crawl would refuse, read exactly as
    the crawl will read them."""
    BackfillPlan.from_settings(Settings({**overrides, **options.settings()}))

"""The `newsmon schedule` daemon: APScheduler 3 in the foreground, one crawl process per run.

Each enabled source is a job on its declared interval (or ``--every``), with jitter so the
sources do not all fire at once. The archive's run history decides the first run after a
start (an overdue source runs once, at once) and the backoff of failing sources. A job fire
that finds the previous run of its source still going is skipped (``max_instances=1``), and
the per-source lock of scheduler.crawl keeps a manual ``newsmon crawl`` out as well.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from crawler.sources import Source
from pipelines.database import DatabaseError, open_database
from scheduler.crawl import KILL_GRACE_SECONDS, CrawlJob, CrawlProcess, run_crawl, terminate
from scheduler.daemon_state import record_start, record_stop
from scheduler.status import history, next_run

logger = logging.getLogger("newsmon.schedule")

JITTER_FRACTION = 0.1  # up to 10% of the interval, at most 5 minutes
MAX_JITTER_SECONDS = 300
# A fire delayed by a busy pool or a suspended machine still runs if it is this late (the
# APScheduler default of 1 s silently drops it); later than that, the next fire takes over.
MIN_MISFIRE_GRACE_SECONDS = 600


@dataclass
class Daemon:
    db: Path
    sources: dict[str, Source]
    every: int | None = None
    settings: dict[str, str] = field(default_factory=dict)
    origin_map: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    timeout: float | None = None
    shutdown_grace: float = KILL_GRACE_SECONDS

    def __post_init__(self) -> None:
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max(1, len(self.sources)))},
            timezone=UTC,
        )
        self.scheduler.add_listener(self._job_event, EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
        self.running: dict[str, CrawlProcess] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.runs = 0

    def interval(self, source: Source) -> int:
        return self.every or source.interval_seconds

    def build(self, now: datetime | None = None) -> BlockingScheduler:
        """Add one job per enabled source, its first run taken from the run history."""
        now = now or datetime.now(UTC)
        db = open_database(self.db)
        try:
            for source in self.sources.values():
                if not source.enabled:
                    continue
                interval = self.interval(source)
                first = next_run(history(db, source.name), interval, now)
                self.scheduler.add_job(
                    self.run_source,
                    "interval",
                    seconds=interval,
                    jitter=min(interval * JITTER_FRACTION, MAX_JITTER_SECONDS),
                    args=[source.name],
                    id=source.name,
                    name=f"crawl {source.name}",
                    next_run_time=first,
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=max(MIN_MISFIRE_GRACE_SECONDS, interval),
                )
                logger.info("%s: every %ss, first run %s", source.name, interval, first.isoformat())
        finally:
            db.close()
        return self.scheduler

    def run_source(self, name: str) -> None:
        if self.stopping.is_set():
            return
        job = CrawlJob(
            name, self.db, settings=self.settings, origin_map=self.origin_map, log_dir=self.log_dir
        )
        logger.info("%s: crawl starting (run %s)", name, job.run_id[:8])
        result = run_crawl(
            job,
            timeout=self.timeout,
            on_start=lambda p: self._started(name, p),
            stopping=self.stopping,
        )
        with self.lock:
            self.running.pop(name, None)
            self.runs += 1
        log = f" (log {result.log_file})" if result.log_file else ""
        logger.info(
            "%s: crawl %s in %.1fs, %s stored%s%s",
            name,
            result.status,
            result.seconds,
            result.row.get("stored", 0),
            f": {result.reason}" if result.reason else "",
            log,
        )
        self._reschedule_after(name)

    def _started(self, name: str, process: CrawlProcess) -> None:
        with self.lock:
            self.running[name] = process
            if self.stopping.is_set():  # SIGTERM arrived while this crawl was starting
                terminate(process, self.shutdown_grace)

    def _reschedule_after(self, name: str) -> None:
        """Back off a failing source; a source that succeeds keeps its interval."""
        if self.stopping.is_set():
            return
        db = open_database(self.db)
        try:
            past = history(db, name)
        finally:
            db.close()
        if past.failures_in_a_row == 0:
            return
        source = self.sources[name]
        when = next_run(past, self.interval(source), datetime.now(UTC))
        logger.warning(
            "%s: %d failed or blocked run(s) in a row; next run %s",
            name,
            past.failures_in_a_row,
            when.isoformat(),
        )
        try:
            self.scheduler.modify_job(name, next_run_time=when)
        except Exception:  # the scheduler is shutting down
            logger.debug("could not reschedule %s", name, exc_info=True)

    def _job_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES:
            logger.info("%s: still crawling from its last run; this fire is skipped", event.job_id)
        else:
            logger.error("%s: job failed: %r", event.job_id, event.exception)

    def stop(self, signum: int, frame: FrameType | None = None) -> None:
        """SIGTERM/SIGINT: stop scheduling; running crawls get SIGTERM, so Scrapy closes the
        spider and its pipelines finish their items; SIGKILL after the grace period."""
        if self.stopping.is_set():
            return
        logger.info("received %s: stopping", signal.Signals(signum).name)
        self.stopping.set()
        with self.lock:
            for process in self.running.values():
                terminate(process, self.shutdown_grace)
        if self.scheduler.running:  # a signal during start-up comes before the scheduler runs
            # Not here: this handler runs on the main thread, possibly in the middle of the
            # scheduler's own loop, and a shutdown from inside it empties the job store
            # under that loop (JobLookupError, exit 1). From another thread, the shutdown
            # waits for the loop to let go of its job stores.
            threading.Thread(
                target=self.scheduler.shutdown, kwargs={"wait": False}, name="shutdown"
            ).start()

    def serve(self) -> None:
        """Run until SIGTERM or SIGINT; return once every running crawl has ended."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.stop)
        self._record(record_start, self.every)
        try:
            self.build()
            if self.stopping.is_set():
                logger.info("stopped before the first run")
                return
            self.scheduler.start()  # blocks until stop() shuts the scheduler down
            # Wait for the running crawls: they got SIGTERM and are SIGKILLed after the grace.
            executor: Any = self.scheduler._executors.get("default")
            if executor is not None:
                executor.shutdown(wait=True)
            logger.info("stopped after %d run(s)", self.runs)
        finally:
            self._record(record_stop)

    def _record(self, write: Callable[..., None], *args: Any) -> None:
        """Keep the daemon's settings in the archive for `newsmon status` (best effort)."""
        try:
            db = open_database(self.db)
            try:
                write(db, *args)
            finally:
                db.close()
        except (sqlite3.Error, DatabaseError) as exc:
            logger.warning("cannot record the daemon's state: %s", exc)

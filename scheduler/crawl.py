"""Run crawls as processes of their own, each under its source's lock.

One process per crawl is the only safe shape for a long-lived tool: the Twisted reactor
cannot be restarted in-process, a crash or leak stays contained, and a hung crawl can be
killed. ``newsmon crawl`` and the ``newsmon schedule`` daemon both go through
``start_crawl`` and ``finish_crawl``, which also take the source's lock, so the two never
crawl one source at the same time. The daemon execs ``scrapy crawl`` (``spawn``);
``newsmon crawl`` forks its crawls from one import of Scrapy (scheduler/prefork.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipelines.workers import default_workers
from scheduler.prefork import Forker, preload
from scheduler.run_record import CrawlResult, Ending, collect, prune_logs

logger = logging.getLogger("newsmon.crawl")

# After SIGTERM Scrapy closes the spider once in-flight downloads end (DOWNLOAD_TIMEOUT is
# 30 s); a crawl still there this long after SIGTERM is killed.
KILL_GRACE_SECONDS = 45
FORCE_AFTER_SECONDS = 10


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
        return [sys.executable, "-m", "scrapy", *self.scrapy_args(log_file)]

    def scrapy_args(self, log_file: Path | None) -> list[str]:
        argv = ["crawl", self.source]
        for name, value in self.settings.items():
            argv += ["-s", f"{name}={value}"]
        # newsmon's own come last, so a user's -s cannot redirect the run's record.
        argv += ["-s", f"NEWSMON_DB={self.db}", "-s", f"NEWSMON_RUN_ID={self.run_id}"]
        if log_file is not None:
            argv += ["-s", f"LOG_FILE={log_file}"]
        if self.origin_map:
            argv += ["-s", f"NEWSMON_ORIGIN_MAP={json.dumps(self.origin_map)}"]
        return argv


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
        """Write the pid of the crawl holding the lock, for people and tests to read.

        Only information: on a full disk the lock still holds, and the crawl goes on to
        record its own failure in one line."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
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


class CrawlProcess(Protocol):
    """What this module needs of a running crawl: a ``subprocess.Popen`` or a ForkedCrawl."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def send_signal(self, signum: int, /) -> None: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...
    def communicate(self, *, timeout: float | None = None) -> tuple[Any, Any]: ...


# Starts a job's crawl process: (job, its log file, the descriptor of its source's lock).
Launch = Callable[[CrawlJob, Path | None, int | None], CrawlProcess]


def spawn(job: CrawlJob, log_file: Path | None, lock_fd: int | None) -> CrawlProcess:
    """Exec `scrapy crawl`: safe from any thread, at the price of importing Scrapy again."""
    return subprocess.Popen(
        job.argv(log_file),
        env=crawl_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL if log_file else None,
        stderr=subprocess.PIPE,
        pass_fds=(lock_fd,) if lock_fd is not None else (),
        start_new_session=True,  # a terminal's Ctrl-C reaches the crawl through us only
    )


def forking_is_safe() -> bool:
    """Only a process whose main thread runs alone may fork a crawl from itself."""
    return threading.current_thread() is threading.main_thread() and threading.active_count() == 1


class Prefork:
    """Launches crawls by forking this process, once it has imported Scrapy; by exec where
    that import fails or forking is unsafe. Only for a process whose main thread starts
    every crawl before any other thread runs (``start_crawls``)."""

    def __init__(self) -> None:
        self.env = crawl_environment()
        self.forker = Forker() if preload(self.env["SCRAPY_SETTINGS_MODULE"]) else None

    def __call__(self, job: CrawlJob, log_file: Path | None, lock_fd: int | None) -> CrawlProcess:
        if self.forker is None:
            return spawn(job, log_file, lock_fd)
        return self.forker.fork(job.scrapy_args(log_file), self.env, log_file, lock_fd)


@dataclass
class StartedCrawl:
    job: CrawlJob
    process: CrawlProcess
    lock: SourceLock
    log_file: Path | None
    started: float  # time.monotonic()


def start_crawl(
    job: CrawlJob, launch: Launch = spawn, stopping: threading.Event | None = None
) -> StartedCrawl | CrawlResult:
    """Start ``job``'s crawl under its source's lock, or say why it was skipped."""
    started = time.monotonic()
    lock = SourceLock(job.db, job.source)
    if not lock.acquire():
        return CrawlResult(
            job.source, "skipped", f"another crawl of {job.source} is running", {}, 0.0
        )
    try:
        if stopping is not None and stopping.is_set():
            lock.release()
            return CrawlResult(job.source, "skipped", "stopping: not started", {}, 0.0)
        log_file = job.new_log_file()
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        process = launch(job, log_file, lock.fd)
    except BaseException:
        lock.release()
        raise
    lock.record_holder(process.pid)
    return StartedCrawl(job, process, lock, log_file, started)


def finish_crawl(
    crawl: StartedCrawl, *, timeout: float | None = None, stopping: threading.Event | None = None
) -> CrawlResult:
    """Wait for a started crawl to its end (or its time limit), then read back its record.

    ``stopping`` is the caller's shutdown flag: a crawl that ends once it is set was stopped
    by the operator, whatever state the stop caught it in, and is recorded ``interrupted``.
    """
    try:
        stderr, timed_out = wait(crawl.process, timeout)
    finally:
        crawl.lock.release()
    returncode = crawl.process.returncode
    ending = Ending(
        returncode if returncode is not None else 255,
        stderr,
        timed_out,
        stopped=stopping is not None and stopping.is_set(),
    )
    job = crawl.job
    result = collect(job, ending, time.monotonic() - crawl.started, crawl.log_file)
    if job.log_dir is not None:
        prune_logs(job.db, job.source)
    return result


def run_crawl(
    job: CrawlJob,
    *,
    timeout: float | None = None,
    on_start: Callable[[CrawlProcess], None] | None = None,
    stopping: threading.Event | None = None,
) -> CrawlResult:
    """Run one crawl, exec'd, to its end (or its time limit) under the source's lock."""
    crawl = start_crawl(job, spawn, stopping)
    if isinstance(crawl, CrawlResult):
        return crawl
    if on_start is not None:
        on_start(crawl.process)
    return finish_crawl(crawl, timeout=timeout, stopping=stopping)


def run_crawls(jobs: list[CrawlJob], *, timeout: float | None = None) -> list[CrawlResult]:
    """Run ``jobs`` in parallel (they are different sites) and return their results.

    Every crawl is started from the calling thread before any thread of ours exists, so
    they can be forked from one import of Scrapy; threads then wait for them. On
    KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one by the caller) every crawl is
    stopped the polite way and the results of the stopped runs are still returned.
    """
    if not jobs:
        return []
    # Crawls run at once share the cores; a worker count given with -s stands.
    workers = str(default_workers(len(jobs)))
    for job in jobs:
        job.settings = {"NEWSMON_EXTRACT_WORKERS": workers, **job.settings}
    stopping = threading.Event()
    held = HeldSignals(stopping)
    crawls: list[StartedCrawl | CrawlResult] = []
    running: list[CrawlProcess] = []
    futures: list[Future[CrawlResult]] = []
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        try:
            crawls += start_crawls(jobs, stopping)
            running += [crawl.process for crawl in crawls if isinstance(crawl, StartedCrawl)]
            futures += [
                pool.submit(finish_crawl, crawl, timeout=timeout, stopping=stopping)
                for crawl in crawls
                if isinstance(crawl, StartedCrawl)
            ]
            held.release()  # every started crawl is known: a stop that came is delivered now
            finished = [future.result() for future in futures]
        except KeyboardInterrupt:
            stopping.set()
            for process in running:
                terminate(process)
            finished = [future.result() for future in futures]
        finally:
            held.release(deliver=False)
    ended = iter(finished)
    return [crawl if isinstance(crawl, CrawlResult) else next(ended) for crawl in crawls]


def start_crawls(
    jobs: list[CrawlJob], stopping: threading.Event
) -> list[StartedCrawl | CrawlResult]:
    """Start every job, forked from one import of Scrapy when no other thread runs."""
    launch: Launch = Prefork() if forking_is_safe() else spawn
    return [start_or_fail(job, launch, stopping) for job in jobs]


def start_or_fail(
    job: CrawlJob, launch: Launch, stopping: threading.Event | None = None
) -> StartedCrawl | CrawlResult:
    """``start_crawl``, except that a job that cannot start (no memory or process slot for a
    fork, say) fails alone: the crawls started before it are still waited for."""
    try:
        return start_crawl(job, launch, stopping)
    except Exception as exc:
        logger.error("cannot start the crawl of %s: %s", job.source, exc)
        return CrawlResult(job.source, "failed", f"cannot start: {exc}", {}, 0.0)


class HeldSignals:
    """SIGINT and SIGTERM recorded, not handled, until ``release``: a stop cannot then fall
    between a fork and its bookkeeping and leave a crawl nobody waits for. A stop that comes
    sets ``stopping``, so the jobs not started yet are skipped. Only the main thread can
    hold signals; elsewhere this does nothing (and no KeyboardInterrupt can arrive there)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, stopping: threading.Event):
        self.stopping = stopping
        self.held: list[int] = []
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self.previous = {signum: signal.signal(signum, self._hold) for signum in self.SIGNALS}

    def _hold(self, signum: int, frame: Any) -> None:
        self.held.append(signum)
        self.stopping.set()

    def release(self, *, deliver: bool = True) -> None:
        """Give the signals back to their handlers and, with ``deliver``, raise those held."""
        previous, self.previous = self.previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if deliver and previous:
            for signum in self.held:
                signal.raise_signal(signum)


def wait(process: CrawlProcess, timeout: float | None) -> tuple[bytes, bool]:
    """Wait for ``process``; past ``timeout`` send SIGTERM (Scrapy then closes the spider and
    flushes its pipelines), and SIGKILL if it is still there after a grace period."""
    try:
        _, stderr = process.communicate(timeout=timeout)
        return stderr or b"", False
    except subprocess.TimeoutExpired:
        terminate(process)
        _, stderr = process.communicate()
        return stderr or b"", True


def terminate(process: CrawlProcess, grace: float = KILL_GRACE_SECONDS) -> None:
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


def _if_alive(process: CrawlProcess, action: Callable[[], None]) -> None:
    if process.poll() is None:
        action()

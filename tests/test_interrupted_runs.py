"""A run stopped by the operator (Ctrl-C, SIGTERM to the daemon or to the crawl, kill -9) is
recorded one way, ``interrupted``, however early or late the stop catches it, and counts
neither as a failure nor as a success."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.database import open_database
from pipelines.runs import INTERRUPTED, run_status
from scheduler.crawl import CrawlJob, run_crawl, terminate
from scheduler.run_record import Ending
from scheduler.status import history
from tests.conftest import FAST
from tests.siteserver import Site, load_manifest

RACES = 10


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def _log_started(job: CrawlJob) -> bool:
    assert job.log_dir is not None
    return any(log.stat().st_size for log in job.log_dir.glob(f"*{job.run_id[:8]}.log"))


def test_sigterm_racing_a_crawl_start_is_recorded_interrupted_every_time(tmp_path: Path) -> None:
    """The daemon's shutdown path, repeated: the stop lands at a random moment of the crawl's
    start (before Python runs, while Scrapy loads, as the spider opens)."""
    db_path = tmp_path / "news.db"
    open_database(db_path).close()
    # Every request takes a while: the crawl outlasts each stop, and stops quickly.
    slow = Site("www.rferl.org", load_manifest("www.rferl.org"), lambda path: time.sleep(0.5))
    slow.start()
    settings = {name: value for name, value in (s.split("=") for s in FAST[1::2])}
    rng = random.Random(15)
    results = []
    try:
        for i in range(RACES):
            job = CrawlJob(
                "rferl",
                db_path,
                settings=settings,
                origin_map={"https://www.rferl.org": slow.origin},
                log_dir=tmp_path / "logs",
            )
            # Two moments: any time during start-up, or as Scrapy starts logging (its signal
            # handlers are being installed). A stop once the spider is open is
            # test_sigterm_mid_crawl_stops_the_daemon_cleanly_with_a_consistent_database.
            delay = rng.uniform(0.0, 1.0)
            moment = [
                lambda delay=delay: time.sleep(delay),
                lambda job=job: wait_for(lambda: _log_started(job)),
            ][i % 2]
            stopping = threading.Event()

            def stop_at(process, stopping=stopping, moment=moment) -> None:
                def stop() -> None:
                    moment()
                    stopping.set()  # what Daemon.stop does, in the same order
                    terminate(process, grace=20)

                threading.Thread(target=stop, daemon=True).start()

            results.append(run_crawl(job, on_start=stop_at, stopping=stopping))
    finally:
        slow.stop()
    assert [r.status for r in results] == [INTERRUPTED] * RACES, [r.reason for r in results]
    db = open_database(db_path)
    rows = list(db.query("select status, reason from crawl_runs"))
    assert len(rows) == RACES
    assert {row["status"] for row in rows} == {INTERRUPTED}
    assert not any("exited with code" in row["reason"] for row in rows)
    assert history(db, "rferl").failures_in_a_row == 0
    print(f"\n{RACES} stops at random points of a crawl's start: ", end="")
    print(Counter(row["reason"] for row in rows))


@pytest.mark.parametrize(
    ("ending", "status"),
    [
        (Ending(-signal.SIGTERM, b""), INTERRUPTED),  # killed before Scrapy's handlers
        (Ending(-signal.SIGINT, b""), INTERRUPTED),
        (Ending(-signal.SIGKILL, b""), INTERRUPTED),
        (Ending(0, b"", stopped=True), INTERRUPTED),  # Scrapy stopped before its spider
        (Ending(-signal.SIGKILL, b"", timed_out=True), "failed"),  # our own time limit
        (Ending(1, b"ValueError: bad"), "failed"),
        (Ending(-signal.SIGSEGV, b""), "failed"),
    ],
    ids=["sigterm", "sigint", "sigkill", "stopped", "timeout", "error", "segfault"],
)
def test_a_crawl_that_never_recorded_its_end_is_interrupted_only_when_stopped(
    ending: Ending, status: str
) -> None:
    assert ending.fallback(None)[0] == status


def test_a_scrapy_shutdown_is_interrupted_even_with_nothing_fetched() -> None:
    assert run_status({}, "shutdown")[0] == INTERRUPTED
    assert run_status({"newsmon/blocked": 1}, "shutdown")[0] == INTERRUPTED


def _runs(db_path: Path, statuses: list[str]) -> None:
    db = open_database(db_path)
    start = datetime(2099, 1, 1, tzinfo=UTC)
    for i, status in enumerate(statuses):
        moment = (start + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        db.table("crawl_runs").insert(
            {"source": "rferl", "status": status, "started": moment, "finished": moment}
        )
    db.close()


@pytest.mark.parametrize(
    ("statuses", "failures"),
    [
        (["failed", INTERRUPTED, "failed"], 2),  # an interruption does not end a streak
        (["failed", "failed", INTERRUPTED], 2),  # nor does it add to one
        (["ok", INTERRUPTED, INTERRUPTED], 0),  # nor does it start one
    ],
)
def test_interrupted_runs_count_neither_as_failure_nor_success(
    tmp_path: Path, statuses: list[str], failures: int
) -> None:
    _runs(tmp_path / "news.db", statuses)
    assert history(open_database(tmp_path / "news.db"), "rferl").failures_in_a_row == failures

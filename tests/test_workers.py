"""The extraction worker pool: a hung or killed worker fails one call only, workers start only
when there is work, and they die with the process that started them, whatever kills it."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from pipelines.workers import WorkerDied, WorkerPool, WorkerTimedOut
from scheduler.crawl import CrawlJob, run_crawl, terminate
from tests import workload
from tests.conftest import FAST, ROOT, open_db, run_newsmon
from tests.siteserver import Route, Site
from tests.test_faults import article
from tests.workload import clock, die, fail, spin, square


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def live_processes(marker: str) -> list[int]:
    """Pids of the running (not zombie) processes whose environment holds ``marker``: a
    crawl's workers inherit its environment, wherever they were reparented to."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() not in (proc / "environ").read_bytes():
                continue
            state = process_state(int(proc.name))
        except OSError:  # gone meanwhile, or not ours
            continue
        if state != "Z":
            found.append(int(proc.name))
    return found


def wait_until_gone(marker: str, seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := live_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def test_a_call_past_the_time_limit_kills_its_worker_alone_and_the_pool_goes_on():
    async def scenario() -> None:
        pool = WorkerPool(2, timeout=1.0, preload=[workload.__name__])
        try:
            assert await asyncio.gather(pool.run(square, 2), pool.run(square, 3)) == [4, 9]
            started = time.monotonic()
            hung, quick = await asyncio.gather(
                pool.run(spin, 60), pool.run(square, 4), return_exceptions=True
            )
            assert isinstance(hung, WorkerTimedOut)
            assert quick == 16
            assert time.monotonic() - started < 10  # the limit, not the 60 s of the call
            assert len(pool.pids) == 1  # the hung worker is gone, not kept busy
            assert await pool.run(square, 5) == 25
        finally:
            pool.close()

    asyncio.run(scenario())


def test_a_waiting_call_gets_the_worker_before_its_last_caller_goes_on_without_yielding():
    # The crawl stores a page right after its extraction returns, without yielding to the
    # event loop for tens of milliseconds: the next page must not wait for that.
    async def extract_then_store(pool: WorkerPool) -> tuple[float, float]:
        await pool.run(square, 2)
        storing = time.time()
        time.sleep(0.5)  # synchronous, as the store's SQLite writes are
        return storing, time.time()

    async def scenario() -> None:
        pool = WorkerPool(1, timeout=30, preload=[workload.__name__])
        try:
            await pool.run(square, 1)  # started and idle
            (storing, stored), next_ran = await asyncio.gather(
                extract_then_store(pool), pool.run(clock)
            )
            assert storing - 0.1 <= next_ran < stored
        finally:
            pool.close()

    asyncio.run(scenario())


def test_a_killed_worker_fails_its_call_only_and_is_replaced():
    async def scenario() -> None:
        pool = WorkerPool(1, timeout=30, preload=[workload.__name__])
        try:
            assert await pool.run(square, 2) == 4
            with pytest.raises(WorkerDied, match="killed by SIGKILL"):
                await pool.run(die)
            # No BrokenProcessPool: every later call works.
            assert [await pool.run(square, i) for i in range(5)] == [0, 1, 4, 9, 16]
            assert pool.started == 2
            idle = pool.pids[0]
            os.kill(idle, signal.SIGKILL)  # killed while idle: the next call is fine
            while process_state(idle) != "Z":
                await asyncio.sleep(0.05)
            assert await pool.run(square, 7) == 49
            assert pool.started == 3
        finally:
            pool.close()

    asyncio.run(scenario())


def test_an_exception_in_the_call_is_raised_to_the_caller_and_keeps_the_worker():
    async def scenario() -> None:
        pool = WorkerPool(1, timeout=30, preload=[workload.__name__])
        try:
            with pytest.raises(ValueError, match="bad page"):
                await pool.run(fail)
            assert await pool.run(square, 6) == 36
            assert pool.started == 1
        finally:
            pool.close()

    asyncio.run(scenario())


def test_no_worker_starts_until_there_is_work_and_only_as_many_as_are_busy():
    async def scenario() -> None:
        pool = WorkerPool(4, timeout=30, preload=[workload.__name__])
        try:
            assert pool.started == 0 and pool.pids == []
            for i in range(10):  # one at a time: one worker does it all
                assert await pool.run(square, i) == i * i
            assert pool.started == 1
        finally:
            pool.close()
        assert pool.pids == []

    asyncio.run(scenario())


# A process that starts a pool, leaves one worker stuck in a call and one idle, and waits to
# be killed: the crawl, as far as its workers can tell.
PARENT = """
import asyncio
from scheduler.crawl import CrawlJob, run_crawl, terminate
from pipelines.workers import WorkerPool
from tests.workload import spin, square

async def main():
    pool = WorkerPool(2, timeout=600, preload=["tests.workload"])
    await asyncio.gather(pool.run(square, 1), pool.run(square, 2))
    asyncio.ensure_future(pool.run(spin, 600))
    await asyncio.sleep(0.5)
    print(*pool.pids, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_busy_and_idle_workers_die_with_a_parent_killed_by_sigkill_every_time():
    marker = f"NEWSMON_TEST_MARK={uuid.uuid4().hex}"
    name, value = marker.split("=")
    counts = []
    for _ in range(3):
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT],
            cwd=ROOT,
            env={**os.environ, name: value},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert parent.stdout is not None
        assert len(parent.stdout.readline().split()) == 2
        before = len(live_processes(marker))
        parent.kill()
        parent.wait()
        counts.append((before, len(wait_until_gone(marker))))
    print(f"\nprocesses before and after each kill -9 of the parent: {counts}")
    assert counts == [(3, 0)] * 3  # the parent and its two workers, then none


SLOW_HOST = "slow.newsmon.test"
SLOW_SOURCES = f"""
[[source]]
name = "slow"
publisher = "worker-pool test fixtures"
domains = ["{SLOW_HOST}"]
article_patterns = ['^https://slow\\.newsmon\\.test/story/\\w+$']
discovery = [{{ kind = "sitemap", url = "https://{SLOW_HOST}/sitemap.xml" }}]
"""
STORIES = 4


def slow_site(handler: Callable[[str], None] | None = None) -> Site:
    """Four ordinary stories and one page so long (40,000 paragraphs, about 16 s of
    Trafilatura on an idle core) that its extraction outlasts any sane time limit."""
    names = [*map(str, range(STORIES)), "endless"]
    urls = "".join(f"<url><loc>https://{SLOW_HOST}/story/{n}</loc></url>" for n in names)
    routes = {
        "/sitemap.xml": Route(body=f"<urlset>{urls}</urlset>".encode(), content_type="text/xml")
    }
    for i in range(STORIES):
        routes[f"/story/{i}"] = Route(body=article(f"Story {i}", case=f"pool {i}").encode())
    endless = [f"Paragraph {i} of a page that never ends, about Tripoli." for i in range(40_000)]
    routes["/story/endless"] = Route(body=article("Endless", paragraphs=endless).encode())
    return Site(SLOW_HOST, routes, handler).start()


def test_a_page_whose_extraction_hangs_fails_alone_without_delaying_the_run(tmp_path, monkeypatch):
    sources = tmp_path / "sources.toml"
    sources.write_text(SLOW_SOURCES)
    monkeypatch.setenv("NEWSMON_SOURCES", str(sources))  # also marks the crawl's processes
    db_path = tmp_path / "news.db"
    site = slow_site()
    try:
        for _ in range(2):
            result = run_newsmon(
                "crawl",
                "slow",
                "--db",
                str(db_path),
                *FAST,
                "-s",
                "NEWSMON_EXTRACT_TIMEOUT=3",
                "-s",
                "NEWSMON_RELEVANCE_FILTER=false",
                "--origin-map",
                f"https://{SLOW_HOST}={site.origin}",
            )
            assert result.returncode == 0, result.stderr
            assert wait_until_gone(str(sources), 5) == []  # no worker outlives its crawl
    finally:
        site.stop()
    db = open_db(db_path)
    assert db.execute("select count(*) from articles").fetchone()[0] == STORIES
    endless = db["seen_urls"].get(f"https://{SLOW_HOST}/story/endless")
    assert endless["outcome"] == "extract_failed"
    assert "took longer than 3 s" in endless["reason"]
    assert endless["attempts"] == 2  # tried again next run, up to NO_TEXT_ATTEMPTS runs
    assert site.requests.count("/story/endless") == 2
    first, second = db.query("select * from crawl_runs order by id")
    assert (first["status"], first["stored"], first["errors"]) == ("partial", STORIES, 1)
    assert "took longer than 3 s" in first["reason"]
    for run in (first, second):
        # The worker is killed at the limit: the spider closes at once, where waiting for the
        # extraction to end would take 13 s more at the least.
        timed_out, closed = log_times(Path(run["log_path"]), "took longer than", "Spider closed")
        assert (closed - timed_out).total_seconds() <= 5


def log_times(log: Path, *needles: str) -> list[datetime]:
    """When each needle first appears in a Scrapy log."""
    lines = log.read_text().splitlines()
    return [
        datetime.strptime(next(line for line in lines if needle in line)[:19], "%Y-%m-%d %H:%M:%S")
        for needle in needles
    ]


def test_a_crawl_stopped_the_daemons_way_mid_extraction_leaves_no_worker(tmp_path, monkeypatch):
    """The daemon's path for a crawl past its time limit (``terminate``: SIGTERM, a forced
    SIGTERM, then SIGKILL) while a worker is deep in a page: its workers end with it."""
    sources = tmp_path / "sources.toml"
    sources.write_text(SLOW_SOURCES)
    monkeypatch.setenv("NEWSMON_SOURCES", str(sources))
    db_path = tmp_path / "news.db"

    def endless_last(path: str) -> None:
        # The endless page is answered once the stories are stored: one worker takes the
        # pages in the order they arrive, and a story behind it would wait its 16 s out.
        deadline = time.monotonic() + 25  # within the crawl's 30 s download timeout
        while path == "/story/endless" and stored(db_path) < STORIES:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)

    site = slow_site(endless_last)
    job = CrawlJob(
        "slow",
        db_path,
        settings={
            **dict(pair.split("=", 1) for pair in FAST[1::2]),
            "NEWSMON_EXTRACT_TIMEOUT": "600",
            "NEWSMON_RELEVANCE_FILTER": "false",
        },
        origin_map={f"https://{SLOW_HOST}": site.origin},
    )
    started: list[subprocess.Popen[bytes]] = []
    try:
        with ThreadPoolExecutor(1) as pool:
            crawl = pool.submit(run_crawl, job, on_start=started.append)
            # Stopped once the stories are stored and the endless page is being extracted.
            deadline = time.monotonic() + 120
            while stored(db_path) < STORIES and time.monotonic() < deadline:
                time.sleep(0.2)
            while "/story/endless" not in site.requests and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)  # downloaded and handed to the worker, which is 15 s from done
            running = live_processes(str(sources))
            terminate(started[0], grace=3)
            result = crawl.result()
    finally:
        site.stop()
    assert len(running) >= 2  # the crawl and its worker(s)
    # Stopped by the operator (the daemon), not failed: the run is interrupted.
    assert stored(db_path) == STORIES and result.status == "interrupted"
    assert wait_until_gone(str(sources), 5) == []


def stored(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    try:
        return int(open_db(db_path).execute("select count(*) from articles").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0

"""kill -9 at random points of a 200-page crawl, ten times, each followed by a rerun: the
archive stays intact and ends up with exactly the 200 articles, each once with its own text,
and no process of a killed crawl (its extraction workers) outlives it.

The pages are synthetic (a small article template, each text its own).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FAST, ROOT, open_db, run_newsmon
from tests.siteserver import Route, Site
from tests.test_faults import article
from tests.test_workers import live_processes, wait_until_gone

PAGES = 200
KILLS = 10
HOST = "crash.newsmon.test"
SOURCES = f"""
[[source]]
name = "crash"
publisher = "crash-test fixtures"
domains = ["{HOST}"]
article_patterns = ['^https://crash\\.newsmon\\.test/story/\\d+$']
discovery = [{{ kind = "sitemap", url = "https://{HOST}/sitemap.xml" }}]
"""
FLAGS = [*FAST, "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=2", "-s", "NEWSMON_RELEVANCE_FILTER=false"]


def crash_site() -> Site:
    urls = "".join(f"<url><loc>https://{HOST}/story/{i}</loc></url>" for i in range(PAGES))
    routes = {
        "/sitemap.xml": Route(
            body=f"<urlset>{urls}</urlset>".encode(), content_type="application/xml"
        )
    }
    for i in range(PAGES):
        page = article(f"Story {i} from Tripoli", case=f"crash story number {i}")
        routes[f"/story/{i}"] = Route(body=page.encode())
    site = Site(HOST, routes, lambda path: slow_story(site, path))
    site.delay = 0.0  # type: ignore[attr-defined]
    return site.start()


def slow_story(site: Site, path: str) -> None:
    if path.startswith("/story/"):
        time.sleep(site.delay)  # type: ignore[attr-defined]


def articles(db_path: Path) -> set[tuple[str, str]]:
    if not db_path.exists() or "articles" not in open_db(db_path).table_names():
        return set()
    return {
        (r["url"], r["content_hash"])
        for r in open_db(db_path).query("select url, content_hash from articles")
    }


def run_count(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as db:
        try:
            return db.execute("select count(*) from crawl_runs").fetchone()[0]
        except sqlite3.OperationalError:  # the tables are being created
            return 0


def wait_for_run(db_path: Path, runs_before: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while run_count(db_path) <= runs_before:
        assert time.monotonic() < deadline, "the crawl never opened its spider"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def site():
    running = crash_site()
    yield running
    running.stop()


def wait_for_workers(marker: str, seconds: float = 60) -> None:
    """Until the crawl's extraction workers are up (besides the CLI and the crawl)."""
    deadline = time.monotonic() + seconds
    while len(live_processes(marker)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)


def crawl_command(db_path: Path, site: Site) -> list[str]:
    return [
        sys.executable,
        "-m",
        "scheduler",
        "crawl",
        "crash",
        "--db",
        str(db_path),
        *FLAGS,
        "--origin-map",
        f"https://{HOST}={site.origin}",
    ]


def test_kill_9_at_random_points_loses_and_duplicates_nothing(
    site: Site, tmp_path: Path, monkeypatch
) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES)
    monkeypatch.setenv("NEWSMON_SOURCES", str(sources))
    site.delay = 0.12  # type: ignore[attr-defined]  # so each kill lands mid-crawl
    db_path = tmp_path / "crashed.db"
    lock = db_path.with_name("crashed.db.locks") / "crash.lock"
    rng = random.Random(20261128)
    stored_when_killed = []
    processes = []  # (processes of the crawl just before the kill, left 5 s after it)
    for kill in range(KILLS):
        runs_before = run_count(db_path)
        cli = subprocess.Popen(
            crawl_command(db_path, site),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Mid-crawl whatever the machine's load: once this run's spider is open (its row is
        # written), and every other kill while the crawl's workers extract, at a random point.
        wait_for_run(db_path, runs_before)
        if kill % 2:
            wait_for_workers(str(sources))
            # Soon after: the later runs have only the pages the earlier ones did not store,
            # and a longer wait could outlast the crawl.
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            time.sleep(rng.uniform(0.0, 1.5))
        crawl_pid = int(lock.read_text()) if lock.exists() and lock.read_text().strip() else None
        running = live_processes(str(sources))  # the crawl's environment names this file
        os.kill(cli.pid, signal.SIGKILL)
        if crawl_pid and crawl_pid != cli.pid:
            with contextlib.suppress(ProcessLookupError):  # it may have finished
                os.kill(crawl_pid, signal.SIGKILL)
        cli.wait()
        processes.append((len(running), len(wait_until_gone(str(sources), 5))))
        time.sleep(0.3)  # the kernel releases the crawl's lock as it exits
        stored_when_killed.append(len(articles(db_path)))
    assert [left for _, left in processes] == [0] * KILLS, processes
    assert min(running for running, _ in processes[1::2]) >= 3  # CLI, crawl, worker(s)
    final = run_newsmon(*crawl_command(db_path, site)[3:], timeout=300)
    assert final.returncode == 0, final.stderr

    db = open_db(db_path)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    db.execute("insert into articles_fts(articles_fts) values('integrity-check')")
    # Nothing lost, nothing extra: every story once, under its own URL, with its own text
    # (each page's last paragraph names its number; a clean run stores exactly this).
    stored = {row["url"]: row for row in db.query("select url, title, text from articles")}
    assert set(stored) == {f"https://{HOST}/story/{i}" for i in range(PAGES)}
    for url, row in stored.items():
        i = url.rsplit("/", 1)[1]
        assert row["title"] == f"Story {i} from Tripoli", url
        assert row["text"].endswith(f"This report is fault case crash story number {i}."), url
    keys = db.execute(
        "select count(*), count(distinct url_key), count(distinct content_hash) from articles"
    ).fetchone()
    assert keys == (PAGES, PAGES, PAGES)
    assert db.execute("select count(*) from pages").fetchone()[0] == PAGES
    # Every article got its story in the transaction that stored it, and the stories add up.
    assert db.execute("select count(*) from articles where story_id is null").fetchone()[0] == 0
    assert db.execute("select sum(articles) from stories").fetchone()[0] == PAGES
    interrupted = db.execute(
        "select count(*) from crawl_runs where status = 'interrupted'"
    ).fetchone()[0]
    assert interrupted >= 1
    print(
        f"\ncrash test: {KILLS} kill -9s; stored after each: {stored_when_killed}; "
        f"{interrupted} runs marked interrupted; final {len(stored)} articles, "
        f"integrity ok; processes before and after each kill: {processes}"
    )

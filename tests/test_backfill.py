"""`newsmon backfill` over RFE/RL's real archive sitemaps (index + chunks 6 and 10, captured
2025-05), served at their real paths; the article pages of the April 2012 Libya slugs are
synthetic. The other chunks of the real index are not captured and answer 404 here.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.backfill import BackfillPlan, WindowError, parse_window_date, url_date
from crawler.discovery import Link
from crawler.sources import load_sources
from pipelines.database import open_database
from scheduler.backfill import ProgressView, cut_short
from scheduler.cli import cli
from scheduler.run_record import CrawlResult
from scheduler.status import history, source_status
from tests.conftest import FAST, ROOT, open_db, run_newsmon
from tests.siteserver import FIXTURES, Site, load_manifest

CHUNKS = FIXTURES / "real/rferl/sitemaps"
# The Libya slugs of April 2012 in chunk 6 (lastmod 2012-04-05 .. 2012-04-20); chunk 10 has
# no slugs at all. The Ukrainian story names Libya once, in passing: fetched, judged irrelevant.
APRIL_2012_LIBYA = {
    "/a/icc_says_libya_evidence_qaddafi_son_hired_mercenaries/24554427.html",
    "/a/icc_prosecutor_in_libya/24552510.html",
    "/a/libya_son_/24541714.html",
    "/a/ukrainians_libya/24538693.html",
}
UKRAINIAN = "/a/ukrainians_libya/24538693.html"
NUMBERED_CHUNK = "/sitemap_8_"


# While its gate is closed the archive answers this many article pages at once and holds the
# rest: one is the Ukrainian story, so at least one article is stored before anything waits.
ANSWERED_AT_ONCE = 2


@pytest.fixture
def archive() -> Iterator[Site]:
    routes = {**load_manifest("www.rferl.org"), **load_manifest("www.rferl.org", "archive.json")}
    site = Site("www.rferl.org", routes).start()
    site.gate = threading.Event()  # type: ignore[attr-defined]
    site.gate.set()  # type: ignore[attr-defined]
    site.articles_asked = itertools.count(1)  # type: ignore[attr-defined]

    def held_articles(path: str) -> None:
        if path.startswith("/a/") and next(site.articles_asked) > ANSWERED_AT_ONCE:  # type: ignore[attr-defined]
            site.gate.wait(timeout=120)  # type: ignore[attr-defined]

    site.handler = held_articles
    try:
        yield site
    finally:
        site.gate.set()  # type: ignore[attr-defined]
        site.stop()


def hold_articles(site: Site) -> None:
    """Close the archive's gate: from now on, article pages past the first few wait for it."""
    site.articles_asked = itertools.count(1)  # type: ignore[attr-defined]
    site.gate.clear()  # type: ignore[attr-defined]


def backfill_args(site: Site, db: Path, *args: str) -> list[str]:
    return ["backfill", "rferl", "--db", str(db), *FAST, "--origin-map",
            f"{site.public_origin}={site.origin}", *args]  # fmt: skip


def backfill(site: Site, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_newsmon(*backfill_args(site, db, *args), timeout=300)


def article_requests(site: Site, since: int = 0) -> list[str]:
    return [path for path in site.requests[since:] if path.startswith("/a/")]


def window_urls(chunk: str, year: str) -> set[str]:
    """Paths of a real chunk's entries whose lastmod is in ``year``: the test's own oracle."""
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    root = ET.fromstring(gzip.decompress((CHUNKS / chunk).read_bytes()))
    return {
        url.findtext(f"{ns}loc", "").removeprefix("https://www.rferl.org")
        for url in root
        if url.findtext(f"{ns}lastmod", "").startswith(year)
    }


def stored(db: Path) -> set[tuple[str, str, str, str]]:
    rows = open_db(db).query("select url, title, text, published from articles")
    return {(r["url"], r["title"], r["text"], r["published"]) for r in rows}


# --- choosing what to fetch ---------------------------------------------------------------


def test_a_window_after_the_chunks_last_modification_downloads_no_archive_chunk(archive, tmp_path):
    result = backfill(archive, tmp_path / "n.db", "--since", "2025-05-01")
    assert result.returncode == 0, result.stderr
    assert "/sitemap.xml" in archive.requests
    # Every sitemap_8_N chunk was last modified 2025-04-20 (index lastmod): none is read.
    assert not [p for p in archive.requests if p.startswith(NUMBERED_CHUNK) and p[11].isdigit()]
    assert article_requests(archive) == []


def test_slug_filter_fetches_only_the_libya_slugs_of_the_window_and_a_rerun_fetches_nothing(
    archive, tmp_path
):
    db = tmp_path / "n.db"
    result = backfill(archive, db, "--since", "2012-04-01", "--until", "2012-04-30")
    assert result.returncode == 0, result.stderr
    assert "/sitemap_8_6.xml.gz" in archive.requests
    assert "/sitemap_8_10.xml.gz" in archive.requests
    assert set(article_requests(archive)) == APRIL_2012_LIBYA
    assert len(article_requests(archive)) == len(APRIL_2012_LIBYA)
    # Not a terminal: progress comes as lines, the last one the run's totals.
    assert "rferl: 4/4 URLs done, 3 stored, 0 already in the archive" in result.stderr

    titles = {r["url"].rsplit("/", 1)[-1]: r for r in open_db(db).query("select * from articles")}
    assert set(titles) == {"24554427.html", "24552510.html", "24541714.html"}
    assert {r["discovered_via"] for r in titles.values()} == {"archive_index"}
    assert titles["24541714.html"]["published"] == "2012-04-09T04:22:00Z"
    outcomes = dict(open_db(db).execute("select outcome, count(*) from seen_urls group by 1"))
    assert outcomes == {"stored": 3, "irrelevant": 1}
    run = next(open_db(db).query("select * from crawl_runs"))
    assert run["kind"] == "backfill" and run["stored"] == 3 and run["irrelevant"] == 1

    before = len(archive.requests)
    again = backfill(archive, db, "--since", "2012-04-01", "--until", "2012-04-30")
    assert again.returncode == 0, again.stderr
    assert article_requests(archive, before) == []
    assert len(stored(db)) == 3

    # A backfill is not a live run: status still says the source was never crawled.
    database = open_database(db)
    assert history(database, "rferl").last_started is None
    [rferl] = [s for s in source_status(database, load_sources()) if s.source == "rferl"]
    assert "never crawled" in rferl.problems


def test_all_urls_fetches_every_url_of_the_window(archive, tmp_path):
    result = backfill(
        archive, tmp_path / "n.db", "--since", "2014", "--until", "2014", "--all-urls"
    )
    assert result.returncode == 0, result.stderr
    expected = window_urls("rferl_sitemap_8_6_2025-05.xml.gz", "2014") | window_urls(
        "rferl_sitemap_8_10_2025-05.xml.gz", "2014"
    )
    assert len(expected) == 7  # six from chunk 6, one slug-less from chunk 10
    assert sorted(article_requests(archive)) == sorted(expected)


def test_max_pages_caps_the_fetches_and_a_rerun_fetches_the_next_ones(archive, tmp_path):
    db = tmp_path / "n.db"
    window = ("--since", "2012-04", "--until", "2012-04")
    first = backfill(archive, db, *window, "--max-pages", "2")
    assert first.returncode == 0, first.stderr
    assert len(article_requests(archive)) == 2
    before = len(archive.requests)
    backfill(archive, db, *window)
    fetched_again = set(article_requests(archive, before))
    assert fetched_again == APRIL_2012_LIBYA - set(article_requests(archive)[:2])


def test_a_live_crawl_reads_no_archive_and_a_backfill_skips_what_it_stored(archive, tmp_path):
    db = tmp_path / "n.db"
    origin = f"{archive.public_origin}={archive.origin}"
    live = run_newsmon("crawl", "rferl", "--db", str(db), *FAST, "--origin-map", origin)
    assert live.returncode in (0, 1), live.stderr
    assert "/sitemap.xml" not in archive.requests
    live_fetched = set(article_requests(archive))
    assert "/a/un-security-council-libya-russia-foreign-fighters/31003211.html" in live_fetched

    before = len(archive.requests)
    # The (undated in the index) latest sitemap lists the live crawl's December 2020 stories.
    result = backfill(archive, db, "--since", "2020-12", "--until", "2020-12")
    assert result.returncode == 0, result.stderr
    assert "/sitemap_8_latest.xml.gz" in archive.requests[before:]
    assert not set(article_requests(archive, before)) & live_fetched
    kinds = [r["kind"] for r in open_db(db).query("select kind from crawl_runs order by id")]
    assert kinds == ["crawl", "backfill"]


# --- long runs: stopping and resuming -------------------------------------------------------


def start_backfill(site: Site, db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", *backfill_args(site, db, *args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_stored(db: Path, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if open_db(db).execute("select count(*) from articles").fetchone()[0] >= count:
                return
        time.sleep(0.2)
    raise AssertionError(f"{count} article(s) not stored in {timeout} s")


APRIL = ("--since", "2012-04", "--until", "2012-04")


def wait_for_log(db: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    logs = db.with_name(db.name + ".logs")
    while time.monotonic() < deadline:
        if any(text in log.read_text(errors="replace") for log in logs.glob("*.log")):
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged in {timeout} s")


def test_sigterm_stops_a_backfill_cleanly_and_a_rerun_fetches_only_the_rest(archive, tmp_path):
    db = tmp_path / "n.db"
    hold_articles(archive)
    # One request at a time: a page handed to the downloader is fetched even after a SIGTERM,
    # so with one in flight, the fourth page is still to fetch when the crawl stops.
    process = start_backfill(archive, db, *APRIL, "-s", "CONCURRENT_REQUESTS=1")
    wait_for_stored(db, 1)
    crawl_pid = int((db.with_name(db.name + ".locks") / "rferl.lock").read_text())
    # Forked from the CLI's import of Scrapy (scheduler/prefork.py), not exec'd anew.
    assert Path(f"/proc/{crawl_pid}/comm").read_text().strip() == "crawl rferl"
    process.send_signal(signal.SIGTERM)
    wait_for_log(db, "shutting down gracefully")
    archive.gate.set()  # type: ignore[attr-defined]  # the page in flight is answered
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    assert "Stopped by SIGTERM; rerun to resume." in stderr
    assert "Traceback" not in stderr
    run = next(open_db(db).query("select * from crawl_runs"))
    assert (run["kind"], run["status"]) == ("backfill", "interrupted"), dict(run)
    done = set(article_requests(archive))
    assert len(done) == ANSWERED_AT_ONCE + 1
    assert len(stored(db)) == len(done - {UKRAINIAN})  # the page in flight was stored too

    before = len(archive.requests)
    result = backfill(archive, db, *APRIL)
    assert result.returncode == 0, result.stderr
    assert set(article_requests(archive, before)) == APRIL_2012_LIBYA - done
    assert len(stored(db)) == 3


def test_a_stop_that_came_as_the_backfill_ended_leaves_nothing_to_resume() -> None:
    def ran(status: str) -> CrawlResult:
        return CrawlResult("rferl", status, "", {}, 1.0)

    assert cut_short([ran("interrupted")], 1)
    assert cut_short([ran("partial")], 2)  # the second source never ran
    assert not cut_short([ran("partial")], 1)  # it had ended on its own: "rerun" would lie
    assert not cut_short([ran("ok"), ran("failed")], 2)


def test_a_backfill_killed_mid_run_then_rerun_ends_with_the_archive_of_a_clean_run(
    archive, tmp_path
):
    clean = tmp_path / "clean.db"
    assert backfill(archive, clean, *APRIL).returncode == 0

    db = tmp_path / "killed.db"
    hold_articles(archive)
    process = start_backfill(archive, db, *APRIL)
    wait_for_stored(db, 1)
    lock = db.with_name(db.name + ".locks") / "rferl.lock"
    crawl_pid = int(lock.read_text().strip())
    for pid in (crawl_pid, process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.communicate(timeout=60)

    archive.gate.set()  # type: ignore[attr-defined]
    result = backfill(archive, db, *APRIL)
    assert result.returncode == 0, result.stderr
    assert stored(db) == stored(clean)
    statuses = [r["status"] for r in open_db(db).query("select status from crawl_runs order by id")]
    assert statuses[0] == "interrupted" and statuses[-1] == "partial"  # then 404 chunks


# --- bad input -------------------------------------------------------------------------------


NO_ARCHIVE = """
[[source]]
name = "plain"
publisher = "a source without an archive"
domains = ["plain.example"]
article_patterns = ['^https://plain\\.example/\\d+$']
discovery = [{ kind = "rss", url = "https://plain.example/feed" }]
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rferl", "--since", "2021-01-01", "--until", "2020-12-31"], "is after --until"),
        (["rferl", "--since", "last tuesday"], "is not a date"),
        (["rferl", "--since", "2020-02-30"], "is not a date"),
        (["rferl", "--since", "2020", "--until", "2020-13"], "is not a date"),
        (["plain", "--since", "2020"], "declares no archive"),
        (["nosuch", "--since", "2020"], "unknown source"),
        (["rferl", "--since", "2020", "--max-pages", "0"], "--max-pages"),
        (["rferl", "--since", "2020", "-s", "NEWSMON_BACKFILL_SLUG_TERMS=liby(a"], "invalid regex"),
    ],
)
def test_bad_backfill_arguments_get_one_line_and_exit_2(args, message, tmp_path):
    sources = tmp_path / "sources.toml"
    sources.write_text((ROOT / "crawler/sources.toml").read_text() + NO_ARCHIVE)
    # In-process (the installed command's usage errors are tested in tests/test_cli.py).
    result = CliRunner().invoke(
        cli,
        ["backfill", *args, "--db", str(tmp_path / "n.db")],
        env={"NEWSMON_SOURCES": str(sources)},
    )
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    (line,) = result.stderr.splitlines()
    assert message in line
    assert not (tmp_path / "n.db").exists()


# --- the selection rules, unit by unit ---------------------------------------------------------


def test_window_dates_take_whole_years_and_months():
    assert parse_window_date("2020") == datetime(2020, 1, 1, tzinfo=UTC)
    assert parse_window_date("2020", end=True) == datetime(2021, 1, 1, tzinfo=UTC)
    assert parse_window_date("2020-12", end=True) == datetime(2021, 1, 1, tzinfo=UTC)
    assert parse_window_date("2020-02-29", end=True) == datetime(2020, 3, 1, tzinfo=UTC)
    for wrong in ("2020-1-5", "2020-00", "2020-01-00", "20-01-01"):
        with pytest.raises(WindowError):
            parse_window_date(wrong)


def test_the_date_in_a_url_is_read_only_where_it_is_a_date():
    assert url_date("https://www.france24.com/en/africa/20200105-libya-haftar") == datetime(
        2020, 1, 5, tzinfo=UTC
    )
    assert url_date("https://www.reuters.com/world/africa/libya-talks-2023-09-14/")
    assert url_date("https://example.com/2011/03/19/libya-strikes/")
    assert url_date("https://www.rferl.org/a/20110319.html") is None  # an id, not a date
    assert url_date("https://www.rferl.org/a/libya_son_/24541714.html") is None


def test_an_entry_is_dated_by_lastmod_else_by_its_url_else_not_fetched():
    plan = BackfillPlan.build(since="2020-01", until="2020-01", all_urls=True)

    class Stats:
        def inc_value(self, key: str) -> None:
            pass

    links = [
        Link("https://www.france24.com/en/20200105-a", lastmod="2021-03-01T00:00:00Z"),
        Link("https://www.france24.com/en/20200105-b"),
        Link("https://www.rferl.org/a/c/1.html", lastmod="2020-01-31T23:59:59Z"),
        Link("https://www.rferl.org/a/d/2.html"),
    ]
    assert [link.url for link in plan.select(links, Stats())] == [links[1].url, links[2].url]


def test_slugs_match_whole_words_of_the_terms():
    plan = BackfillPlan.build(since="2020")
    assert plan.slug_matches(
        "https://www.rferl.org/a/eu-rejects-appeal-putins-chef-wagner-libya/31878627.html"
    )
    assert plan.slug_matches(
        "https://www.rferl.org/a/icc_says_libya_evidence_qaddafi_son/24554427.html"
    )
    assert plan.slug_matches("https://www.rferl.org/a/libyan-coast-guard/1.html")
    assert not plan.slug_matches("https://www.rferl.org/a/tripolitania-history/1.html")
    assert not plan.slug_matches("https://www.rferl.org/a/1095990.html")


def test_a_child_sitemap_is_skipped_only_when_modified_before_the_window():
    plan = BackfillPlan.build(since="2023-01-01", until="2023-12-31")
    assert not plan.may_hold_window(Link("x", lastmod="2022-12-31T23:59:59Z"))
    assert plan.may_hold_window(Link("x", lastmod="2025-04-20T17:38:23Z"))  # old entries too
    assert plan.may_hold_window(Link("x"))


def test_every_rferl_archive_declaration_is_listed_by_sources_json():
    result = run_newsmon("sources", "--json")
    assert '"kind": "archive_index"' in result.stdout
    assert load_sources()["rferl"].archive_indexes == ("https://www.rferl.org/sitemap.xml",)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar_with_done_total_stored_and_rate():
    screen = Terminal()
    values = {"done": 120, "selected": 338, "stored": 41, "pages": 90, "elapsed": 60.0}
    with ProgressView("rferl", screen) as view:
        view.update({**values, "sitemaps_read": 3, "sitemaps_queued": 11})
    shown = screen.getvalue()
    assert "rferl" in shown and "120/338" in shown and "41 stored" in shown
    assert "1.50 pages/s" in shown and "sitemaps 3/11" in shown


def test_without_a_terminal_progress_is_a_line_every_30_seconds():
    log = io.StringIO()
    view = ProgressView("rferl", log)
    values = {"done": 10, "selected": 40, "stored": 2, "pages": 10, "elapsed": 20.0}
    view.update(values)
    view.update({**values, "done": 11})  # within 30 s: no second line
    view.update({**values, "done": 40}, final=True)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("rferl: 10/40 URLs done, 2 stored") and "ETA 60 s" in lines[0]
    assert lines[1].startswith("rferl: 40/40 URLs done")

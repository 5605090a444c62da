"""`newsmon sources --check` against loopback sites: working, empty, blocked, unreachable,
robots-disallowed and disabled endpoints, each judged as a user needs to know."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_newsmon
from tests.siteserver import FIXTURES, UNREACHABLE, Route, Site

DATADOME = (FIXTURES / "synthetic/reuters/reuters_block_datadome_synthetic.html").read_bytes()
FEED = (FIXTURES / "real/reuters/feeds/reuters_rss_worldNews_2018-01-30.xml").read_bytes()
LISTING = (FIXTURES / "synthetic/ahram/ahram_writer_reuters_listing_synthetic.html").read_bytes()

DECLARATIONS = """
[[source]]
name = "probe"
publisher = "A source whose endpoints are in every state"
domains = ["feeds.example.org", "blocked.example.org", "gone.example.org"]
agency = "Reuters"
article_patterns = ['^https://www\\.reuters\\.com/article/']
discovery = [
    { kind = "rss", url = "https://feeds.example.org/feed.xml", confidence = "captured" },
    { kind = "rss", url = "https://feeds.example.org/empty.xml" },
    { kind = "rss", url = "https://feeds.example.org/private/feed.xml" },
    { kind = "sitemap", url = "https://blocked.example.org/sitemap.xml" },
    { kind = "rss", url = "https://gone.example.org/feed.xml" },
    { kind = "rss", url = "https://feeds.example.org/old.xml", enabled = false },
]

[[source.licensees]]
host = "english.ahram.org.eg"
publisher = "Ahram Online"
article_patterns = ['^https://english\\.ahram\\.org\\.eg/NewsContent/']
discovery = [
    { kind = "listing", url = "https://english.ahram.org.eg/WriterArticles/Reuters/331/0.aspx", confidence = "inferred" },
]
"""


@pytest.fixture
def check(tmp_path):
    declarations = tmp_path / "sources.toml"
    declarations.write_text(DECLARATIONS)
    feeds = Site(
        "feeds.example.org",
        {
            "/robots.txt": Route(200, b"User-agent: *\nDisallow: /private/\n", "text/plain"),
            "/feed.xml": Route(200, FEED, "application/rss+xml"),
            "/empty.xml": Route(200, b"", "application/rss+xml"),
            "/private/feed.xml": Route(200, FEED, "application/rss+xml"),
        },
    ).start()
    blocked = Site(
        "blocked.example.org",
        {"/sitemap.xml": Route(401, DATADOME, headers={"x-datadome": "protected"})},
    ).start()
    ahram = Site(
        "english.ahram.org.eg", {"/WriterArticles/Reuters/331/0.aspx": Route(200, LISTING)}
    ).start()
    sites = [feeds, blocked, ahram]

    def run(*args: str):
        maps = [f"--origin-map={s.public_origin}={s.origin}" for s in sites]
        maps.append(f"--origin-map=https://gone.example.org={UNREACHABLE}")
        return run_newsmon(
            "sources",
            "--check",
            "--delay",
            "0",
            "--timeout",
            "5",
            *maps,
            *args,
            env={"NEWSMON_SOURCES": str(declarations)},
        )

    run.sites = {s.host: s for s in sites}  # type: ignore[attr-defined]
    yield run
    for site in sites:
        site.stop()


def by_url(result) -> dict[str, dict]:
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["url"].split("//", 1)[1]: row for row in rows}


def test_check_reports_each_endpoint_and_fails_on_broken_enabled_ones(check):
    result = check("--json")
    assert result.returncode == 1, result.stderr
    assert "3 enabled endpoint(s) broken" in result.stderr
    rows = by_url(result)
    working = rows["feeds.example.org/feed.xml"]
    assert (working["verdict"], working["status"], working["entries"]) == ("ok", 200, 10)
    assert working["articles"] == 10 and working["newest"].startswith("2018-01-30")
    assert working["robots"] == "allowed" and working["reachable"]
    empty = rows["feeds.example.org/empty.xml"]
    assert (empty["verdict"], empty["status"], empty["problem"]) == ("broken", 200, "empty body")
    disallowed = rows["feeds.example.org/private/feed.xml"]
    assert (disallowed["verdict"], disallowed["robots"]) == ("disallowed", "disallowed")
    blocked = rows["blocked.example.org/sitemap.xml"]
    assert blocked["verdict"] == "broken" and blocked["status"] == 401
    assert "DataDome" in blocked["blocked"]
    gone = rows["gone.example.org/feed.xml"]
    assert (gone["verdict"], gone["reachable"], gone["status"]) == ("broken", False, None)
    assert "127.0.0.1" not in result.stdout + result.stderr
    old = rows["feeds.example.org/old.xml"]
    assert (old["verdict"], old["enabled"], old["status"]) == ("broken", False, 404)
    listing = rows["english.ahram.org.eg/WriterArticles/Reuters/331/0.aspx"]
    assert (listing["verdict"], listing["articles"], listing["confidence"]) == ("ok", 3, "inferred")


def test_check_reads_robots_txt_first_once_per_host_and_never_fetches_a_disallowed_url(check):
    check()
    requested = check.sites["feeds.example.org"].requests
    assert requested[0] == "/robots.txt" and requested.count("/robots.txt") == 1
    assert "/private/feed.xml" not in requested
    assert requested.count("/feed.xml") == 1


def test_check_prints_a_readable_line_per_endpoint(check):
    result = check()
    assert "probe    ok         rss           https://feeds.example.org/feed.xml" in result.stdout
    assert "BROKEN" in result.stdout and "empty body" in result.stdout
    assert "DISALLOWED" in result.stdout
    assert "Traceback" not in result.stderr

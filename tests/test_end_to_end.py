"""The real `newsmon crawl` (subprocesses, Scrapy, pipelines, SQLite) against loopback copies
of the three sites, asserting on the rows a reviewer would read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from tests.conftest import FAST, ROOT, expected_articles, invoke_newsmon, open_db, run_newsmon
from tests.siteserver import FIXTURES, Route, Site, load_manifest, origin_map_args, serve_sites

STORED = [a for a in expected_articles() if a["stored"]]
NOT_STORED = [a for a in expected_articles() if not a["stored"]]


@pytest.fixture(scope="module")
def crawled_sites(demo_crawl, tmp_path_factory):
    """The shared crawl of all three sources, for the tests that only read its results."""
    db_path = demo_crawl.copy(tmp_path_factory.mktemp("crawl"))
    return open_db(db_path), demo_crawl.result, demo_crawl.requests


@pytest.fixture
def crawled(crawled_sites):
    db, result, _ = crawled_sites
    return db, result


@pytest.fixture
def served(crawled_sites):
    """The paths the shared crawl asked each site for."""
    return crawled_sites[2]


def article(db, url):
    rows = list(db.query("select * from articles where url = ?", [url]))
    assert rows, (
        f"{url} not stored; stored: {[r['url'] for r in db.query('select url from articles')]}"
    )
    return rows[0]


@pytest.mark.parametrize("expected", STORED, ids=[a["public_url"].split("/")[-2] for a in STORED])
def test_each_source_stores_its_libya_articles_with_review_fields(crawled, expected):
    db, _ = crawled
    row = article(db, expected["public_url"])
    assert row["source"] == expected["source"]
    assert row["title"] == expected["title"].strip()
    assert row["published"] == expected["published"]
    assert json.loads(row["authors"]) == expected["authors"]
    assert row["agency"] == expected["agency"]
    assert row["language"] == "en"
    text = row["text"]
    assert text.startswith(expected["text_first"][:40])
    last_paragraphs = "\n\n".join(text.split("\n\n")[-2:])
    assert expected["text_last"] in last_paragraphs
    assert "\n\n" in text  # paragraphs, not one blob
    for furniture in ("Related", "Our Standards", "Trust Principles", "Share this"):
        assert furniture not in text
    assert row["relevance"] >= 3
    assert "Libya" in json.loads(row["matched_terms"])
    assert row["relevance_reason"].startswith("mentions:")
    assert row["first_seen"].endswith("Z")
    assert row["content_hash"] and len(row["content_hash"]) == 64


def test_pages_not_about_libya_or_not_credited_are_not_stored(crawled):
    db, _ = crawled
    stored = {r["url"] for r in db.query("select url from articles")}
    assert stored == {a["public_url"] for a in STORED}
    outcomes = {r["url"]: r["outcome"] for r in db.query("select url, outcome from seen_urls")}
    for page in NOT_STORED:
        expected = "no_agency_credit" if page["why_not"] == "no_agency_credit" else "irrelevant"
        assert outcomes[page["public_url"]] == expected, page["public_url"]


def test_passing_mention_is_judged_irrelevant_with_its_score_recorded(crawled):
    db, _ = crawled
    (row,) = db.query(
        "select reason from seen_urls where url like '%eu-migration-summit-synthetic%'"
    )
    # One mention, as one item of a list of four countries, in a story about EU migration.
    assert "score 0.1" in row["reason"]
    assert "1 in text; 1 as one item of a list (of 4)" in row["reason"]


def test_duplicate_links_fetch_and_store_an_article_once(served, crawled):
    db, _ = crawled
    seed = "https://www.rferl.org/a/un-security-council-libya-russia-foreign-fighters/31003211.html"
    rows = list(db.query("select url from articles where url_key = 'rferl:31003211'"))
    assert [r["url"] for r in rows] == [seed]
    requested = served["www.rferl.org"]
    assert not any(path.startswith("/amp/") for path in requested)
    assert not any("utm_" in path for path in requested)
    assert (
        requested.count("/a/un-security-council-libya-russia-foreign-fighters/31003211.html") == 1
    )
    reuters = served["www.reuters.com"]
    assert reuters.count("/robots.txt") == 1
    assert reuters.count("/world/africa/libya-synthetic-oil-blockade-haftar-2023-04-26/") == 1
    france24 = served["www.france24.com"]
    assert france24.count("/en/africa/20230915-libya-derna-flood-synthetic") == 1


def test_second_crawl_fetches_no_article_again_and_stores_nothing(demo_crawl, sites, tmp_path):
    db_path = demo_crawl.copy(tmp_path)  # the first crawl, of the same pages on other ports
    db = open_db(db_path)
    count = db.table("articles").count
    second = run_newsmon("crawl", "--db", str(db_path), *FAST, *origin_map_args(sites))
    assert second.returncode == 0, second.stderr
    assert db.table("articles").count == count
    article_paths = {urlsplit(a["public_url"]).path for a in expected_articles()}
    for site in sites.values():
        refetched = [path for path in site.requests if path in article_paths]
        assert refetched == [], f"{site.host} refetched {refetched}"
        assert site.requests  # discovery itself did run again
    runs = list(db.query("select stored, status from crawl_runs order by id desc limit 3"))
    assert all(r["stored"] == 0 and r["status"] == "ok" for r in runs)


def assert_no_mirror_origin(db) -> None:
    for table in db.table_names():
        if table.endswith(("_data", "_idx", "_docsize", "_config")) or table == "pages":
            continue
        for row in db.table(table).rows:
            row.pop("log_path", None)  # a local file path, not a URL
            assert "127.0.0.1" not in json.dumps(row, default=str), (table, row)


def test_database_never_contains_the_mirror_origin(crawled):
    db, _ = crawled
    assert_no_mirror_origin(db)


def test_robots_txt_is_fetched_through_the_origin_map_and_obeyed(served):
    requested = served["www.rferl.org"]
    assert requested[0] == "/robots.txt"
    assert "/api/epiqq" not in requested  # robots.txt: Disallow: /api/*


def test_summary_lists_every_source_and_the_fetched_html_is_kept(crawled):
    db, result = crawled
    for source in ("rferl", "reuters", "afp"):
        assert f"\n{source} " in "\n" + result.stdout
    runs = {r["source"]: r for r in db.query("select * from crawl_runs")}
    assert runs["rferl"]["stored"] == 2 and runs["rferl"]["irrelevant"] == 2
    assert runs["afp"]["rejected"] == 2  # one irrelevant, one without AFP credit
    assert all(r["status"] == "ok" and r["finished"] for r in runs.values())
    pages = db.execute("select count(*), min(size) from pages").fetchone()
    assert pages[0] == len(STORED) and pages[1] > 1000


def test_full_text_index_finds_articles_by_libyan_names(crawled):
    db, _ = crawled
    hits = {
        r["title"]
        for r in db.query(
            "select a.title from articles_fts join articles a on a.rowid = articles_fts.rowid "
            "where articles_fts match 'Haftar'"
        )
    }
    assert len(hits) >= 3


def test_relevance_filter_off_stores_every_article_with_its_score(crawl):
    result = crawl("-s", "NEWSMON_RELEVANCE_FILTER=false")
    assert result.returncode == 0, result.stderr
    db = open_db(crawl.db_path)
    (row,) = db.query("select relevance from articles where url like '%eu-migration-summit%'")
    assert row["relevance"] == 0.1
    # Everything but the licensees' own reporting, which is not the agency's copy at all.
    uncredited = [a for a in expected_articles() if a["why_not"] == "no_agency_credit"]
    assert db.table("articles").count == len(expected_articles()) - len(uncredited)


def blocking_reuters() -> Route:
    body = (FIXTURES / "synthetic/reuters/reuters_block_datadome_synthetic.html").read_bytes()
    return Route(401, body, headers={"x-datadome": "protected", "Server": "CloudFront"})


def test_blocked_source_is_recorded_as_blocked_and_stores_nothing(tmp_path):
    db_path = tmp_path / "news.db"
    with serve_sites(["www.rferl.org"]) as running:
        running["www.reuters.com"] = Site(
            "www.reuters.com", load_manifest("www.reuters.com"), lambda path: blocking_reuters()
        ).start()
        try:
            result = run_newsmon(
                "crawl", "reuters", "rferl", "--db", str(db_path), *FAST, *origin_map_args(running)
            )
        finally:
            running["www.reuters.com"].stop()
        reuters_requests = running["www.reuters.com"].requests
    assert result.returncode == 1
    assert "reuters: blocked: www.reuters.com blocked the crawler: HTTP 401" in result.stderr
    assert "DataDome" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    db = open_db(db_path)
    runs = {r["source"]: r for r in db.query("select * from crawl_runs")}
    assert runs["reuters"]["status"] == "blocked"
    assert runs["rferl"]["status"] == "ok"
    assert db.execute("select count(*) from articles where source = 'reuters'").fetchone()[0] == 0
    assert db.execute("select count(*) from seen_urls where source = 'reuters'").fetchone()[0] == 0
    # The first block stops the crawl from asking that host again this run.
    assert len(reuters_requests) <= 2, reuters_requests


def test_articles_blocked_behind_readable_feeds_make_the_run_blocked(tmp_path):
    """Real Reuters may serve its sitemaps and block only the article pages."""
    db_path = tmp_path / "news.db"
    routes = load_manifest("www.reuters.com")
    feeds = {p for p in routes if p.startswith(("/robots.txt", "/arc/")) or p == "/world/africa/"}

    def block_articles(path: str) -> Route | None:
        return None if path in feeds else blocking_reuters()

    with serve_sites(["www.rferl.org"]) as running:  # no republisher: reuters.com alone
        running["www.reuters.com"] = Site("www.reuters.com", routes, block_articles).start()
        try:
            result = run_newsmon(
                "crawl", "reuters", "--db", str(db_path), *FAST, *origin_map_args(running)
            )
        finally:
            running["www.reuters.com"].stop()
        requested = running["www.reuters.com"].requests
    assert result.returncode == 1
    assert "reuters: blocked: www.reuters.com blocked the crawler" in result.stderr
    db = open_db(db_path)
    (run,) = db.query("select * from crawl_runs")
    assert (run["status"], run["pages"], run["stored"]) == ("blocked", 0, 0)
    assert db.table("articles").count == 0
    # Blocked article URLs stay to be tried again: nothing is settled for them.
    outcomes = {r["outcome"] for r in db.query("select outcome from seen_urls")}
    assert outcomes <= {"failed"}
    assert sum("-2023-04-2" in path for path in requested) == 1  # one block, then no more asks


def test_unreachable_host_fails_that_source_with_one_line_and_others_run(sites, tmp_path):
    db_path = tmp_path / "news.db"
    others = {h: s for h, s in sites.items() if h != "www.rferl.org"}
    result = run_newsmon(
        "crawl",
        "--db",
        str(db_path),
        *FAST,
        *origin_map_args(others),
        "--origin-map",
        "https://www.rferl.org=http://127.0.0.1:9",  # discard port: refused
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("rferl: failed")]
    assert len(lines) == 1 and "refused" in lines[0].lower(), result.stderr
    db = open_db(db_path)
    runs = {r["source"]: r["status"] for r in db.query("select source, status from crawl_runs")}
    assert runs == {"rferl": "failed", "reuters": "ok", "afp": "ok"}
    assert db.execute("select count(*) from articles").fetchone()[0] == len(STORED) - 2
    assert_no_mirror_origin(db)
    assert "127.0.0.1" not in result.stdout + result.stderr


def test_a_site_whose_every_feed_is_gone_fails_its_source_and_status_says_so(tmp_path):
    """A site that moved its feeds still answers robots.txt: that is not a partial success."""
    db_path = tmp_path / "news.db"
    routes = {"/robots.txt": load_manifest("www.rferl.org")["/robots.txt"]}
    site = Site("www.rferl.org", routes).start()  # 404 for everything else
    try:
        result = run_newsmon(
            "crawl", "rferl", "--db", str(db_path), *FAST, *origin_map_args({"www.rferl.org": site})
        )
    finally:
        site.stop()
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("rferl: failed")]
    assert "no discovery endpoint could be read; first: https://www.rferl.org/" in line
    assert "404" in line
    db = open_db(db_path)
    (run,) = db.query("select status, reason from crawl_runs")
    assert run["status"] == "failed"
    status = invoke_newsmon("status", "--db", str(db_path), "--max-failures", "1")
    assert status.returncode == 1 and "rferl" in status.stdout


def test_sources_declared_by_a_setting_are_the_ones_crawled(sites, tmp_path):
    """`-s NEWSMON_SOURCES=FILE` names the sources for the command line and its crawls alike."""
    builtin = (ROOT / "crawler/sources.toml").read_text(encoding="utf-8")
    rferl = "[[source]]\n" + builtin.split("\n[[source]]\n")[1]
    declarations = tmp_path / "mine.toml"
    declarations.write_text(rferl.replace('name = "rferl"', 'name = "rfe_libya"'))
    db_path = tmp_path / "news.db"
    mine = ["-s", f"NEWSMON_SOURCES={declarations}"]

    result = run_newsmon("crawl", "--db", str(db_path), *mine, *FAST, *origin_map_args(sites))

    assert result.returncode == 0, result.stderr
    db = open_db(db_path)
    assert [r["source"] for r in db.query("select source from crawl_runs")] == ["rfe_libya"]
    assert {r["source"] for r in db.query("select source from articles")} == {"rfe_libya"}
    named = run_newsmon("crawl", "rferl", "--db", str(db_path), *mine)
    assert named.returncode == 2
    assert "unknown source 'rferl' (declared: rfe_libya)" in named.stderr


def test_scrapy_crawl_from_the_project_root_uses_the_same_pipeline(sites, tmp_path):
    db_path = tmp_path / "x.db"
    mapping = {s.public_origin: s.origin for s in sites.values()}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "rferl",
            "-s",
            f"NEWSMON_DB={db_path}",
            "-s",
            f"NEWSMON_ORIGIN_MAP={json.dumps(mapping)}",
            *FAST,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    db = open_db(db_path)
    assert db.execute("select count(*) from articles where source = 'rferl'").fetchone()[0] == 2


def test_scrapy_list_prints_the_three_sources():
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["afp", "reuters", "rferl"]


def test_reuters_copy_is_stored_from_a_republisher_while_reuters_com_blocks(tmp_path):
    """The offline demo of a blocked home site: reuters.com answers 401 to everything, and
    the Reuters copy Ahram Online republishes (with credit) is still stored, labelled."""
    db_path = tmp_path / "news.db"
    with serve_sites(["english.ahram.org.eg"]) as running:
        running["www.reuters.com"] = Site(
            "www.reuters.com", load_manifest("www.reuters.com"), lambda path: blocking_reuters()
        ).start()
        try:
            result = run_newsmon(
                "crawl", "reuters", "--db", str(db_path), *FAST, *origin_map_args(running)
            )
        finally:
            running["www.reuters.com"].stop()
        status = invoke_newsmon("status", "--db", str(db_path))
    assert result.returncode == 0, result.stdout + result.stderr
    reason = [line for line in result.stdout.splitlines() if line.startswith("reuters: partial")]
    assert reason, result.stdout + result.stderr
    assert "www.reuters.com blocked the crawler: HTTP 401" in reason[0]
    assert (
        "Reuters copy read on 1 other site (english.ahram.org.eg: 3 pages, 1 stored)" in reason[0]
    )
    db = open_db(db_path)
    (row,) = db.query("select * from articles")
    assert (row["source"], row["site"], row["agency"]) == (
        "reuters",
        "english.ahram.org.eg",
        "Reuters",
    )
    assert row["url"].startswith("https://english.ahram.org.eg/NewsContent/2/8/521044/")
    assert json.loads(row["credit"])[0] == "byline: Reuters , Tuesday 14 May 2024"
    outcomes = {r["url"].split("/")[-1]: r["outcome"] for r in db.query("select * from seen_urls")}
    assert outcomes["Egypt-and-Libya-discuss-border-trade-as-Salloum-cr.aspx"] == "no_agency_credit"
    (run,) = db.query("select status, sites from crawl_runs")
    sites = json.loads(run["sites"])
    assert run["status"] == "partial"
    assert "HTTP 401" in sites["www.reuters.com"]["blocked"]
    assert sites["english.ahram.org.eg"]["stored"] == 1
    line = next(x for x in status.stdout.splitlines() if x.startswith("reuters"))
    assert "www.reuters.com blocked" in line and "english.ahram.org.eg 3 pages, 1 stored" in line
    assert "UNHEALTHY" not in line

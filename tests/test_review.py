"""Reviewing the archive: Datasette with newsmon's metadata and plugin, on a crawled archive.

Pages and JSON through Datasette's own test client; `newsmon serve` as a real process; and
one search in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import rich.console
import yaml
from datasette.app import Datasette
from datasette.database import Database as DatasetteDatabase

from crawler.dates import utc_now
from crawler.items import Article
from pipelines.database import open_database
from pipelines.store import Archive
from pipelines.versions import record_revision
from review.counts import INDEX_COUNT, SEARCH_COUNT
from review.headers import content_security_policy, script_hash
from review.search import TABLE_ORDER, rewrite
from review.serve import datasette_for, metadata_for
from tests.conftest import FAST, ROOT, DemoCrawl, expected_articles, open_db, run_newsmon
from tests.siteserver import origin_map_args, serve_sites

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT_DIR = (
    Path(os.environ.get("NEWSMON_SCREENSHOTS", ""))
    if os.environ.get("NEWSMON_SCREENSHOTS")
    else None
)


@pytest.fixture(scope="module")
def archive(demo_crawl: DemoCrawl, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real crawl of the fixture sites, plus one caught duplicate and one hostile text."""
    db_path = demo_crawl.copy(tmp_path_factory.mktemp("review"))
    store = Archive(open_database(db_path))
    original = (
        "https://www.rferl.org/a/un-security-council-libya-russia-foreign-fighters/31003211.html"
    )
    store.record_outcome(
        "rferl",
        [("rferl:99", "https://www.rferl.org/a/99.html")],
        "duplicate",
        "same text",
        duplicate_of=original,
    )
    revise(store, original)
    store.db.execute(
        "update articles set description = ? where url = ?",
        ["<script>alert('x')</script>", original],
    )
    store.close()
    return db_path


def revise(store: Archive, url: str) -> None:
    """A second version of the article: its lead reworded, with markup in the new words."""
    (row,) = store.db.query("select * from articles where url = ?", [url])
    lead, rest = row["text"].split("\n\n", 1)
    article = Article(
        **{f.name: row.get(f.name) for f in dataclasses.fields(Article) if f.name in row},
        key=row["url_key"],
        requested_key=row["url_key"],
        fetched=utc_now(),
        html="<html></html>",
    )
    article.authors = json.loads(row["authors"])
    article.matched_terms = json.loads(row["matched_terms"])
    article.text = "Revised <b>lead</b> " + lead.split(" ", 1)[1] + "\n\n" + rest
    article.content_hash = "revised"
    record_revision(store.db, row["id"], article)


def get(db_path: Path, path: str) -> Any:
    async def fetch() -> Any:
        datasette = Datasette([str(db_path)], metadata=metadata_for(db_path))
        await datasette.invoke_startup()  # as `datasette serve` does before it listens
        return await datasette.client.get(path)

    return asyncio.run(fetch())


def rows(db_path: Path, path: str) -> list[dict[str, Any]]:
    response = get(db_path, path + ("&" if "?" in path else "?") + "_shape=array")
    assert response.status_code == 200, response.text
    return response.json()


def test_search_finds_the_article_by_a_libyan_name(archive: Path) -> None:
    found = rows(archive, "/news/articles.json?_search=Dbeibah")
    assert [r["source"] for r in found] == ["reuters"]
    assert (
        found[0]["title"]
        == "Libya oil output falls as Haftar-aligned groups blockade eastern ports"
    )


def test_a_search_lists_the_newest_stored_matches_first_without_sorting_them_all(
    archive: Path,
) -> None:
    response = get(archive, "/news/articles.json?_search=Libya&_size=max")
    page = response.json()
    ids = [row[0] for row in page["rows"]]
    assert len(ids) > 1 and ids == sorted(ids, reverse=True)
    # The order comes from walking the matches, not from sorting every matching row.
    plan = open_db(archive).execute(
        "explain query plan " + page["query"]["sql"], page["query"]["params"]
    )
    assert not [step for step in plan.fetchall() if "TEMP B-TREE" in step[3]]
    chosen = rows(archive, "/news/articles.json?_search=Libya&_size=max&_sort=published")
    published = [row["published"] for row in chosen if row["published"]]
    assert len(published) > 1 and published == sorted(published)
    # The table page's form sends its pre-selected default order with every search.
    form = "_search=Libya&_sort=published&_sort_by_desc=on&_size=max"
    assert [row["id"] for row in rows(archive, f"/news/articles.json?{form}")] == ids
    metadata = yaml.safe_load((ROOT / "review" / "metadata.yml").read_text())
    assert metadata["database"]["tables"]["articles"]["sort_desc"] == TABLE_ORDER


def test_a_searchs_count_comes_from_the_full_text_index_and_is_the_same(
    archive: Path, monkeypatch
) -> None:
    # Datasette's own count looks every match's article row up: seconds on a big archive.
    ran: list[str] = []
    execute = DatasetteDatabase.execute

    async def recording(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        ran.append(" ".join(sql.split()))
        return await execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(DatasetteDatabase, "execute", recording)
    page = get(archive, "/news/articles.json?_search=Libya").json()
    assert INDEX_COUNT in ran and SEARCH_COUNT not in ran
    (expected,) = open_db(archive).execute(SEARCH_COUNT, {"search": "Libya"}).fetchone()
    assert page["filtered_table_rows_count"] == expected > 1
    # Combined with another filter, the search is counted as Datasette counts it.
    ran.clear()
    source = get(archive, "/news/articles.json?_search=Libya&source=reuters").json()
    assert INDEX_COUNT not in ran
    assert 0 < source["filtered_table_rows_count"] < expected


def test_a_page_that_does_not_exist_is_a_404_with_no_traceback_in_the_servers_log(
    archive: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not even rendered and thrown away: a rich traceback with locals costs up to a second
    # and a half of CPU, so a client asking for missing pages could keep the server busy.
    rendered = []
    monkeypatch.setattr(rich.console.Console, "print_exception", lambda *a, **k: rendered.append(a))
    for path in ("/nope", "/news/articles/999999", "/news/crawl_runs/999999/log"):
        assert get(archive, path).status_code == 404
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert rendered == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Dbeibah OR Wagner", 2),
        ('"foreign fighters"', 1),
        ("NEAR(Derna flood, 5)", 1),
        ("Misr*", 0),
        ("Sirt*", 1),
    ],
)
def test_search_box_accepts_or_near_phrases_and_prefixes(
    archive: Path, query: str, expected: int
) -> None:
    found = rows(archive, "/news/articles.json?_search=" + urllib.request.quote(query))
    assert len(found) >= expected if expected else found == []


def test_articles_are_newest_first_with_facets_on_source_agencies_language_and_date(
    archive: Path,
) -> None:
    data = get(archive, "/news/articles.json").json()
    published = [row[1] for row in data["rows"]]
    assert published == sorted(published, reverse=True)
    assert set(data["facet_results"]) == {"source", "agencies", "language", "published"}
    sources = {f["value"]: f["count"] for f in data["facet_results"]["source"]["results"]}
    # The seed story credits "AFP, Reuters": it counts under each agency.
    agencies = {f["value"]: f["count"] for f in data["facet_results"]["agencies"]["results"]}
    assert agencies == {"AFP": 4, "Reuters": 4}
    # reuters: two from reuters.com, one from Ahram Online
    assert sources == {"rferl": 2, "afp": 3, "reuters": 3}


def test_every_saved_query_runs_and_finds_rows(archive: Path) -> None:
    queries = metadata_for(archive)["databases"]["news"]["queries"]
    params = {"q": "Libya", "since": "2000-01-01", "id": "1"}
    for name, query in queries.items():
        needed = [p for p in params if f":{p}" in query["sql"]]
        args = "&".join(f"{p}={params[p]}" for p in needed)
        found = rows(archive, f"/news/{name}.json?{args}")
        assert found, f"saved query {name} returned no rows"
    health = {r["source"]: r for r in rows(archive, "/news/crawl_health.json")}
    assert health["rferl"]["status"] == "ok"
    assert health["rferl"]["failures_in_a_row"] == 0
    snippets = rows(archive, "/news/search.json?q=Haftar")
    assert all("[[Haftar]]" in r["snippet"] for r in snippets)


def test_internal_tables_are_hidden_and_the_archive_is_described(archive: Path) -> None:
    tables = {t["name"]: t["hidden"] for t in get(archive, "/news.json").json()["tables"]}
    for internal in ("pages", "_sqlite_migrations", "articles_fts", "articles_fts_data"):
        assert internal not in tables  # not readable (403), so not listed either
    for visible in ("articles", "crawl_runs", "seen_urls", "duplicates"):
        assert tables[visible] is False
    home = get(archive, "/").text
    assert "belong to their publishers" in home
    assert "blocked" in home  # what each source could not fetch


def seed_id(db_path: Path) -> int:
    (row,) = rows(db_path, "/news/articles.json?url_key=rferl:31003211")
    return int(row["id"])


def test_an_article_reads_as_paragraphs_with_a_link_and_no_html_rendered(archive: Path) -> None:
    page = get(archive, f"/news/articles/{seed_id(archive)}").text
    assert '<div class="newsmon-text"><p>' in page
    assert page.count("<p>") >= 5
    assert '<a href="https://www.rferl.org/a/' in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page
    assert "newsmon.js" in page
    assert "Libya ×" in page  # matched terms as words


def test_an_articles_versions_show_what_changed_newest_first_escaped(archive: Path) -> None:
    article = seed_id(archive)
    versions = rows(archive, f"/news/article_history.json?article={article}")
    assert [v["version"] for v in versions] == [2, 1]
    page = get(archive, f"/news/article_history?article={article}").text
    (first,) = rows(archive, f"/news/article_versions.json?article_id={article}&version=1")
    assert f"<del>{html.escape(first['text'].split()[0])}</del>" in page
    assert "<ins>Revised &lt;b&gt;lead&lt;/b&gt;</ins>" in page
    assert "paragraph(s) unchanged" in page and "First version." in page
    (updated,) = rows(archive, "/news/recently_updated.json")
    assert (updated["id"], updated["versions"]) == (article, 2)


def test_search_snippets_are_highlighted_and_escaped(archive: Path) -> None:
    page = get(archive, "/news/search?q=Haftar").text
    assert "<mark>Haftar</mark>" in page


def test_the_ranked_search_with_an_empty_box_shows_the_form_not_an_fts_error(
    archive: Path,
) -> None:
    for path in ("/news/search", "/news/search?q=", "/news/search?q=%20"):
        page = get(archive, path)
        assert page.status_code == 200, page.text[:300]
        assert "syntax error" not in page.text
        assert 'name="q"' in page.text and "Accepts OR" in page.text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(db_path: Path, *args: str, **popen: Any) -> tuple[subprocess.Popen, str]:
    """`newsmon serve` of ``db_path`` on a free port, and its base URL. The port is free when
    chosen, not when the server binds it: if another test's server took it meanwhile, ours
    exits, and another port is tried."""
    for _ in range(3):
        port = free_port()
        command = [sys.executable, "-m", "scheduler", "serve", "--db", str(db_path)]
        server = subprocess.Popen([*command, "--port", str(port), *args], cwd=ROOT, **popen)
        base = f"http://127.0.0.1:{port}"
        if serves(server, base, db_path):
            return server, base
        server.terminate()
        server.communicate(timeout=10)
    raise AssertionError("newsmon serve did not come up on any of three ports")


def serves(server: subprocess.Popen, base: str, db_path: Path, timeout: float = 30) -> bool:
    """Whether ``server`` came up at ``base`` serving ``db_path`` (not another test's)."""
    deadline = time.monotonic() + timeout
    while server.poll() is None:
        try:
            with urllib.request.urlopen(base + "/-/databases.json", timeout=2) as response:
                return str(db_path.resolve()) in {d["path"] for d in json.load(response)}
        except OSError:
            assert time.monotonic() < deadline, f"{base} did not come up"
            time.sleep(0.2)
    return False


@pytest.fixture
def served(archive: Path, tmp_path: Path):
    db_path = tmp_path / "news.db"
    shutil.copy(archive, db_path)
    # Its output to a file, not a pipe nobody reads: a request line per request fills a pipe's
    # 64 KiB in a few hundred requests, and the server then blocks writing its log.
    with open(tmp_path / "serve.log", "wb") as output:
        server, base = start_serve(db_path, stdout=output, stderr=output)
        try:
            yield db_path, base
        finally:
            server.terminate()
            server.wait(timeout=10)


def test_serve_keeps_answering_while_a_crawl_writes(served) -> None:
    db_path, base = served
    errors: list[str] = []
    answered = 0
    stop = threading.Event()

    def read_continuously() -> None:
        nonlocal answered
        while not stop.is_set():
            try:
                with urllib.request.urlopen(
                    base + "/news/articles.json?_search=Libya", timeout=10
                ) as r:
                    json.load(r)
                    answered += 1
            except Exception as exc:  # any error is a failure of the promise
                errors.append(repr(exc))

    archive = open_db(db_path)
    for table in ("seen_urls", "pages", "articles"):  # so the crawl stores everything again
        archive.execute(f"delete from {table}")
    archive.conn.commit()
    before = archive.table("articles").count
    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        with serve_sites() as sites:  # a crawl that really writes articles and their index
            result = run_newsmon(
                "crawl",
                "--db",
                str(db_path),
                *FAST,
                *origin_map_args(sites),
                "-s",
                "NEWSMON_RELEVANCE_FILTER=false",
            )
    finally:
        stop.set()
        reader.join()
    assert result.returncode == 0, result.stderr
    assert open_db(db_path).table("articles").count > before
    assert errors == []
    assert answered > 10
    versions = json.load(urllib.request.urlopen(base + "/-/databases.json"))
    assert versions[0]["is_mutable"] is True  # sees new rows; Datasette reads it read-only


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)
def test_a_reviewer_searches_for_a_libyan_name_in_a_real_browser(served, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    db_path, base = served
    article = seed_id(db_path)
    screenshot = (SCREENSHOT_DIR or tmp_path) / "search.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/news/articles")
        page.fill("input#_search", "Haftar")
        page.press("input#_search", "Enter")
        page.wait_for_url("**_search=Haftar**")
        heading = page.locator("h3").first.inner_text()
        titles = page.locator("td.col-title").all_inner_texts()
        page.screenshot(path=str(screenshot))
        page.goto(f"{base}/news/articles/{article}")
        text = page.locator("td.col-text p").all_inner_texts()
        page.screenshot(path=str(screenshot.with_name("article.png")))
        label = page.evaluate(
            "getComputedStyle(document.querySelector('td.col-text'), '::before').content"
        )
        browser.close()
    assert "search matches" in heading and "Haftar" in heading
    assert any("Haftar-aligned groups" in title for title in titles)
    assert len(titles) >= 4
    # The archive fixture revised the seed's lead (article_history): the newest text shows.
    assert len(text) >= 5 and "UN Security Council reiterated" in text[0]
    assert label == '"text"'
    assert screenshot.stat().st_size > 10_000


def test_one_search_box_leads_to_the_ranked_search(archive: Path) -> None:
    page = get(archive, "/-/search?q=Dbeibah")
    assert page.status_code == 302
    assert page.headers["location"] == "/news/search?q=Dbeibah"
    assert "Libya oil output falls" in get(archive, "/news/search?q=Dbeibah").text
    assert 'action="/-/search"' in get(archive, "/").text  # the home page's search box


@pytest.mark.parametrize("query", ["al-Jufra", "Wagner al-Jufra", 'Sirte "unbalanced', "Haftar's"])
def test_search_takes_what_a_reviewer_types_without_fts_errors(archive: Path, query: str) -> None:
    quoted = urllib.request.quote(query)
    for path in (f"/news/articles.json?_search={quoted}", f"/news/search.json?q={quoted}"):
        response = get(archive, path + "&_shape=array")
        assert response.status_code == 200, (path, response.text[:200])
    if "Jufra" in query:
        found = rows(archive, f"/news/articles.json?_search={quoted}")
        assert [r["source"] for r in found] == ["rferl"]


INTERNAL_PATHS = [
    "/news/pages",
    "/news/pages.json",
    "/news/pages.csv",
    "/news/pages/1",
    "/news/_sqlite_migrations.json",
    "/news/articles_fts.json",
    "/news/articles_fts_data.json",
]


@pytest.mark.parametrize("path", INTERNAL_PATHS)
def test_raw_pages_and_internal_tables_answer_403(archive: Path, path: str) -> None:
    assert get(archive, path).status_code == 403


def sql_get(db_path: Path, path: str, *, allow_sql: bool) -> Any:
    async def fetch() -> Any:
        return await datasette_for(db_path, allow_sql=allow_sql).client.get(path)

    return asyncio.run(fetch())


@pytest.mark.parametrize(
    "sql", ["select * from pages", "select count(*) from articles", "select 1"]
)
def test_arbitrary_sql_is_off_unless_allowed(archive: Path, sql: str) -> None:
    path = "/news.json?sql=" + urllib.request.quote(sql)
    assert sql_get(archive, path, allow_sql=False).status_code == 403
    assert (
        sql_get(archive, "/news?sql=" + urllib.request.quote(sql), allow_sql=False).status_code
        == 403
    )
    assert sql_get(archive, path, allow_sql=True).status_code == 200


def test_saved_queries_answer_with_sql_off(archive: Path) -> None:
    for path in ("/news/search.json?q=Haftar", "/news/crawl_health.json"):
        response = sql_get(archive, path, allow_sql=False)
        assert response.status_code == 200, path
        assert response.json()["rows"]


def inline_scripts(page: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", page, re.DOTALL)


@pytest.mark.parametrize(
    "path",
    ["/", "/news", "/news/articles", "/news/search?q=Haftar", "/news/pages", "/-/search?q=Libya"],
)
def test_every_response_carries_a_restrictive_content_security_policy(
    archive: Path, path: str
) -> None:
    response = get(archive, path)
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy["script-src"] and "*" not in policy["script-src"]
    for script in inline_scripts(response.text):  # Datasette's own, allowed by hash
        assert script_hash(script) in policy["script-src"], script[:80]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_injected_script_would_not_be_allowed_by_the_policy() -> None:
    assert script_hash("alert('x')") not in content_security_policy()


def test_serve_on_a_public_address_warns_and_writes_no_metadata_file(
    archive: Path, tmp_path: Path
) -> None:
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    server, base = start_serve(
        archive,
        "--host",
        "0.0.0.0",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(private_tmp)},
    )
    try:
        with urllib.request.urlopen(base + "/news/articles.json") as response:
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "/news/pages.json")
        assert refused.value.code == 403
        assert list(private_tmp.iterdir()) == []
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
    assert "exposed" in stderr and "without authentication" in stderr
    assert "Traceback" not in stderr


FTS5_QUERIES = [
    "Libya NOT (Tripoli OR Lebanon)",
    "(Haftar OR Dbeibah) AND Libya",
    "title:Libya",
    "{title}:Libya NOT text:Wagner",
    "-text:Libya",
    "NEAR(Derna flood, 5)",
    '"foreign fighters" OR Sirt*',
    "^Libya",
]


@pytest.mark.parametrize("query", FTS5_QUERIES)
def test_fts5_syntax_means_what_it_means_in_sqlite(archive: Path, query: str) -> None:
    expected = {
        row["rowid"]
        for row in open_db(archive).query(
            "select rowid from articles_fts where articles_fts match ?", [query]
        )
    }
    quoted = urllib.request.quote(query)
    found = {r["id"] for r in rows(archive, f"/news/articles.json?_search={quoted}&_size=max")}
    assert found == expected
    saved = {r["id"] for r in rows(archive, f"/news/search.json?q={quoted}")}
    assert saved == expected


def test_a_column_filter_and_a_negated_group_keep_their_meaning(archive: Path) -> None:
    in_titles = rows(archive, "/news/articles.json?_search=" + urllib.request.quote("title:Libya"))
    assert in_titles and all("libya" in r["title"].lower() for r in in_titles)
    query = urllib.request.quote("Libya NOT (Tripoli OR Lebanon)")
    for row in rows(archive, f"/news/articles.json?_search={query}&_size=max"):
        assert "tripoli" not in (row["title"] + row["text"]).lower()


@pytest.mark.parametrize("query", ["Libya AND", "NEAR(", "(Tripoli", "nosuchcolumn:Libya"])
def test_a_search_fts5_cannot_parse_gets_a_readable_message(archive: Path, query: str) -> None:
    quoted = urllib.request.quote(query)
    page = get(archive, f"/news/articles?_search={quoted}")
    assert page.status_code == 400
    assert "Search not understood" in page.text and "Invalid SQL" not in page.text
    data = get(archive, f"/news/search.json?q={quoted}")
    assert data.status_code == 400
    assert data.json()["error"].startswith("Search not understood")


@pytest.mark.parametrize(
    ("path", "query_string"),
    [
        ("/news/crawl_runs.json", b"_search=al-Jufra"),
        ("/news/articles.json", b"q=al-Jufra&title__contains=al-Jufra"),
        ("/news/search.json", b"_search=al-Jufra"),
        ("/-/search", b"q=al-Jufra"),
        ("/news/seen_urls", b"q=al-Jufra"),
    ],
)
def test_only_the_articles_search_and_the_saved_search_are_rewritten(
    path: str, query_string: bytes
) -> None:
    assert rewrite(path, query_string) == (query_string, [])


def test_the_atom_feed_lists_the_newest_articles_for_a_feed_reader(archive: Path) -> None:
    import feedparser

    response = get(archive, "/news/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    stored = rows(archive, "/news/articles.json?_sort_desc=first_seen&_size=max")
    assert len(feed.entries) == len(stored) == sum(a["stored"] for a in expected_articles())
    by_link = {entry.link: entry for entry in feed.entries}
    assert set(by_link) == {row["url"] for row in stored}  # public URLs, never the mirror
    for entry in feed.entries:
        assert entry.title and entry.summary and entry.updated_parsed
        assert {tag.scheme for tag in entry.tags} >= {"newsmon:source", "newsmon:site"}
        assert entry.authors and all(a.name for a in entry.authors)  # RFC 4287 4.1.1
    unsigned = [r for r in stored if r["authors"] == "[]"]
    assert unsigned  # the fixtures have pages without a byline: their entry is credited
    for row in unsigned:
        names = [a.name for a in by_link[row["url"]].authors]
        assert names == [row["agency"] or row["site"]]
    seed = by_link[
        "https://www.rferl.org/a/un-security-council-libya-russia-foreign-fighters/31003211.html"
    ]
    assert seed.published.startswith("2020-12-16")
    assert {tag.term for tag in seed.tags} >= {"rferl", "www.rferl.org", "AFP", "Reuters"}
    assert "<script>" not in response.text  # the hostile description is text, escaped


def test_the_atom_feed_filters_by_source_and_stays_valid_when_empty(archive: Path) -> None:
    import feedparser

    afp = feedparser.parse(get(archive, "/news/feed.atom?source=afp").content)
    assert len(afp.entries) == 3
    assert all("afp" in {t.term for t in e.tags} for e in afp.entries)
    assert afp.feed.title.endswith("(afp)")
    empty = get(archive, "/news/feed.atom?source=nosuchsource")
    assert empty.status_code == 200
    parsed = feedparser.parse(empty.content)
    assert not parsed.bozo and parsed.entries == [] and parsed.feed.updated


def test_an_article_without_a_title_is_still_an_entry_of_a_valid_feed(
    archive: Path, tmp_path: Path
) -> None:
    import feedparser

    db_path = tmp_path / "news.db"
    shutil.copy(archive, db_path)
    db = open_db(db_path)
    db.execute("update articles set title = '' where id = ?", [seed_id(db_path)])
    db.conn.commit()

    response = get(db_path, "/news/feed.atom")  # was a 500: Atom requires every entry's title

    assert response.status_code == 200
    feed = feedparser.parse(response.content)
    assert not feed.bozo and all(entry.title for entry in feed.entries)
    untitled = (
        "https://www.rferl.org/a/un-security-council-libya-russia-foreign-fighters/31003211.html"
    )
    assert [e.title for e in feed.entries if e.link == untitled] == [f"(no title) {untitled}"]


def test_home_page_lists_articles_first_under_the_archive_label(archive: Path) -> None:
    home = get(archive, "/").text
    listed = home[home.index('class="newsmon-tables"') :]
    assert listed.index(">articles<") < listed.index(">crawl_runs<") < listed.index(">seen_urls<")
    assert ">Libya news archive</a></h2>" in home
    assert "<h1>Libya news archive</h1>" in get(archive, "/news").text


def test_saved_query_rows_link_to_the_article_and_the_original(archive: Path) -> None:
    page = get(archive, "/news/latest_7_days").text
    ident = seed_id(archive)
    assert f'<td class="col-id"><a href="/news/articles/{ident}">{ident}</a></td>' in page
    assert f'<a href="/news/articles/{ident}">Libya' in page or "/news/articles/" in page
    assert '<a href="https://www.rferl.org/a/' in page


def test_coverage_page_carries_its_figures_and_serves_chart_js_itself(archive: Path) -> None:
    page = get(archive, "/-/coverage").text
    assert "<h1>Coverage at a glance</h1>" in page
    assert "cdn" not in page.lower()
    assert "/-/static-plugins/newsmon/vendor/chart-4.6.1.umd.min.js" in page
    assert (
        get(archive, "/-/static-plugins/newsmon/vendor/chart-4.6.1.umd.min.js").status_code == 200
    )
    data = json.loads(page.split('id="coverage-data">', 1)[1].split("</script>", 1)[0])
    assert sum(r["articles"] for r in data["articles_per_day"]) >= 0
    assert {r["status"] for r in data["runs_per_day"]} == {"ok"}


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A basic accessibility check run in the page: one h1 and no skipped heading level, every
# form field labelled, every canvas and image described, the page's language set, and
# body text contrast of at least 4.5:1 (WCAG AA).
ACCESSIBILITY_CHECK = """() => {
  const problems = [];
  const headings = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]);
  if (headings.filter(l => l === 1).length !== 1) problems.push('not exactly one h1');
  headings.forEach((l, i) => { if (i && l > headings[i - 1] + 1) problems.push('skipped heading level'); });
  document.querySelectorAll('input:not([type=hidden]):not([type=submit]), select, textarea').forEach(f => {
    const labelled = f.labels && f.labels.length || f.getAttribute('aria-label') || f.getAttribute('title');
    if (!labelled) problems.push('unlabelled field ' + (f.name || f.id));
  });
  document.querySelectorAll('canvas, img').forEach(e => {
    if (!(e.getAttribute('aria-label') || e.getAttribute('alt'))) problems.push('undescribed ' + e.tagName);
  });
  if (!document.documentElement.lang) problems.push('no lang');
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const text = document.querySelector('p, td');
  if (text) {
    let bg = null; for (let e = text; e && !bg; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor; if (!c.endsWith(', 0)') && c !== 'transparent') bg = c; }
    const [a, b] = [lum(rgb(getComputedStyle(text).color)), lum(rgb(bg || 'rgb(255,255,255)'))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) problems.push('contrast ' + ratio.toFixed(2));
  }
  return problems;
}"""


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)
def test_the_morning_review_reads_well_on_a_laptop_and_a_phone(served, tmp_path: Path) -> None:
    """Articles table, an article, the coverage page: desktop and 390 px, screenshots."""
    from playwright.sync_api import sync_playwright

    db_path, base = served
    article = seed_id(db_path)
    shots = SCREENSHOT_DIR or tmp_path
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        desktop = browser.new_page(viewport={"width": 1280, "height": 900})
        desktop.goto(base + "/news/articles")
        row_height = desktop.evaluate(
            "document.querySelector('table.rows-and-columns tbody tr').offsetHeight"
        )
        table_width = desktop.evaluate(
            "document.querySelector('table.rows-and-columns').scrollWidth"
        )
        desktop.screenshot(path=str(shots / "articles.png"))
        desktop.click("button.newsmon-columns-toggle")
        all_columns = desktop.locator("td.col-text").first.is_visible()
        desktop.goto(base + "/-/coverage")
        desktop.wait_for_selector("body[data-charts-drawn=yes]")
        desktop.screenshot(path=str(shots / "coverage.png"), full_page=True)
        coverage_problems = desktop.evaluate(ACCESSIBILITY_CHECK)

        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.goto(f"{base}/news/articles/{article}")
        heading = phone.locator("h1").inner_text()
        title = phone.title()
        overflow = phone.evaluate("document.documentElement.scrollWidth")
        phone.screenshot(path=str(shots / "article-phone.png"))
        article_problems = phone.evaluate(ACCESSIBILITY_CHECK)
        phone.goto(base + "/-/coverage")
        phone.wait_for_selector("body[data-charts-drawn=yes]")
        phone_overflow = phone.evaluate("document.documentElement.scrollWidth")
        phone.screenshot(path=str(shots / "coverage-phone.png"))
        browser.close()
    assert row_height < 60, "one line per article"
    assert table_width <= 1280
    assert all_columns
    assert heading.startswith("UN Security Council") or "Libya" in heading
    assert title.startswith(heading)
    assert overflow <= 400 and phone_overflow <= 400, "no sideways scrolling at 390 px"
    assert article_problems == [] and coverage_problems == []


def test_rows_naming_an_article_link_to_it_and_its_page_lists_them(archive: Path) -> None:
    ident = seed_id(archive)
    (dup,) = rows(archive, "/news/duplicates.json")
    assert dup["duplicate_of_id"] == ident
    article = f'href="/news/articles/{ident}"'
    assert article in get(archive, "/news/duplicates").text
    assert article in get(archive, "/news/seen_urls?key=rferl:31003211").text
    assert article in get(archive, f"/news/article_versions?article_id={ident}").text
    page = get(archive, f"/news/articles/{ident}").text
    assert "Links from other tables" in page
    for table, column in (("seen_urls", "article_id"), ("duplicates", "duplicate_of_id"),
                          ("article_versions", "article_id")):  # fmt: skip
        assert f'href="/news/{table}?{column}={ident}"' in page, table
    caught = get(archive, "/news/duplicates_caught").text
    assert f'<td class="col-title"><a href="/news/articles/{ident}">Russia Backs UN' in caught
    assert '<a href="https://www.rferl.org/a/un-security-council' in caught


def test_a_run_lists_the_articles_it_stored_and_each_links_back_to_it(archive: Path) -> None:
    (run,) = rows(archive, "/news/crawl_runs.json?source=rferl")
    stored = rows(archive, f"/news/articles.json?run={run['id']}")
    assert len(stored) == run["stored"] > 0
    assert {article["source"] for article in stored} == {"rferl"}
    page = get(archive, f"/news/crawl_runs/{run['id']}").text
    assert f'href="/news/articles?run={run["id"]}"' in page  # under "Links from other tables"
    assert f'href="/news/article_versions?run={run["id"]}"' in page
    # On a row page too, the run is shown by when it started, not by a bare id.
    (version,) = rows(archive, f"/news/article_versions.json?article_id={stored[0]['id']}")
    for row_page in (f"articles/{stored[0]['id']}", f"article_versions/{version['id']}"):
        text = get(archive, f"/news/{row_page}").text
        assert f'<a href="/news/crawl_runs/{run["id"]}">{run["started"]}</a>' in text, row_page


def test_a_runs_log_path_opens_its_log_as_text(archive: Path) -> None:
    (run,) = rows(archive, "/news/crawl_runs.json?source=rferl")
    link = f'<a href="/news/crawl_runs/{run["id"]}/log">{html.escape(run["log_path"])}</a>'
    assert link in get(archive, "/news/crawl_runs").text
    assert link in get(archive, f"/news/crawl_runs/{run['id']}").text
    health = get(archive, "/news/crawl_health").text
    assert link in health
    assert f'<a href="/news/crawl_runs/{run["id"]}">{run["id"]}</a>' in health

    log = get(archive, f"/news/crawl_runs/{run['id']}/log")

    assert log.status_code == 200
    assert log.headers["content-type"] == "text/plain; charset=utf-8"
    assert log.content == Path(run["log_path"]).read_bytes()
    assert b"Scrapy" in log.content and b"Stored https://www.rferl.org/a/" in log.content


def test_every_datasette_hook_newsmon_defines_is_registered() -> None:
    """Datasette registers the `review` package: a hook defined in one of its modules and not
    exported there is silently never called."""
    import importlib
    import pkgutil

    import review

    for module_info in pkgutil.iter_modules(review.__path__):
        module = importlib.import_module(f"review.{module_info.name}")
        for name, value in vars(module).items():
            if callable(value) and hasattr(value, "datasette_impl"):
                assert getattr(review, name, None) is value, f"review.{module_info.name}.{name}"


def test_the_latest_articles_queries_read_the_recent_articles_only(tmp_path: Path) -> None:
    """Ordered by publication time, the planner (no statistics) walked the whole archive's
    time index backwards looking for a day's articles: minutes at a million articles."""
    db_path = tmp_path / "news.db"
    open_database(db_path).close()
    queries = metadata_for(db_path)["databases"]["news"]["queries"]
    conn = open_db(db_path)
    for name in ("latest_24_hours", "latest_7_days"):
        plan = [row[3] for row in conn.execute("explain query plan " + queries[name]["sql"])]
        assert "SEARCH articles USING INDEX idx_articles_first_seen (first_seen>?)" in plan, plan
        assert not any(step.startswith("SCAN articles") for step in plan), plan

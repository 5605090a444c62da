"""Flat as the archive grows: the crawl's store cost, its query plans and the review server's
answer times on an archive of ten years, against an empty one.

    python -m bench.scale [--articles 1000000] [--pages 600] [--db PATH] [--reuse] [--keep]

Builds an archive of N synthetic articles with everything ten years of crawling leaves
(bench/scale_archive.py: raw pages, versions, stories, seen URLs, fetch state, duplicates,
runs, full-text index), then

1. stores the same real article pages, one at a time, into it and into an empty archive
   through the crawl's own store path (seen-URL lookup, fetch state, dedupe, store with story
   assignment): per-article cost on each and the ratio (target <= 1.1);
2. prints ``EXPLAIN QUERY PLAN`` of every statement that path ran, and of the re-check,
   revision, duplicate and 304 paths, and fails when one scans a table that grows;
3. times ``newsmon serve``'s default pages and every saved query (Datasette's in-process
   client, with the settings and metadata `serve` uses; target < 1 s each);
4. crawls ``--pages`` distinct pages (those of bench/crawl_throughput) into both archives with
   `newsmon crawl`, end to end;
5. prints the database size per 1,000 articles, with and without the raw pages.

Exits 1 when a hot-path statement scans a growing table or a review page fails or is slow.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scrapy import Request
from scrapy.http import HtmlResponse

from bench import timed_crawl
from bench.crawl_throughput import HOST, SOURCES, make_pages, served
from bench.scale_archive import build_archive
from crawler.dates import utc_now
from crawler.items import Article
from pipelines import store as store_module
from pipelines import stories
from pipelines.database import open_database
from pipelines.extract import content_hash, extract_page
from pipelines.freshness import Rechecks, fetch_state_of, known_of, record_not_modified
from pipelines.neardup import SketchIndex
from pipelines.store import Archive, _keys
from pipelines.versions import record_revision, stored_from_same_link
from review.serve import datasette_for, metadata_for

# Tables that grow with the archive: a hot-path statement must never scan one of them.
GROWING = {
    "articles", "article_versions", "pages", "seen_urls", "fetch_state", "duplicates",
    "stories", "story_links", "text_sketches", "sketch_bands", "crawl_runs", "articles_fts",
}  # fmt: skip
PAGE_LIMIT_SECONDS = 1.0
STORE_HOST = "store.newsmon.test"


# --- 1 and 2: the store path, timed and traced ------------------------------------------


def articles_to_store(count: int) -> list[Article]:
    """Real article pages as extracted Articles, distinct from those the crawl stores: the
    pages of bench/crawl_throughput (real pages, each copy with one word numbered)."""
    articles = []
    now = utc_now()
    seen_texts: set[str] = set()
    for i, page in enumerate(make_pages(count)):
        html = page.decode("utf-8")
        extracted = extract_page(html, f"https://{STORE_HOST}/")
        if extracted is None or extracted.text in seen_texts:  # the store would refuse it
            continue
        seen_texts.add(extracted.text)
        url = f"https://{STORE_HOST}/article/{i}"
        articles.append(
            Article(
                source="bench",
                url=url,
                key=url,
                requested_url=url,
                requested_key=url,
                title=extracted.title,
                text=extracted.text,
                published=extracted.published,
                modified=extracted.modified,
                authors=extracted.authors,
                language=extracted.language,
                description=extracted.description,
                site=STORE_HOST,
                agency=None,
                fetched=now,
                discovered_via="sitemap",
                html=html,
                content_hash=content_hash(extracted.text),
            )
        )
    return articles


def fetched_response(article: Article) -> tuple[Request, HtmlResponse]:
    request = Request(article.requested_url, meta={"newsmon_link_date": article.published})
    headers = {"ETag": f'"{article.content_hash[:16]}"', "Last-Modified": "Sun, 29 Nov 2026"}
    return request, HtmlResponse(article.requested_url, headers=headers, request=request)


class StorePath:
    """What a crawl does in the archive for one new article page, in its order."""

    def __init__(self, path: Path):
        self.archive = Archive.open(str(path))
        self.db = self.archive.db
        self.rechecks = Rechecks(lambda key: known_of(self.db, key), hours=48, budget=20)
        self.stages: dict[str, float] = {}

    def store(self, article: Article) -> None:
        stage = self._stage
        self.stages.setdefault("story", 0.0)
        story_before = self.stages["story"]
        stage("seen", self.rechecks.reason, article.requested_key, article.published, None)
        if self.rechecks.known[article.requested_key] is not None:
            raise SystemExit(f"{article.url} is already known: the bench needs new pages")
        # The response's validators, written by the store's transaction as the crawl does.
        state = stage("seen", fetch_state_of, article.requested_key, *fetched_response(article))
        article = replace(article, fetch_state=state)
        for _ in ("dedupe", "store"):  # both pipelines ask whether it is a new fetch
            if stage("dedupe", stored_from_same_link, self.db, article) is not None:
                raise SystemExit(f"{article.url} is already stored")
        if stage("dedupe", self.archive.find_duplicate, article) is not None:
            raise SystemExit(f"{article.url} duplicates a stored article")
        with self._story_timed():
            if not stage("store", self.archive.store_article, article):
                raise SystemExit(f"{article.url} was not stored")
        self.stages["store"] -= self.stages["story"] - story_before

    @contextmanager
    def _story_timed(self) -> Iterator[None]:
        """Time the story assignment inside the store's transaction as a stage of its own."""

        def assign(conn: sqlite3.Connection, article_id: int) -> int:
            return int(self._stage("story", stories.assign, conn, article_id))

        store_module.assign_story = assign
        try:
            yield
        finally:
            store_module.assign_story = stories.assign

    def _stage(self, name: str, action: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        result = action(*args)
        self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started
        return result

    @property
    def seconds(self) -> float:
        return sum(self.stages.values())

    def other_paths(self, article: Article) -> None:
        """A revision, a 304, a duplicate and an off-topic page: rarer, still per page."""
        article_id = stored_from_same_link(self.db, article)
        assert article_id is not None
        revised = replace(article, text=article.text + "\n\nUpdated.", content_hash="changed")
        record_revision(self.db, article_id, revised)
        record_not_modified(self.db, article.requested_key, fetched_response(article)[0])
        copy = replace(article, url=article.url + "?copy", requested_url=article.url + "?copy")
        self.archive.find_duplicate(copy)
        self.archive.record_outcome(
            "bench", _keys(copy), "duplicate", "same text", status=200, duplicate_of=article.url
        )
        self.archive.record_outcome("bench", [(copy.url + "x", copy.url + "x")], "irrelevant", "")
        self.db.execute(  # RunRecorder.spider_opened: an earlier run killed mid-way
            "update crawl_runs set status = 'interrupted' where source = ? and status = 'running'",
            ["bench"],
        )


@contextmanager
def traced(conn: sqlite3.Connection) -> Iterator[list[str]]:
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        conn.set_trace_callback(None)


def measure_store(
    empty: Path, big: Path, articles: list[Article]
) -> tuple[StorePath, StorePath, list[str]]:
    """Per-article seconds of the store path into each archive, and the statements it ran.
    The two archives take turns, article by article, so a load on the machine hits both."""
    into_empty, into_big = StorePath(empty), StorePath(big)
    with traced(into_big.db.conn) as statements:
        for article in articles:
            into_empty.store(article)
            into_big.store(article)
        into_big.other_paths(articles[0])
    into_empty.archive.close()
    into_big.archive.close()
    return into_empty, into_big, statements


_LITERAL = re.compile(r"'(?:[^']|'')*'|X'[0-9A-Fa-f]*'|\b\d+(?:\.\d+)?\b")
_TABLE_REF = re.compile(
    r"\b(?:from|join|update|into)\s+([A-Za-z_][\w]*)(?:\s+(?:as\s+)?(?!where\b|on\b|set\b|"
    r"values\b|join\b|left\b|order\b|limit\b|group\b|union\b|select\b)([A-Za-z_]\w*))?",
    re.IGNORECASE,
)


def shape(sql: str) -> str:
    """A statement with its values taken out, to list each statement once."""
    sql = _LITERAL.sub("?", sql).replace("-?", "?")
    return " ".join(re.sub(r"\(\?(?:, \?)+\)", "(?, ...)", sql).split())


@dataclass
class Plan:
    sql: str
    steps: list[str]
    scans: list[str]  # growing tables it reads whole


def query_plans(db_path: Path, statements: list[str]) -> list[Plan]:
    conn = sqlite3.connect(db_path)
    plans: dict[str, Plan] = {}
    for sql in statements:
        key = shape(sql)
        if key in plans or not re.match(r"\s*(select|insert|update|delete|with)", sql, re.I):
            continue
        aliases = {m.group(2) or m.group(1): m.group(1) for m in _TABLE_REF.finditer(sql)}
        aliases |= {m.group(1): m.group(1) for m in _TABLE_REF.finditer(sql)}
        try:
            steps = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # sqlite-utils' probe of the SQLite version
                continue
            raise
        scans = []
        for step in steps:
            if match := re.match(r"SCAN (\w+)", step):
                table = aliases.get(match.group(1), match.group(1))
                if table in GROWING:
                    scans.append(f"{table} ({step})")
        plans[key] = Plan(key, steps, scans)
    conn.close()
    return list(plans.values())


def forget_bench_articles(db_path: Path) -> int:
    """Take what an earlier run of this bench stored (source ``bench``) out of a kept archive,
    so that ``--reuse`` can store the same pages again as new ones; the number of articles."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    bench = "source = 'bench'"
    rows = conn.execute(f"select id, story_id from articles where {bench}").fetchall()
    conn.execute("BEGIN IMMEDIATE")
    ids = ", ".join(str(article_id) for article_id, _ in rows) or "null"
    conn.execute(f"delete from pages where url in (select url from articles where {bench})")
    conn.execute(f"delete from fetch_state where key in (select key from seen_urls where {bench})")
    conn.execute(f"delete from seen_urls where {bench}")
    sketches = SketchIndex(conn)
    for article_id, _ in rows:
        sketches.remove(article_id)
    conn.execute(f"delete from story_links where article_id in ({ids}) or linked_id in ({ids})")
    conn.execute(f"delete from articles where {bench}")
    conn.execute(f"delete from duplicates where {bench}")
    conn.execute(f"delete from crawl_runs where {bench}")
    for story_id in {story_id for _, story_id in rows if story_id is not None}:
        stories.refresh(conn, story_id)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return len(rows)


# --- 3: the review server ---------------------------------------------------------------


def review_paths(db_path: Path) -> list[str]:
    """The pages a reviewer opens first, and every saved query with typical arguments."""
    conn = sqlite3.connect(db_path)
    article_id, story_id = conn.execute(
        "select id, story_id from articles order by id desc limit 1"
    ).fetchone()
    busy_story = conn.execute(
        "select id from stories where articles > 1 order by id desc limit 1"
    ).fetchone()
    conn.close()
    name = db_path.stem
    week_ago = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%d")
    arguments = {
        "feed": "",
        "story": f"?id={busy_story[0] if busy_story else story_id}",
        "search": "?q=Libya",
        "new_since": f"?since={week_ago}",
        "article_history": f"?article={article_id}",
    }
    paths = [
        "/",
        f"/{name}",
        f"/{name}/articles",
        f"/{name}/articles?_search=Tripoli",
        f"/{name}/articles?source=afp&_sort_desc=published",
        f"/{name}/articles/{article_id}",
        f"/{name}/stories",
        f"/{name}/stories/{story_id}",
        f"/{name}/crawl_runs",
        f"/{name}/seen_urls",
        f"/{name}/article_versions",
        f"/{name}/duplicates",
        f"/{name}/story_links",
        f"/{name}/feed.atom",
        f"/{name}/search?q=Benghazi",
        f"/{name}/article_history?article=",
        "/-/coverage",
    ]
    queries = metadata_for(db_path)["databases"][name]["queries"]
    for query in queries:
        paths.append(f"/{name}/{query}{arguments.get(query, '')}")
    return paths


@dataclass
class Timing:
    path: str
    seconds: float
    cpu: float  # CPU seconds of this process (all of Datasette's threads): what the page
    # costs, whatever else the machine runs; on an idle machine the wall time is close to it
    status: int
    note: str


async def time_review(db_path: Path, paths: list[str]) -> list[Timing]:
    datasette = datasette_for(db_path)
    await datasette.invoke_startup()
    await datasette.client.get("/")  # start-up and the first template compile are no page's
    timings = []
    for path in paths:
        started, cpu = time.perf_counter(), time.process_time()
        response = await datasette.client.get(path, follow_redirects=True)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        body = response.text
        note = ""
        if "SQL query took too long" in body or response.status_code >= 400:
            note = "the query hit its time limit"
        elif "These facets timed out" in body:
            note = "(a facet gave up: by design on the whole table)"
        timings.append(Timing(path, seconds, cpu, response.status_code, note))
    return timings


# --- 4: the crawl, end to end -----------------------------------------------------------


def crawl_seconds(db: Path, site_origin: str, sources: Path) -> tuple[float, int]:
    command = [sys.executable, "-m", "scheduler", "crawl", "bench", "--db", str(db)]
    command += ["--origin-map", f"https://{HOST}={site_origin}"]
    for setting in (
        "DOWNLOAD_DELAY=0",
        "AUTOTHROTTLE_ENABLED=false",
        "CONCURRENT_REQUESTS_PER_DOMAIN=8",
        "CONCURRENT_REQUESTS=8",
        "NEWSMON_RELEVANCE_FILTER=false",
        "ROBOTSTXT_OBEY=false",
    ):
        command += ["-s", setting]
    seconds, run = timed_crawl(command, sources, db)
    return seconds, int(run["stored"] or 0)


# --- 5: size ----------------------------------------------------------------------------


def sizes(db_path: Path) -> tuple[int, int, int]:
    """(articles, bytes on disk, bytes of raw pages): the pages' gzip payloads and URLs
    (``length`` of a blob reads no overflow page, so this is quick on a big archive)."""
    conn = sqlite3.connect(db_path)
    (articles,) = conn.execute("select count(*) from articles").fetchone()
    (pages,) = conn.execute(
        "select coalesce(sum(length(html_gz) + length(url) + 40), 0) from pages"
    ).fetchone()
    conn.close()
    on_disk = sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))
    return articles, on_disk, pages


# --- the run ----------------------------------------------------------------------------


def section(title: str) -> None:
    print(f"\n== {title}")


def timed(label: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - started:.1f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=600, help="pages stored and crawled")
    parser.add_argument("--db", type=Path, help="the big archive [default: a temporary file]")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use the archive at --db (what an earlier run stored into it is taken out first)",
    )
    parser.add_argument(
        "--compacted",
        type=int,
        metavar="DAYS",
        help="build the archive with only the last DAYS' raw pages, as `newsmon compact "
        "--pages-older-than DAYSd` leaves it [default: every page]",
    )
    parser.add_argument("--keep", action="store_true", help="keep the archives afterwards")
    parser.add_argument("--no-crawl", action="store_true", help="skip step 4 (the crawl)")
    args = parser.parse_args(argv)
    if args.articles < 1 or args.pages < 1:
        parser.error("--articles and --pages must be positive")
    work = Path(tempfile.mkdtemp(prefix="newsmon-scale-"))
    big = args.db or work / "archive.db"
    failures: list[str] = []
    try:
        if not args.reuse:
            section(f"building an archive of {args.articles:,} articles: {big}")
            report = build_archive(big, args.articles, pages_days=args.compacted)
            print(f"built in {report.seconds:.0f} s; rows: {report.rows}")
        elif not big.exists():
            parser.error(f"--reuse: {big} does not exist")
        else:
            print(f"took out {forget_bench_articles(big)} articles of an earlier run")
        open_database(big).close()  # migrations of this branch (indexes) on a reused archive
        articles, on_disk, pages = sizes(big)
        section(f"store path: {args.pages} real pages into {articles:,} articles and into none")
        to_store = timed("extracted the pages", lambda: articles_to_store(args.pages))
        empty = work / "empty.db"
        open_database(empty).close()
        into_empty, into_big, statements = measure_store(empty, big, to_store)
        count = len(to_store)
        print(f"{'ms per article':<28}" + "".join(f"{n:>12}" for n in [*into_big.stages, "all"]))
        for label, path in (("empty archive", into_empty), (f"{articles:,} articles", into_big)):
            cells = [*(path.stages[n] for n in into_big.stages), path.seconds]
            print(f"{label:<28}" + "".join(f"{c * 1000 / count:>12.1f}" for c in cells))
        print(f"ratio: {into_big.seconds / into_empty.seconds:.2f} (target <= 1.1)")
        section("query plans of the crawl's hot path (on the big archive)")
        for plan in query_plans(big, statements):
            print(f"\n{plan.sql[:300]}")
            for step in plan.steps:
                print(f"    {step}")
            if plan.scans:
                failures.append(f"scans {', '.join(plan.scans)}: {plan.sql[:120]}")
                print(f"    !! SCANS A GROWING TABLE: {', '.join(plan.scans)}")
        section(f"newsmon serve on {articles:,} articles (target < {PAGE_LIMIT_SECONDS:.0f} s)")
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print("  wall     CPU  status  page")
        for timing in asyncio.run(time_review(big, review_paths(big))):
            slow = timing.cpu >= PAGE_LIMIT_SECONDS or timing.status >= 400
            mark = "  !!" if slow else ""
            print(
                f"{timing.seconds:6.2f} {timing.cpu:6.2f}  {timing.status}  {timing.path}"
                f"  {timing.note}{mark}"
            )
            if slow:
                failures.append(f"{timing.path}: {timing.cpu:.2f} CPU s, HTTP {timing.status}")
        if not args.no_crawl:
            section(f"newsmon crawl of {args.pages} pages, end to end")
            sources = work / "sources.toml"
            sources.write_text(SOURCES)
            # Copies numbered after step 1's: the same real pages, none of them stored yet
            # (the same texts would all be refused as duplicates).
            with served(make_pages(2 * args.pages)[args.pages :]) as (origin, _):
                # Into the archive of step 1 (it holds the same stored copies as the big one).
                empty_s, empty_n = crawl_seconds(empty, origin, sources)
                big_s, big_n = crawl_seconds(big, origin, sources)
            print(f"into a near-empty archive: {empty_s:.1f} s, {empty_n} stored")
            print(f"into {articles:,} articles: {big_s:.1f} s, {big_n} stored")
            if empty_n and big_n:
                ratio = (big_s / big_n) / (empty_s / empty_n)
                print(f"per-article ratio: {ratio:.2f} (includes start-up and extraction)")
        section("size")
        print(f"database: {on_disk / 2**30:.2f} GiB for {articles:,} articles")
        per_k = 1000 / max(articles, 1) / 2**20
        print(f"per 1,000 articles: {on_disk * per_k:.1f} MiB with raw pages, ", end="")
        print(f"{(on_disk - pages) * per_k:.1f} MiB without (raw pages: {pages * per_k:.1f} MiB)")
    finally:
        if args.keep:
            print(f"\nkept: {work} {big if args.db else ''}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            if args.db and not args.reuse:
                for path in big.parent.glob(big.name + "*"):
                    path.unlink()
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A synthetic archive of N articles, as ten years of crawling would leave it, built fast.

The schema is the real one (``open_database`` runs the project's migrations); the rows are
written in bulk (``executemany``, no journal, indexes and full-text triggers dropped during
the load and rebuilt once at the end), so a million articles take minutes, not hours.

What the rows are made of, and in which proportions (per stored article, over ten years at
~300 articles a day):

* ``articles``: texts made of 3-4 real Reuters-21578 stories about Libya (the relevance set)
  and the texts of the real captured article pages, shuffled per article and made unique by
  one sentence; real sources, sites, agencies and credit evidence in the proportions of the
  three declared sources and their licensees; publication dates spread evenly over the years.
* ``pages``: every stored article's fetched HTML, gzip, at the size of the real captured pages
  (each row is a real page's gzip plus a small gzip member that makes it unique).
* ``article_versions``: version 1 of every article, and a second version for 8% of them.
* ``stories``: ~2.3 articles a story (60% alone), ``story_links`` for republished copies and
  write-ups, ``text_sketches`` (a 128-value signature and the lead terms of the text) and
  ``sketch_bands`` (42 band keys an article, as ``pipelines.neardup`` writes them). Signatures
  are random: the synthetic texts share their templates, and real signatures would make every
  copy of a template one story, which ten years of real news never is.
* ``seen_urls``: ~3.8 keys an article (the stored URL, a distinct requested URL for 30%,
  two off-topic pages of licensee feeds, duplicates, pages without text or credit, failures);
  ``fetch_state`` for every fetched key; ``duplicates`` for every duplicate.
* ``crawl_runs``: one a source per its declared interval (30 min for rferl, 1 h otherwise).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import random
import re
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.database import open_database
from pipelines.neardup import BANDS, NUM_PERM, lead_terms
from tests.siteserver import FIXTURES

PER_DAY = 300
_WORDS = re.compile(r"[^\W_]+")
BATCH = 5_000
RELEVANCE_SET = FIXTURES / "real" / "relevance" / "reuters21578_about_libya.jsonl"

# (source, share of articles, [(site, share within the source, agency)])
SOURCES: list[tuple[str, float, list[tuple[str, float, str | None]]]] = [
    ("rferl", 0.25, [("www.rferl.org", 1.0, None)]),
    (
        "afp",
        0.45,
        [
            ("www.france24.com", 0.55, "AFP"),
            ("factcheck.afp.com", 0.10, "AFP"),
            ("japantoday.com", 0.15, "AFP"),
            ("www.naharnet.com", 0.10, "AFP"),
            ("www.taipeitimes.com", 0.10, "AFP"),
        ],
    ),
    (
        "reuters",
        0.30,
        [
            ("www.reuters.com", 0.20, "Reuters"),
            ("english.ahram.org.eg", 0.50, "Reuters"),
            ("www.devdiscourse.com", 0.20, "Reuters"),
            ("theprint.in", 0.10, "Reuters"),
        ],
    ),
]
RUN_INTERVAL_MINUTES = {"rferl": 30, "afp": 60, "reuters": 60}
# Other seen_urls rows per stored article: (outcome, rows an article, http status).
OTHER_OUTCOMES = [
    ("irrelevant", 2.0, 200),
    ("duplicate", 0.15, 200),
    ("no_agency_credit", 0.20, 200),
    ("no_text", 0.03, 200),
    ("failed", 0.02, 503),
    ("gone", 0.01, 404),
]
SECOND_VERSION = 0.08
# The article keys (m011) are kept by triggers, which a bulk load drops: written here.
SEEN_COLUMNS = (
    "key, url, source, outcome, reason, http_status, attempts, article_url, first_seen, "
    "last_seen, article_id"
)
DUPLICATE_COLUMNS = "id, source, url, duplicate_of, reason, found, duplicate_of_id"
ARTICLE_COLUMNS = (
    "id, published, source, title, text, authors, agency, url, language, site, relevance, "
    "relevance_reason, matched_terms, description, modified, first_seen, last_seen, url_key, "
    "content_hash, requested_url, discovered_via, credit, story_id, story_role"
)
DISTINCT_REQUESTED_URL = 0.30
# The tables written with each article, in the order of _write_articles' lists.
TABLES = (
    f"articles ({ARTICLE_COLUMNS})",
    "article_versions",
    f"seen_urls ({SEEN_COLUMNS})",
    "fetch_state",
    f"duplicates ({DUPLICATE_COLUMNS})",
    "story_links",
    "text_sketches",
)
VIA = ("news_sitemap", "rss", "sitemap", "listing")
# (cumulative share, articles a story will have): 60% alone, a few large ones.
STORY_SIZES = [(0.60, 1), (0.75, 2), (0.87, 3), (0.96, 5), (1.0, 12)]
# (relevance, matched terms): "Libya" named 1-5 times, "Tripoli" 0-2.
TERMS = [
    (float(libya + tripoli), json.dumps({"Libya": libya, "Tripoli": tripoli}))
    for libya in range(1, 6)
    for tripoli in range(3)
]
# Texts cut from the templates once (3-4 real stories each, in random order); every article
# takes one and adds its own sentence, so the build does not re-assemble a text per article.
TEXT_VARIANTS = 4096


@dataclass
class Templates:
    """The real material the synthetic rows are cut from."""

    stories: list[tuple[str, list[str]]]  # (title, paragraphs)
    pages_gz: list[tuple[int, bytes]]  # (html size, gzip of it)

    @classmethod
    def load(cls) -> Templates:
        stories = []
        for line in RELEVANCE_SET.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            paragraphs = [" ".join(p.split()) for p in record["text"].split("\n    ")]
            if record["title"].strip():  # the store never keeps an article without one
                stories.append((record["title"].title(), [p for p in paragraphs if p]))
        for expected in sorted(FIXTURES.glob("real/*/pages/*.expected.json")):
            record = json.loads(expected.read_text(encoding="utf-8"))
            if record.get("title") and record.get("text"):
                paragraphs = [p for p in record["text"].split("\n\n") if p.strip()]
                stories.append((record["title"], paragraphs))
        pages = []
        for page in sorted(FIXTURES.glob("real/*/pages/*.html")):
            html = page.read_bytes()
            pages.append((len(html), gzip.compress(html, 6, mtime=0)))
        return cls(stories, pages)


@dataclass(frozen=True)
class Body:
    """A text cut from the real stories, with the place of an article's own sentence."""

    title: str
    slug: str
    head: str  # the paragraphs before the sentence, each followed by a blank line
    tail: str  # the paragraphs after it, each preceded by one
    lead: str  # the lead terms (pipelines.neardup.lead_terms) of title and first paragraphs


@dataclass
class Story:
    id: int
    first_id: int
    title: str
    first: str
    last: str
    size: int
    target: int
    sources: set[str] = field(default_factory=set)
    sites: set[str] = field(default_factory=set)


@dataclass
class BuildReport:
    articles: int
    seconds: float
    rows: dict[str, int]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")[:19] + "Z"


def _stamp(seconds: float) -> str:
    """An ISO 8601 UTC timestamp, as ``_iso`` writes it, of seconds since the epoch."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _gzip_member(data: bytes) -> bytes:
    """A gzip member holding ``data`` uncompressed (a stored deflate block): appended to a
    page's gzip it makes the row unique for a fraction of what compressing it would cost."""
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    size = len(data).to_bytes(2, "little")
    inverse = (len(data) ^ 0xFFFF).to_bytes(2, "little")
    trailer = zlib.crc32(data).to_bytes(4, "little") + len(data).to_bytes(4, "little")
    return header + b"\x01" + size + inverse + data + trailer


def _pick_source(rng: random.Random) -> tuple[str, str, str | None]:
    roll = rng.random()
    for name, share, sites in SOURCES:
        if roll < share:
            site_roll = rng.random()
            for site, site_share, agency in sites:
                if site_roll < site_share:
                    return name, site, agency
                site_roll -= site_share
            return name, sites[-1][0], sites[-1][2]
        roll -= share
    name, _, sites = SOURCES[-1]
    return name, sites[0][0], sites[0][2]


def _slug(title: str) -> str:
    return "-".join(_WORDS.findall(title.lower()))[:80]


def _url(source: str, site: str, slug: str, serial: int) -> tuple[str, str]:
    """(url, dedupe key) as the crawl makes them."""
    if source == "rferl":
        url = f"https://{site}/a/{slug}/{30_000_000 + serial}.html"
        return url, f"rferl:{30_000_000 + serial}"
    url = f"https://{site}/news/{slug}-{serial}"
    return url, url


class Builder:
    def __init__(
        self, path: Path, articles: int, seed: int, now: datetime, pages_days: float | None
    ):
        self.path = path
        self.n = articles
        self.rng = random.Random(seed)
        self.now = now
        self.pages_days = pages_days
        self.templates = Templates.load()
        self.rows: dict[str, int] = {}
        self.stories: dict[int, Story] = {}
        self.open_stories: list[Story] = []
        self.bodies = self._bodies(TEXT_VARIANTS)
        self.authors = [json.dumps([f"Reporter {k}"]) for k in range(400)]
        days = self.n / PER_DAY
        self.start = (now - timedelta(days=days)).replace(tzinfo=UTC).timestamp()
        self.step = days * 86400 / self.n
        self.fetched: list[tuple[str, str]] = []  # (url, last_seen): the pages, written last

    # --- the run ------------------------------------------------------------------------

    def build(self) -> BuildReport:
        started = time.perf_counter()

        def progress(what: str) -> None:
            print(f"  {what} ({time.perf_counter() - started:.0f} s)", flush=True)

        open_database(self.path).close()  # the real schema, by the project's migrations
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -1000000")  # 1 GB
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        deferred = self._drop_indexes_and_triggers(conn)
        conn.execute("BEGIN")
        for done in range(0, self.n, BATCH):
            self._write_articles(conn, done, min(done + BATCH, self.n))
            if (done // BATCH) % 20 == 19:
                conn.execute("COMMIT")
                conn.execute("BEGIN")
                progress(f"{done + BATCH:>9,} articles")
        self._write_bands(conn)
        self._write_stories(conn)
        self._write_runs(conn)
        conn.execute("COMMIT")
        progress("rows written; building indexes")
        conn.execute("BEGIN")
        for sql in deferred:
            conn.execute(sql)
        conn.execute("COMMIT")
        progress("indexes built; full-text index")
        conn.execute("insert into articles_fts (articles_fts) values ('rebuild')")
        progress("full-text index built; raw pages")
        # Last, so that the articles' and versions' pages lie together in the file (and in
        # the OS cache) while the indexes above read them.
        conn.execute("BEGIN")
        self._write_pages(conn)
        conn.execute("COMMIT")
        progress("raw pages written")
        # No ANALYZE: a real archive has no statistics either, and the planner must do well
        # without them.
        conn.execute("PRAGMA locking_mode = NORMAL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
        return BuildReport(self.n, time.perf_counter() - started, self.rows)

    def _drop_indexes_and_triggers(self, conn: sqlite3.Connection) -> list[str]:
        """Drop what a bulk load maintains row by row; the statements that rebuild it."""
        rows = conn.execute(
            "select type, name, sql from sqlite_master "
            "where type in ('index', 'trigger') and sql is not null "
            "and tbl_name not like '\\_%' escape '\\'"
        ).fetchall()
        for kind, name, _ in rows:
            conn.execute(f'drop {kind} "{name}"')
        return [sql for kind, _, sql in rows if kind == "index"] + [
            sql for kind, _, sql in rows if kind == "trigger"
        ]

    def _insert(
        self, conn: sqlite3.Connection, table: str, rows: Iterable[tuple[Any, ...]]
    ) -> None:
        """Insert ``rows`` (all of one width) into ``table`` ("name (columns)" or "name")."""
        rows = iter(rows)
        first = next(rows, None)
        if first is None:
            return
        marks = ", ".join("?" * len(first))
        before = conn.total_changes
        conn.executemany(f"insert into {table} values ({marks})", itertools.chain([first], rows))
        name = table.split()[0]
        self.rows[name] = self.rows.get(name, 0) + conn.total_changes - before

    # --- articles and everything written with them --------------------------------------

    def _bodies(self, count: int) -> list[Body]:
        """Texts of 3-4 real stories in random order, each with the place where an article's
        own sentence goes (after the lead, so lead terms are those of the real stories)."""
        rng, stories = self.rng, self.templates.stories
        bodies = []
        for _ in range(count):
            parts = rng.sample(stories, rng.choice((3, 3, 4)))
            title = parts[0][0]
            paragraphs = [p for _, body in parts for p in body]
            where = rng.randrange(min(2, len(paragraphs)), len(paragraphs) + 1)
            head, tail = paragraphs[:where], paragraphs[where:]
            lead = " ".join(sorted(lead_terms(title, " ".join(paragraphs[:2]))))
            bodies.append(
                Body(
                    title,
                    _slug(title),
                    "".join(p + "\n\n" for p in head),
                    "".join("\n\n" + p for p in tail),
                    lead,
                )
            )
        return bodies

    def _write_articles(self, conn: sqlite3.Connection, first: int, end: int) -> None:
        rows: dict[str, list[tuple[Any, ...]]] = {}
        articles, versions, seen, fetch, dupes, links, sketches = (
            rows.setdefault(table, []) for table in TABLES
        )
        rng = self.rng
        rand = rng.random
        bodies, authors, fetched = self.bodies, self.authors, self.fetched
        for i in range(first, end):
            article_id = i + 1
            source, site, agency = _pick_source(rng)
            body = bodies[int(rand() * len(bodies))]
            title = body.title
            filed = int(rand() * 1_000_000)
            text = f"{body.head}Report {i} from the Libya desk, filed {filed}.{body.tail}"
            moment = self.start + i * self.step + (rand() - 0.5) * 3600
            published = _stamp(moment)
            first_seen = _stamp(moment + 60 * (5 + int(rand() * 85)))
            last_seen = _stamp(moment + 3600 * (1 + int(rand() * 71)))
            url, key = _url(source, site, body.slug, i)
            requested = url
            if rand() < DISTINCT_REQUESTED_URL:
                requested = f"{url}?utm_source=rss&utm_medium={i}"
            roll = rand()
            language = "en" if roll < 0.9 else "fr" if roll < 0.95 else "ar"
            credit = f'["byline: {agency}"]' if agency else "[]"
            if agency is None and rand() < 0.1:
                agency, credit = "AFP, Reuters", '["credit line: with AFP and Reuters"]'
            relevance, terms = TERMS[int(rand() * len(TERMS))]
            v1_hash = hashlib.sha256(text.encode()).hexdigest()
            newest_text, newest_hash, modified = text, v1_hash, None
            versions.append((None, article_id, 1, title, text, None, v1_hash, first_seen))
            if rand() < SECOND_VERSION:
                modified = _stamp(moment + 3600 * (1 + int(rand() * 23)))
                newest_text = text + f"\n\nUpdated with new details ({i})."
                newest_hash = hashlib.sha256(newest_text.encode()).hexdigest()
                versions.append(
                    (None, article_id, 2, title, newest_text, modified, newest_hash, modified)
                )
            story, role = self._story_of(article_id, title, published, source, site)
            if role != "original":
                relation = "copy_of" if role == "republished" else "based_on"
                links.append((article_id, story.first_id, relation, agency, 0.3 + 0.7 * rand()))
            articles.append(
                (
                    article_id, published, source, title, newest_text,
                    authors[int(rand() * len(authors))] if rand() < 0.6 else "[]",
                    agency, url, language, site, relevance,
                    "title, lead", terms, newest_text[:200], modified,
                    first_seen, last_seen, key, newest_hash, requested,
                    VIA[int(rand() * len(VIA))], credit, story.id, role,
                )
            )  # fmt: skip
            fetched.append((url, last_seen))
            attempts = 1 + int(rand() * 3)
            seen.append(
                (key, url, source, "stored", "", 200, attempts, url, first_seen, last_seen,
                 article_id)
            )  # fmt: skip
            fetch.append((key, f'"{i:x}"', None, published, last_seen))
            if requested != url:
                seen.append(
                    (requested, requested, source, "stored", "", 200, 1, url, first_seen,
                     last_seen, article_id)
                )  # fmt: skip
            for outcome, per_article, status in OTHER_OUTCOMES:
                count = int(per_article) + (rand() < per_article % 1)
                for j in range(count):
                    other = f"https://{site}/news/{outcome}-{i}-{j}"
                    original = url if outcome == "duplicate" else None
                    seen.append(
                        (other, other, source, outcome, f"{outcome} ({status})", status,
                         1, original, first_seen, first_seen, article_id if original else None)
                    )  # fmt: skip
                    if outcome != "failed":
                        fetch.append((other, None, None, None, first_seen))
                    if original:
                        dupes.append(
                            (None, source, other, url, "same text", first_seen, article_id)
                        )
            sketches.append((article_id, rng.randbytes(NUM_PERM * 4), body.lead))
        for table, table_rows in rows.items():
            self._insert(conn, table, table_rows)

    def _write_bands(self, conn: sqlite3.Connection) -> None:
        """The near-duplicate index: one random 64-bit key per LSH band per article, as
        ``pipelines.neardup`` writes them, generated by SQLite in key order.

        Sorting tens of millions of random keys took most of a big build; instead the key
        range is cut into as many strata as rows and each row draws its key within its
        stratum (a sorted uniform sample, the same tree as random keys sorted), and the
        articles are dealt to the rows by a stride prime to their number, so that each
        article gets BANDS keys spread over the whole range, as hashed band keys are."""
        total = self.n * BANDS
        step = 2**64 // total
        stride = 2_147_483_647  # a prime larger than any article count here
        conn.execute("create temp table numbers (n integer primary key)")
        conn.executemany("insert into numbers values (?)", ((n,) for n in range(10_000)))
        before = conn.total_changes
        conn.execute(
            "insert into sketch_bands (key, article_id) "
            "select (r - ?) * ? + (random() & 9223372036854775807) % ?, (r * ?) % ? + 1 "
            "from (select high.n * 10000 + low.n as r from numbers high, numbers low "
            "      where high.n <= ? and r < ?)",
            [total // 2, step, step, stride, self.n, total // 10_000, total],
        )
        self.rows["sketch_bands"] = conn.total_changes - before
        conn.execute("drop table numbers")

    def _write_pages(self, conn: sqlite3.Connection) -> None:
        """Every stored article's fetched page: a real page's gzip plus a small gzip member
        that makes it unique. With ``pages_days``, only the pages fetched in those last days:
        the archive as ``newsmon compact --pages-older-than <days>d`` leaves it."""
        cutoff = ""
        if self.pages_days is not None:
            cutoff = _stamp(self.now.replace(tzinfo=UTC).timestamp() - self.pages_days * 86400)
        templates = self.templates.pages_gz
        rand = self.rng.random

        def rows() -> Iterator[tuple[str, str, str, int, bytes]]:
            for i, (url, fetched) in enumerate(self.fetched):
                size, page_gz = templates[int(rand() * len(templates))]
                if fetched >= cutoff:
                    yield url, fetched, "utf-8", size, page_gz + _gzip_member(b"%d" % i)

        self.rows["pages"] = 0
        self._insert(conn, "pages", rows())

    def _story_of(
        self, article_id: int, title: str, published: str, source: str, site: str
    ) -> tuple[Story, str]:
        """The story an article joins (a new one 45% of the time) and its role in it."""
        rand = self.rng.random
        if self.open_stories and rand() < 0.55:
            story = self.open_stories[int(rand() * len(self.open_stories))]
            roll = rand()
            role = "republished" if roll < 0.6 else "rewrite" if roll < 0.7 else "original"
        else:
            roll, target = rand(), STORY_SIZES[-1][1]
            for threshold, size in STORY_SIZES:
                if roll < threshold:
                    target = size
                    break
            story = Story(len(self.stories) + 1, article_id, title, published, published, 0, target)
            self.stories[story.id] = story
            if target > 1:
                self.open_stories.append(story)
            role = "original"
        story.size += 1
        story.last = published
        story.sources.add(source)
        story.sites.add(site)
        if story.size == story.target and story.target > 1:
            self.open_stories.remove(story)
        return story, role

    def _write_stories(self, conn: sqlite3.Connection) -> None:
        rows = [
            (s.id, s.title, s.first, s.last, s.size, json.dumps(sorted(s.sources)),
             json.dumps(sorted(s.sites)))
            for s in self.stories.values()
        ]  # fmt: skip
        for chunk in _chunks(rows, BATCH):
            self._insert(conn, "stories", chunk)

    def _write_runs(self, conn: sqlite3.Connection) -> None:
        start = self.now - timedelta(days=self.n / PER_DAY)
        columns = (
            "run_id, source, started, finished, status, reason, finish_reason, requests, "
            "responses_2xx, responses_3xx, responses_4xx, responses_5xx, pages, stored, "
            "duplicates, irrelevant, rejected, blocked, errors, log_path, sites, kind, "
            "updated, not_modified, refetched"
        )
        rows: list[tuple[Any, ...]] = []
        for source, minutes in RUN_INTERVAL_MINUTES.items():
            moment = start
            while moment < self.now:
                status = self.rng.choices(("ok", "partial", "failed", "blocked"), (90, 6, 2, 2))[0]
                stored = self.rng.randrange(0, 6)
                rows.append(
                    (f"run-{source}-{len(rows)}", source, _iso(moment),
                     _iso(moment + timedelta(seconds=40)), status,
                     "" if status == "ok" else "1 error(s); first: HTTP 503", "finished",
                     60, 55, 2, 1, 2, stored + 10, stored, 1, 8, 10, 0, 0,
                     f"/var/log/newsmon/{source}-{len(rows)}.log", "{}", "crawl", 0, 3, 1)
                )  # fmt: skip
                moment += timedelta(minutes=minutes)
        for chunk in _chunks(rows, BATCH):
            marks = ", ".join("?" * len(chunk[0]))
            conn.executemany(f"insert into crawl_runs ({columns}) values ({marks})", chunk)
        self.rows["crawl_runs"] = len(rows)


def _chunks(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def build_archive(
    path: Path, articles: int, *, seed: int = 13, pages_days: float | None = None
) -> BuildReport:
    """Create ``path`` (which must not exist) holding ``articles`` synthetic articles; with
    ``pages_days``, only the raw pages of the last that many days (a compacted archive)."""
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it or pick another path")
    now = datetime.now(UTC).replace(tzinfo=None)
    return Builder(path, articles, seed, now, pages_days).build()

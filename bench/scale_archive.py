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
import json
import random
import re
import sqlite3
import time
import zlib
from array import array
from collections.abc import Iterator
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


def _url(source: str, site: str, title: str, serial: int) -> tuple[str, str]:
    """(url, dedupe key) as the crawl makes them."""
    slug = _slug(title)
    if source == "rferl":
        url = f"https://{site}/a/{slug}/{30_000_000 + serial}.html"
        return url, f"rferl:{30_000_000 + serial}"
    url = f"https://{site}/news/{slug}-{serial}"
    return url, url


class Builder:
    def __init__(self, path: Path, articles: int, seed: int, now: datetime):
        self.path = path
        self.n = articles
        self.rng = random.Random(seed)
        self.now = now
        self.templates = Templates.load()
        self.rows: dict[str, int] = {}
        self.stories: dict[int, Story] = {}
        self.open_stories: list[Story] = []
        self.leads: dict[tuple[str, str], str] = {}

    # --- the run ------------------------------------------------------------------------

    def build(self) -> BuildReport:
        started = time.perf_counter()
        open_database(self.path).close()  # the real schema, by the project's migrations
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -1000000")  # 1 GB
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        deferred = self._drop_indexes_and_triggers(conn)
        conn.execute("create temp table bands (key integer, article_id integer)")
        conn.execute("BEGIN")
        for done in range(0, self.n, BATCH):
            self._write_articles(conn, done, min(done + BATCH, self.n))
            if (done // BATCH) % 20 == 19:
                conn.execute("COMMIT")
                conn.execute("BEGIN")
                print(f"  {done + BATCH:>9,} articles ({time.perf_counter() - started:.0f} s)")
        self._write_stories(conn)
        self._write_runs(conn)
        conn.execute("COMMIT")
        print(f"  rows written ({time.perf_counter() - started:.0f} s); building indexes")
        conn.execute("BEGIN")
        conn.execute(
            "insert into sketch_bands (key, article_id) "
            "select key, article_id from bands order by key, article_id"
        )
        conn.execute("drop table bands")
        for sql in deferred:
            conn.execute(sql)
        conn.execute("COMMIT")
        print(f"  indexes built ({time.perf_counter() - started:.0f} s); full-text index")
        conn.execute("insert into articles_fts (articles_fts) values ('rebuild')")
        # No ANALYZE: a real archive has no statistics either, and the planner must do well
        # without them.
        conn.execute("PRAGMA locking_mode = NORMAL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
        self.rows["sketch_bands"] = self.rows.pop("temp.bands", 0)
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

    def _insert(self, conn: sqlite3.Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        marks = ", ".join("?" * len(rows[0]))
        conn.executemany(f"insert into {table} values ({marks})", rows)
        name = table.split()[0]
        self.rows[name] = self.rows.get(name, 0) + len(rows)

    # --- articles and everything written with them --------------------------------------

    def _moment(self, i: int) -> datetime:
        days = self.n / PER_DAY
        start = self.now - timedelta(days=days)
        offset = i * days * 86400 / self.n + self.rng.uniform(-1800, 1800)
        return start + timedelta(seconds=offset)

    def _text(self, i: int) -> tuple[str, str, str]:
        """Title, text and the lead terms of the text."""
        stories = self.templates.stories
        parts = self.rng.sample(stories, self.rng.choice((3, 3, 4)))
        title = parts[0][0]
        paragraphs = [p for _, body in parts for p in body]
        # After the lead (so the lead terms of a template pair can be kept once).
        where = self.rng.randrange(min(2, len(paragraphs)), len(paragraphs) + 1)
        paragraphs.insert(
            where, f"Report {i} from the Libya desk, filed {self.rng.randrange(10**6)}."
        )
        lead_key = (title, parts[1][0])
        if lead_key not in self.leads:
            self.leads[lead_key] = " ".join(sorted(lead_terms(title, " ".join(paragraphs[:2]))))
        return title, "\n\n".join(paragraphs), self.leads[lead_key]

    def _write_articles(self, conn: sqlite3.Connection, first: int, end: int) -> None:
        articles, versions, pages, seen, fetch, dupes, links, sketches, bands = (
            [] for _ in range(9)
        )
        rng = self.rng
        for i in range(first, end):
            article_id = i + 1
            source, site, agency = _pick_source(rng)
            title, text, lead = self._text(i)
            moment = self._moment(i)
            published = _iso(moment)
            first_seen = _iso(moment + timedelta(minutes=rng.randrange(5, 90)))
            last_seen = _iso(moment + timedelta(hours=rng.randrange(1, 72)))
            url, key = _url(source, site, title, i)
            requested = url
            if rng.random() < DISTINCT_REQUESTED_URL:
                requested = f"{url}?utm_source=rss&utm_medium={i}"
            language = rng.choices(("en", "fr", "ar"), (90, 5, 5))[0]
            credit = [f"byline: {agency}"] if agency else []
            if agency is None and rng.random() < 0.1:
                agency, credit = "AFP, Reuters", ["credit line: with AFP and Reuters"]
            terms = {"Libya": rng.randrange(1, 6), "Tripoli": rng.randrange(0, 3)}
            v1_hash = hashlib.sha256(text.encode()).hexdigest()
            newest_text, newest_hash, modified = text, v1_hash, None
            versions.append((None, article_id, 1, title, text, None, v1_hash, first_seen))
            if rng.random() < SECOND_VERSION:
                modified = _iso(moment + timedelta(hours=rng.randrange(1, 24)))
                newest_text = text + f"\n\nUpdated with new details ({i})."
                newest_hash = hashlib.sha256(newest_text.encode()).hexdigest()
                versions.append(
                    (None, article_id, 2, title, newest_text, modified, newest_hash, modified)
                )
            story, role = self._story_of(article_id, title, published, source, site)
            if role != "original":
                relation = "copy_of" if role == "republished" else "based_on"
                links.append((article_id, story.first_id, relation, agency, rng.uniform(0.3, 1.0)))
            articles.append(
                (
                    article_id, published, source, title, newest_text,
                    json.dumps([f"Reporter {rng.randrange(400)}"]) if rng.random() < 0.6
                    else "[]",
                    agency, url, language, site, float(sum(terms.values())),
                    "title, lead", json.dumps(terms), newest_text[:200], modified,
                    first_seen, last_seen, key, newest_hash, requested,
                    rng.choice(("news_sitemap", "rss", "sitemap", "listing")),
                    json.dumps(credit), story.id, role,
                )
            )  # fmt: skip
            size, page_gz = rng.choice(self.templates.pages_gz)
            pages.append((url, last_seen, "utf-8", size, page_gz + _gzip_member(b"%d" % i)))
            attempts = rng.randrange(1, 4)
            seen.append(
                (
                    key,
                    url,
                    source,
                    "stored",
                    "",
                    200,
                    attempts,
                    url,
                    first_seen,
                    last_seen,
                    article_id,
                )
            )
            fetch.append((key, f'"{i:x}"', None, published, last_seen))
            if requested != url:
                seen.append(
                    (
                        requested,
                        requested,
                        source,
                        "stored",
                        "",
                        200,
                        1,
                        url,
                        first_seen,
                        last_seen,
                        article_id,
                    )
                )
            for outcome, per_article, status in OTHER_OUTCOMES:
                count = int(per_article) + (rng.random() < per_article % 1)
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
            sketches.append(
                (
                    article_id,
                    rng.randbytes(NUM_PERM * 4),
                    lead,
                )
            )
            band_keys = array("q", rng.randbytes(8 * BANDS))
            bands.extend((band, article_id) for band in band_keys)
        self._insert(conn, f"articles ({ARTICLE_COLUMNS})", articles)
        self._insert(conn, "article_versions", versions)
        self._insert(conn, "pages", pages)
        self._insert(conn, f"seen_urls ({SEEN_COLUMNS})", seen)
        self._insert(conn, "fetch_state", fetch)
        self._insert(conn, f"duplicates ({DUPLICATE_COLUMNS})", dupes)
        self._insert(conn, "story_links", links)
        self._insert(conn, "text_sketches", sketches)
        self._insert(conn, "temp.bands", bands)

    def _story_of(
        self, article_id: int, title: str, published: str, source: str, site: str
    ) -> tuple[Story, str]:
        """The story an article joins (a new one 45% of the time) and its role in it."""
        rng = self.rng
        self.open_stories = [s for s in self.open_stories if s.size < s.target]
        if self.open_stories and rng.random() < 0.55:
            story = rng.choice(self.open_stories)
            role = rng.choices(("republished", "rewrite", "original"), (60, 10, 30))[0]
        else:
            target = rng.choices((1, 2, 3, 5, 12), (60, 15, 12, 9, 4))[0]
            story = Story(len(self.stories) + 1, article_id, title, published, published, 0, target)
            self.stories[story.id] = story
            if target > 1:
                self.open_stories.append(story)
            role = "original"
        story.size += 1
        story.last = published
        story.sources.add(source)
        story.sites.add(site)
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
        rows = []
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


def build_archive(path: Path, articles: int, *, seed: int = 13) -> BuildReport:
    """Create ``path`` (which must not exist) holding ``articles`` synthetic articles."""
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it or pick another path")
    return Builder(path, articles, seed, datetime.now(UTC).replace(tzinfo=None)).build()

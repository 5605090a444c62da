"""Re-extraction: stored articles read again from the raw pages kept beside them.

An article is extracted once, when it is fetched, but extraction keeps improving: a site's
title suffix gets declared, a credit line is learnt, Trafilatura is upgraded. The page each
article came from is kept (the ``pages`` table) so that the archive can catch up: the page is
judged again with today's code, declarations and settings, exactly as ``newsmon extract``
judges a saved file, and where the reading differs, the stored one is corrected.

It is corrected **in place**, in the ``articles`` row and in its newest version, not added as
a version: ``article_versions`` records what the site published, a row per fetch whose text
changed, and a better reading of the same fetch is not news. The page always belongs to the
newest version, since a revision replaces the page in the transaction that adds the version.
Older versions keep their old reading: their pages are gone.

An article that today's rules would not store (its text is no longer found, it no longer
reads as about Libya, a licensee's page no longer credits the agency) is left as it is and
reported: a rule that got worse must not empty the archive, and a reviewer decides.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlite_utils

from crawler.sources import Source
from crawler.urls import host_of
from pipelines.database import write_transaction
from pipelines.explain import Rules, explain_page
from pipelines.extraction import content_hash
from pipelines.stories import assign as assign_story
from pipelines.stories import refresh as refresh_story
from pipelines.workers import WorkerFailed, WorkerPool

BATCH = 100  # articles read per query: a years-long archive is not read in one cursor

# The columns a reading fills, in the order a reviewer reads them in the report.
READ_COLUMNS = (
    "title",
    "text",
    "published",
    "modified",
    "authors",
    "language",
    "description",
    "agency",
    "credit",
    "relevance",
    "matched_terms",
    "relevance_reason",
)
JSON_COLUMNS = ("authors", "credit", "matched_terms")  # compared as values, stored as JSON


@dataclass(frozen=True)
class StoredPage:
    """An article as stored, with the page it was read from."""

    article_id: int
    url: str
    fetched_url: str  # the page's address on the site it was fetched from (the crawl's)
    source: str
    fetched: str  # the page's: it tells a page replaced meanwhile by a crawl
    html_gz: bytes  # as stored: a worker opens it
    columns: dict[str, Any]  # READ_COLUMNS as stored (JSON ones decoded), and content_hash


@dataclass(frozen=True)
class Reading:
    """What re-extracting one article's page found."""

    article_id: int
    url: str
    changed: tuple[str, ...] = ()  # the READ_COLUMNS whose value differs; empty: as stored
    refused: str | None = None  # why today's rules would not store it: left as it is
    failed: str | None = None  # the page could not be read again: left as it is
    skipped: str | None = None  # why a changed reading was not written: left as it is

    @property
    def outcome(self) -> str:
        if self.failed:
            return "failed"
        if self.refused:
            return "refused"
        if self.skipped:
            return "skipped"
        return "corrected" if self.changed else "unchanged"


class UnreadablePage(Exception):
    """A kept page that does not open (a damaged gzip stream, bytes that are not UTF-8)."""


def stored_pages(db: sqlite_utils.Database, sources: list[str]) -> Iterator[StoredPage]:
    """Every stored article of ``sources`` (all when empty) whose page is still kept, by id.

    Read in batches by id, so that corrections written between batches are not read again
    and a long run holds no read snapshot open (the WAL could not be checkpointed)."""
    columns = ", ".join(f"a.{c}" for c in (*READ_COLUMNS, "content_hash"))
    only = f"and a.source in ({', '.join('?' for _ in sources)})" if sources else ""
    last = 0
    while True:
        rows = db.execute(
            f"""select a.id, a.url, a.requested_url, a.site, a.source, p.fetched, p.html_gz,
                  p.final_url, {columns}
                from articles a join pages p on p.url = a.url
                where a.id > ? {only} order by a.id limit {BATCH}""",
            [last, *sources],
        ).fetchall()
        for row in rows:
            stored = dict(zip((*READ_COLUMNS, "content_hash"), row[8:], strict=True))
            for column in JSON_COLUMNS:
                stored[column] = _decoded(stored[column])
            yield StoredPage(
                article_id=row[0],
                url=row[1],
                fetched_url=row[7] or fetched_url(row[1], row[2], row[3]),
                source=row[4],
                fetched=row[5],
                html_gz=row[6],
                columns=stored,
            )
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def fetched_url(url: str, requested_url: str | None, site: str | None) -> str:
    """Where the crawl read a page kept before ``pages.final_url`` was: its quirks, credit
    and licensee rule follow that site (``articles.site``), not the host the page's canonical
    URL names; the path is the one a credit hint read, as near as the stored URLs tell."""
    for candidate in (url, requested_url):  # url: the page's after redirects, unless a
        if candidate and host_of(candidate) == site:  # canonical elsewhere was adopted
            return candidate
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=site)) if site else url


def _decoded(value: str | None) -> Any:
    try:
        return json.loads(value) if value else value
    except ValueError:
        return value


def read_again(
    html_gz: bytes, url: str, source: Source, stored: dict[str, Any], rules: Rules
) -> tuple[str | None, dict[str, Any]]:
    """The page judged by today's rules: (why it would not be stored, or None; the columns
    that reading gives the article, JSON ones as values). Runs in a worker process."""
    try:
        page_html = gzip.decompress(html_gz).decode("utf-8")  # stored as UTF-8 (raw_pages)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise UnreadablePage(f"the kept page does not open: {exc}") from None
    # The stored title stands in for the feed's title, which is not kept: a page that names
    # no title of its own got it from there.
    result = explain_page(page_html, url, source, hint_title=stored["title"], **rules.as_kwargs())
    extracted = result.extracted
    if extracted is None or result.decision != "store":
        return f"{result.decision}: {result.reason}", {}
    return None, {
        "title": extracted.title,
        "text": extracted.text,
        # The publication time stays as first read (a revision keeps it too); a page whose
        # date was not found then may be dated now.
        "published": stored["published"] or extracted.published,
        "modified": extracted.modified or stored["modified"],
        "page_modified": extracted.modified,  # for the version, which keeps the page's own
        "authors": extracted.authors,
        "language": extracted.language,
        "description": extracted.description,
        "agency": result.credit.agency,
        "credit": list(result.credit.evidence),
        "relevance": result.relevance["score"],
        "matched_terms": result.relevance["matched_terms"],
        "relevance_reason": result.relevance["reason"],
    }


class Reextraction:
    """One pass over the kept pages: read again in worker processes (so a page that hangs
    or crashes Trafilatura fails alone, past NEWSMON_EXTRACT_TIMEOUT, and the cores share
    the work), corrected here, in id order, one short transaction each."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        declared: dict[str, Source],
        rules: Rules,
        *,
        workers: int,
        timeout: float,
        dry_run: bool = False,
    ):
        self.db = db
        self.declared = declared
        self.rules = rules
        self.workers = workers
        self.timeout = timeout
        self.dry_run = dry_run

    def run(self, sources: list[str], report: Callable[[Reading], None]) -> None:
        """Read every kept page of ``sources`` (all when empty), correct the articles whose
        reading changed (unless ``dry_run``), and ``report`` each page's finding in order."""
        asyncio.run(self._run(sources, report))

    async def _run(self, sources: list[str], report: Callable[[Reading], None]) -> None:
        pool = WorkerPool(self.workers, self.timeout, preload=["pipelines.reextract"])
        # Enough pages in flight to keep every worker busy while one is being written.
        window: deque[tuple[StoredPage, asyncio.Future[Any] | None]] = deque()
        try:
            for page in stored_pages(self.db, sources):
                call = None
                if source := self.declared.get(page.source):
                    args = (page.html_gz, page.fetched_url, source, page.columns, self.rules)
                    call = asyncio.ensure_future(pool.run(read_again, *args))
                window.append((page, call))
                if len(window) > 2 * pool.size:
                    report(await self._settle(*window.popleft()))
            while window:
                report(await self._settle(*window.popleft()))
        finally:
            for _, pending in window:
                if pending is not None:
                    pending.cancel()
            pool.close()

    async def _settle(self, page: StoredPage, call: asyncio.Future[Any] | None) -> Reading:
        if call is None:  # generic rules would drop its source's evidence and licensee rule
            why = f"its source {page.source!r} is not declared: not read"
            return Reading(page.article_id, page.url, failed=why)
        try:
            refused, columns = await call
        except (UnreadablePage, WorkerFailed) as exc:
            return Reading(page.article_id, page.url, failed=str(exc))
        except Exception as exc:  # raised by the extraction in the worker: this page alone
            return Reading(page.article_id, page.url, failed=f"{type(exc).__name__}: {exc}")
        if refused:
            return Reading(page.article_id, page.url, refused=refused)
        changed = tuple(c for c in READ_COLUMNS if columns[c] != page.columns[c])
        skipped = None
        try:
            if changed and self.dry_run:
                skipped = same_text_as(self.db, page, columns)
            elif changed:
                skipped = correct(self.db, page, columns)
        except sqlite3.OperationalError as exc:  # locked past the busy timeout, say
            skipped = f"not written: {exc}"
        return Reading(page.article_id, page.url, changed, skipped=skipped)


def same_text_as(
    db: sqlite_utils.Database, page: StoredPage, columns: dict[str, Any]
) -> str | None:
    """Why a new text is not written: another stored article has it (the crawl's dedupe
    never stores one text twice). An unchanged text is never refused for a twin it had."""
    new_hash = content_hash(columns["text"])
    if new_hash == page.columns["content_hash"]:
        return None
    twin = db.execute(
        "select id from articles where content_hash = ? and id != ? limit 1",
        [new_hash, page.article_id],
    ).fetchone()
    return (
        f"its new text is article {twin[0]}'s: a duplicate is never stored twice" if twin else None
    )


def correct(db: sqlite_utils.Database, page: StoredPage, columns: dict[str, Any]) -> str | None:
    """Write the new reading of ``page``'s article; or say why not, writing nothing.

    One transaction: the row, its full-text index (by trigger), its newest version, and its
    story (its grouping and roles follow its title, text, time and agency). The article is
    left as it is when a crawl replaced its page or text since it was read (that reading is
    the newest), when ``compact`` deleted the page meanwhile, or when its new text is
    another article's (the crawl's dedupe never stores one text twice)."""
    new_hash = content_hash(columns["text"])
    with write_transaction(db):
        now = db.execute(
            "select p.fetched, a.content_hash, a.story_id from articles a "
            "left join pages p on p.url = a.url where a.id = ?",
            [page.article_id],
        ).fetchone()
        if now is None or now[0] is None:
            return "its kept page was deleted meanwhile"
        if (now[0], now[1]) != (page.fetched, page.columns["content_hash"]):
            return "a crawl stored a newer page of it meanwhile"
        if twin := same_text_as(db, page, columns):
            return twin
        row = {c: columns[c] for c in READ_COLUMNS} | {"content_hash": new_hash}
        row |= {c: json.dumps(columns[c], ensure_ascii=False) for c in JSON_COLUMNS}
        db.table("articles").update(page.article_id, row)
        db.execute(
            """update article_versions set title = :title, text = :text,
                 modified = coalesce(:page_modified, modified), content_hash = :content_hash
               where article_id = :id and version =
                 (select max(version) from article_versions where article_id = :id)""",
            {**row, "page_modified": columns["page_modified"], "id": page.article_id},
        )
        if (columns["title"], new_hash) != (page.columns["title"], page.columns["content_hash"]):
            assign_story(db.conn, page.article_id)  # its sketch follows the new text
        elif now[2] is not None:
            refresh_story(db.conn, now[2])  # its story as it is now, not as first read
    return None

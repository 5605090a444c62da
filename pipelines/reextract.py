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
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from crawler.sources import Source
from pipelines.database import write_transaction
from pipelines.explain import Rules, explain_page
from pipelines.extract import content_hash
from pipelines.stories import assign as assign_story
from pipelines.stories import refresh as refresh_story
from pipelines.workers import WorkerFailed, WorkerPool

BATCH = 100  # articles read per query: a years-long archive is not read in one cursor

# The columns a reading fills, in the order a reviewer reads them in the report.
READ_COLUMNS = (
    "title",
    "text",
    "published",
    "authors",
    "language",
    "description",
    "agency",
    "credit",
    "relevance",
    "matched_terms",
    "relevance_reason",
)


@dataclass(frozen=True)
class StoredPage:
    """An article as stored, with the page it was read from."""

    article_id: int
    url: str
    source: str
    story_id: int | None
    fetched: str  # the page's: it tells a page replaced meanwhile by a crawl
    html_gz: bytes  # as stored: a worker opens it
    columns: dict[str, Any]  # READ_COLUMNS as stored, and content_hash


@dataclass(frozen=True)
class Reading:
    """What re-extracting one article's page found."""

    article_id: int
    url: str
    changed: tuple[str, ...] = ()  # the READ_COLUMNS whose value differs; empty: as stored
    refused: str | None = None  # why today's rules would not store it: left as it is
    failed: str | None = None  # the page could not be read again: left as it is
    moved_on: bool = False  # a crawl replaced the page meanwhile: left to that crawl

    @property
    def outcome(self) -> str:
        if self.failed:
            return "failed"
        if self.refused:
            return "refused"
        if self.moved_on:
            return "moved_on"
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
            f"""select a.id, a.url, a.source, a.story_id, p.fetched, p.html_gz, {columns}
                from articles a join pages p on p.url = a.url
                where a.id > ? {only} order by a.id limit {BATCH}""",
            [last, *sources],
        ).fetchall()
        for row in rows:
            yield StoredPage(
                article_id=row[0],
                url=row[1],
                source=row[2],
                story_id=row[3],
                fetched=row[4],
                html_gz=row[5],
                columns=dict(zip((*READ_COLUMNS, "content_hash"), row[6:], strict=True)),
            )
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def read_again(
    html_gz: bytes, url: str, source: Source | None, stored: dict[str, Any], rules: Rules
) -> tuple[str | None, dict[str, Any]]:
    """The page judged by today's rules: (why it would not be stored, or None; the columns
    that reading gives the article). Runs in a worker process."""
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
        "authors": json.dumps(extracted.authors, ensure_ascii=False),
        "language": extracted.language,
        "description": extracted.description,
        "agency": result.credit.agency,
        "credit": json.dumps(list(result.credit.evidence), ensure_ascii=False),
        "relevance": result.relevance["score"],
        "matched_terms": json.dumps(result.relevance["matched_terms"], ensure_ascii=False),
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
        window: deque[tuple[StoredPage, asyncio.Future[Any]]] = deque()
        try:
            for page in stored_pages(self.db, sources):
                source = self.declared.get(page.source)
                args = (page.html_gz, page.url, source, page.columns, self.rules)
                window.append((page, asyncio.ensure_future(pool.run(read_again, *args))))
                if len(window) > 2 * pool.size:
                    report(await self._settle(*window.popleft()))
            while window:
                report(await self._settle(*window.popleft()))
        finally:
            for _, pending in window:
                pending.cancel()
            pool.close()

    async def _settle(self, page: StoredPage, call: asyncio.Future[Any]) -> Reading:
        try:
            refused, columns = await call
        except (UnreadablePage, WorkerFailed) as exc:
            return Reading(page.article_id, page.url, failed=str(exc))
        except Exception as exc:  # raised by the extraction in the worker: this page alone
            return Reading(page.article_id, page.url, failed=f"{type(exc).__name__}: {exc}")
        if refused:
            return Reading(page.article_id, page.url, refused=refused)
        changed = tuple(c for c in READ_COLUMNS if columns[c] != page.columns[c])
        moved_on = bool(changed) and not self.dry_run and not correct(self.db, page, columns)
        return Reading(page.article_id, page.url, changed, moved_on=moved_on)


def correct(db: sqlite_utils.Database, page: StoredPage, columns: dict[str, Any]) -> bool:
    """Write the new reading of ``page``'s article; False, writing nothing, when a crawl
    replaced the page or the text since it was read (its reading is then the newest).

    One transaction: the row, its full-text index (by trigger), its newest version, and its
    story (its grouping and roles follow its title, text, time and agency)."""
    new_hash = content_hash(columns["text"])
    with write_transaction(db):
        now = db.execute(
            "select p.fetched, a.content_hash from articles a join pages p on p.url = a.url "
            "where a.id = ?",
            [page.article_id],
        ).fetchone()
        if now != (page.fetched, page.columns["content_hash"]):
            return False
        db.table("articles").update(page.article_id, {**columns, "content_hash": new_hash})
        db.execute(
            """update article_versions set title = ?, text = ?, content_hash = ?
               where article_id = ? and version =
                 (select max(version) from article_versions where article_id = ?)""",
            [columns["title"], columns["text"], new_hash, page.article_id, page.article_id],
        )
        if (columns["title"], new_hash) != (page.columns["title"], page.columns["content_hash"]):
            assign_story(db.conn, page.article_id)  # its sketch follows the new text
        elif page.story_id is not None:
            refresh_story(db.conn, page.story_id)
    return True

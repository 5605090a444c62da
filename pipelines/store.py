"""All writes to the archive, and the pipeline that stores articles.

Each article is written in one transaction together with its fetched HTML and its seen-URL
rows, so a crash (even kill -9) leaves either all of it or none of it, and a URL is marked as
seen for good only once its outcome is final.

The article keys of those rows (``seen_urls.article_id``, ``duplicates.duplicate_of_id``)
follow from the article URLs they name, by the schema's triggers (migration m011).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Self, TypeVar

import sqlite_utils
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response

from crawler.dates import utc_now
from crawler.items import Article, FetchFailure, FetchState, Page
from pipelines import Rejected
from pipelines.database import open_database, write_transaction
from pipelines.fetch_state import write_fetch_state
from pipelines.freshness import NO_TEXT_ATTEMPTS, RETRIED_OUTCOMES, load_known
from pipelines.raw_pages import save_page
from pipelines.run_states import RUN_ROW_STAT
from pipelines.stories import assign as assign_story
from pipelines.versions import Revision, add_version, record_revision, stored_from_same_link

__all__ = ["NO_TEXT_ATTEMPTS", "RETRIED_OUTCOMES", "Archive", "ArchivePipeline", "StorePipeline"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Archive:
    """The SQLite archive as the crawl sees it."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    @classmethod
    def open(cls, path: str) -> Archive:
        return cls(open_database(path))

    def settled_keys(self) -> set[str]:
        """Keys of URLs whose outcome is final: not fetched again without a reason."""
        return {key for key, known in load_known(self.db).items() if known.settled}

    def find_duplicate(self, article: Article) -> tuple[str, str] | None:
        """(url of the stored article, why) when ``article`` is already in the archive."""
        row = self.db.execute(
            "select url from articles where url_key = ? or url = ? limit 1",
            [article.key, article.url],
        ).fetchone()
        if row:
            return row[0], "same article URL"
        row = self.db.execute(
            "select url from articles where content_hash = ? limit 1", [article.content_hash]
        ).fetchone()
        return (row[0], "same text") if row else None

    def store_article(self, article: Article, run: int | None = None) -> bool:
        """Insert ``article``, stored by ``run`` (its crawl_runs.id); False when an article
        with its URL is already stored."""
        now = utc_now()
        record = {
            "url": article.url,
            "url_key": article.key,
            "source": article.source,
            "title": article.title,
            "text": article.text,
            "published": article.published,
            "modified": article.modified,
            "authors": json.dumps(article.authors, ensure_ascii=False),
            "language": article.language,
            "description": article.description,
            "site": article.site,
            "agency": article.agency,
            "credit": json.dumps(article.credit, ensure_ascii=False),
            "relevance": article.relevance,
            "matched_terms": json.dumps(article.matched_terms, ensure_ascii=False),
            "relevance_reason": article.relevance_reason,
            "content_hash": article.content_hash,
            "requested_url": article.requested_url,
            "discovered_via": article.discovered_via,
            "first_seen": now,
            "last_seen": now,
            "run": run,
        }
        with write_transaction(self.db):
            articles = self.db.table("articles")
            if self.db.execute(
                "select 1 from articles where url = ? or url_key = ?", [article.url, article.key]
            ).fetchone():
                return False
            article_id = articles.insert(record).last_rowid
            assert article_id is not None
            add_version(self.db, article_id, article, 1, run)
            assign_story(self.db.conn, article_id)  # never an article without a story
            save_page(self.db, article.url, article)
            self._mark(
                article.source,
                _keys(article),
                article.requested_url,
                "stored",
                "",
                200,
                article.url,
                now,
            )
            write_fetch_state(self.db, article.fetch_state)
        return True

    def record_outcome(
        self,
        source: str,
        keys: Iterable[tuple[str, str]],
        outcome: str,
        reason: str,
        *,
        status: int | None = None,
        duplicate_of: str | None = None,
        fetch_state: FetchState | None = None,
    ) -> None:
        now = utc_now()
        keys = list(keys)
        with write_transaction(self.db):
            if duplicate_of:
                self.db.table("duplicates").insert(
                    {
                        "source": source,
                        "url": keys[0][1],
                        "duplicate_of": duplicate_of,
                        "reason": reason,
                        "found": now,
                    }
                )
            self._mark(source, keys, keys[0][1], outcome, reason, status, duplicate_of, now)
            write_fetch_state(self.db, fetch_state)

    def _mark(
        self,
        source: str,
        keys: Iterable[tuple[str, str]],
        url: str,
        outcome: str,
        reason: str,
        status: int | None,
        article_url: str | None,
        now: str,
    ) -> None:
        # A stored article's row keeps its outcome whatever a later page claiming its URL,
        # or a later check of it, is judged: only its last_seen moves.
        keep = "(seen_urls.outcome = 'stored' and excluded.outcome != 'stored')"
        for key, key_url in dict(keys).items():
            self.db.execute(
                f"""insert into seen_urls
                     (key, url, source, outcome, reason, http_status, attempts, article_url,
                      first_seen, last_seen)
                   values (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
                   on conflict(key) do update set
                     outcome = iif({keep}, outcome, excluded.outcome),
                     reason = iif({keep}, reason, excluded.reason),
                     http_status = iif({keep}, http_status, excluded.http_status),
                     attempts = iif({keep} or outcome = excluded.outcome, attempts + 1, 1),
                     article_url = iif({keep}, article_url,
                                       coalesce(excluded.article_url, article_url)),
                     last_seen = excluded.last_seen""",
                [key, key_url or url, source, outcome, reason[:500], status, article_url, now, now],
            )

    def close(self) -> None:
        self.db.close()


def _keys(item: Article | Page | FetchFailure) -> list[tuple[str, str]]:
    """(key, url) pairs to mark as seen: the requested URL's and, for an article, also its
    rel=canonical URL's, so a later link to either is not fetched again."""
    if isinstance(item, Article):
        return [(item.key, item.url), (item.requested_key, item.requested_url)]
    return [(item.key, item.url)]


class ArchivePipeline:
    """An item pipeline with its own connection to the archive, open while the spider is."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.db_path = crawler.settings.get("NEWSMON_DB")
        self.archive: Archive | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def open_spider(self) -> None:
        self.archive = Archive.open(self.db_path)

    def close_spider(self) -> None:
        if self.archive is not None:
            self.archive.close()


class StorePipeline(ArchivePipeline):
    """Stores articles and the outcome of every page judged.

    Its SQLite work runs on one thread of its own, the writer, which owns the connection:
    SQLite lets go of the GIL while it reads, writes and syncs, so the event loop goes on
    downloading pages and handing them to the extraction workers meanwhile (on a big
    archive, an article's index pages are often read from disk). One thread keeps the
    writes in order, each article in its own transaction as before.
    """

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self.closing: asyncio.Task[None] | None = None
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsmon-store")
        crawler.signals.connect(self.item_dropped, signal=signals.item_dropped)

    def open_spider(self) -> None:
        self.archive = self.writer.submit(Archive.open, self.db_path).result()

    def close_spider(self) -> None:
        """Let the writes already handed to the writer finish, then close the archive."""
        if self.archive is not None:
            self.writer.submit(self.archive.close).result()
        self.writer.shutdown(wait=True)

    async def _written(self, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.wrap_future(self.writer.submit(write, *args, **kwargs))

    def _close(self, reason: str) -> None:
        """Close the spider without waiting here: closing waits for this very item."""
        if self.crawler.engine is not None and self.closing is None:
            coro = self.crawler.engine.close_spider_async(reason=reason)
            self.closing = asyncio.get_running_loop().create_task(coro)

    async def process_item(self, item: Any) -> Any:
        assert self.archive is not None
        assert self.crawler.stats is not None
        if isinstance(item, FetchFailure):
            outcome = "gone" if item.permanent else "failed"
            await self._written(
                self.archive.record_outcome,
                item.source,
                _keys(item),
                outcome,
                item.reason,
                status=item.status,
            )
            raise Rejected(outcome, f"not fetched: {item.url} ({item.reason})")
        if not isinstance(item, Article):
            return item
        try:
            revision, stored = await self._written(self._store, item)
        except sqlite3.OperationalError as exc:
            if "full" in str(exc):  # "database or disk is full": every later write fails too
                logger.error("Cannot store %s: %s; stopping the crawl", item.url, exc)
                self._close("disk_full")
            raise
        if revision is not None:
            if revision.changed:
                self.crawler.stats.inc_value("newsmon/updated")
                logger.info("Updated %s to version %d: %s", item.url, revision.version, item.title)
            else:
                self.crawler.stats.inc_value("newsmon/unchanged")
            return item
        if not stored:
            self.crawler.stats.inc_value("newsmon/rejected/duplicate")
            raise Rejected("duplicate", f"already stored: {item.url}")
        self.crawler.stats.inc_value("newsmon/stored")
        logger.info("Stored %s: %s", item.url, item.title)
        return item

    def _store(self, item: Article) -> tuple[Revision | None, bool]:
        """On the writer: a new version of the article stored from the same link, or the
        article stored as new (False if a duplicate got there first)."""
        assert self.archive is not None
        assert self.crawler.stats is not None
        run = self.crawler.stats.get_value(RUN_ROW_STAT)  # None in a crawl with no recorder
        if (article_id := stored_from_same_link(self.archive.db, item)) is not None:
            return record_revision(self.archive.db, article_id, item, run), False
        return None, self.archive.store_article(item, run)

    def item_dropped(
        self, item: Any, response: Response | None, exception: Exception, spider: Spider
    ) -> None:
        """Remember why a page was not stored, so it is not fetched again without reason."""
        if self.archive is None or not isinstance(exception, Rejected):
            return
        if isinstance(item, Page | Article):  # a FetchFailure was recorded in process_item
            status = item.status if isinstance(item, Page) else 200
            # Not waited for: close_spider lets every write handed to the writer finish.
            written: Future[None] = self.writer.submit(
                self.archive.record_outcome,
                item.source,
                _keys(item),
                exception.outcome,
                str(exception),
                status=status,
                duplicate_of=exception.duplicate_of,
                fetch_state=item.fetch_state,
            )
            written.add_done_callback(_log_failed_write)


def _log_failed_write(written: Future[None]) -> None:
    if (error := written.exception()) is not None:
        logger.error("Cannot record a page's outcome: %s", error)

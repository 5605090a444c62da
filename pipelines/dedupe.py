"""Dedupe, before and after the fetch.

Before: ``SeenUrlsMiddleware`` drops a request for an article URL whose outcome is already
final (stored, duplicate, irrelevant, ...) or that this run has already requested under
another link (utm parameters, AMP, slug-less RFE/RL ids all map to one key); ``RunDupeFilter``
fetches a feed or sitemap once a run.
After: ``DedupePipeline`` drops an article whose canonical URL or exact text is already in
the archive, and the store remembers what it duplicated for review.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlite_utils
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.dupefilters import RFPDupeFilter
from scrapy.http import Response

from crawler.items import Article
from crawler.middlewares import AlreadySeen
from pipelines import Rejected
from pipelines.database import open_database
from pipelines.freshness import NotModified, Rechecks, fetch_state_of, known_of, record_not_modified
from pipelines.store import ArchivePipeline
from pipelines.versions import stored_from_same_link


class SeenUrlsMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.db_path = crawler.settings.get("NEWSMON_DB")
        self.recheck_hours = crawler.settings.getfloat("NEWSMON_RECHECK_HOURS", 48)
        self.recheck_budget = crawler.settings.getint("NEWSMON_RECHECK_BUDGET", 20)
        self.rechecks: Rechecks | None = None
        self.db: sqlite_utils.Database | None = None  # for validators and 304s
        # key -> True once fetched, False while in flight; failed fetches are forgotten.
        self.fetched: dict[str, bool] = {}
        # Other links to an article in flight: tried only if that request fails (an RFE/RL
        # slug-less /a/<id>.html link may 404 where the slugged one works).
        self.alternatives: dict[str, list[Request]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SeenUrlsMiddleware:
        middleware = cls(crawler)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def _rechecks(self) -> Rechecks:
        if self.rechecks is None:  # opened at the first article request
            self.db = open_database(self.db_path)
            db = self.db
            self.rechecks = Rechecks(
                lambda key: known_of(db, key), hours=self.recheck_hours, budget=self.recheck_budget
            )
        return self.rechecks

    def spider_closed(self) -> None:
        if self.db is not None:
            self.db.close()

    def process_request(self, request: Request) -> None:
        key = request.meta.get("newsmon_key")
        if request.meta.get("newsmon_kind") != "article" or not key:
            return
        stats = self.crawler.stats
        assert stats is not None
        # A retry or a redirect of the request in flight is that same request going on.
        again = request.meta.get("retry_times") or request.meta.get("redirect_times")
        if not again and key not in self.fetched:
            self._decide(key, request)
        if key in self.fetched and not again:
            stats.inc_value("newsmon/skipped/same_article_link")
            if not self.fetched[key]:
                self.alternatives.setdefault(key, []).append(request)
            raise AlreadySeen(f"same article as a link requested earlier: {request.url}")
        self.fetched[key] = False

    def _decide(self, key: str, request: Request) -> None:
        """Let a request through when its URL is new, or known but worth asking again."""
        rechecks = self._rechecks()
        published = request.meta.get("newsmon_hints", {}).get("published")
        reason = rechecks.reason(key, request.meta.get("newsmon_link_date"), published)
        stats = self.crawler.stats
        assert stats is not None
        if reason is None:
            stats.inc_value("newsmon/skipped/seen")
            raise AlreadySeen(f"already judged in an earlier run: {request.url}")
        if reason != "new":
            stats.inc_value(f"newsmon/rechecks/{reason}")
            request.meta["newsmon_recheck"] = reason
            rechecks.conditional(request, key)

    def process_response(self, request: Request, response: Response) -> Response:
        key = request.meta.get("newsmon_key")
        if key in self.fetched:
            if response.status in (200, 304):
                self.fetched[key] = True
                self.alternatives.pop(key, None)
            else:
                self._try_alternative(request)
        if key and self.db is not None and request.meta.get("newsmon_kind") == "article":
            self._note_fetch(key, request, response)
        return response

    def _note_fetch(self, key: str, request: Request, response: Response) -> None:
        stats = self.crawler.stats
        assert stats is not None and self.db is not None
        recheck = request.meta.get("newsmon_recheck")
        if response.status == 304 and recheck:
            stats.inc_value("newsmon/not_modified")
            record_not_modified(self.db, key, request)
            raise NotModified(f"not modified since the last fetch: {request.url}")
        if response.status == 200:
            if recheck:
                stats.inc_value("newsmon/refetched")
            # Written with the page's outcome, in the same transaction (one commit a page).
            request.meta["newsmon_fetch_state"] = fetch_state_of(key, request, response)

    def process_exception(self, request: Request, exception: Exception) -> None:
        key = request.meta.get("newsmon_key")
        if key in self.fetched and not isinstance(exception, AlreadySeen):
            self._try_alternative(request)

    def _try_alternative(self, request: Request) -> None:
        key = request.meta["newsmon_key"]
        del self.fetched[key]
        waiting = self.alternatives.get(key)
        if waiting and self.crawler.engine is not None:
            alternative = waiting.pop(0)
            # Tells the spider this failure is not final: another link to the article follows.
            request.meta["newsmon_alternative"] = alternative.url
            self.crawler.engine.crawl(alternative)


class RunDupeFilter(RFPDupeFilter):
    """Scrapy's URL dupefilter, for discovery only.

    A sitemap listed twice, or an index that lists itself, is fetched once a run. Article
    requests are deduped by key in SeenUrlsMiddleware instead, and redirects always pass, so a
    redirect loop fails loudly (max redirections) rather than vanishing silently. No request
    needs ``dont_filter``, which would skip Scrapy's offsite check as well.
    """

    def request_seen(self, request: Request) -> bool:
        if request.meta.get("newsmon_kind") == "article" or request.meta.get("redirect_times"):
            return False
        return super().request_seen(request)


class DedupePipeline(ArchivePipeline):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        # Articles of this run still on their way to the store: their keys and hashes.
        self.claimed: dict[str, str] = {}

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        assert self.archive is not None
        assert self.crawler.stats is not None
        if stored_from_same_link(self.archive.db, item) is not None:
            return item  # a new fetch of a stored article: the store keeps it as a version
        found = self._find(item)
        if found is not None and found[1] == "same article URL" and item.key != item.requested_key:
            # Only the claim of a URL, with a text of its own: a canonical link shared by
            # different stories (a home page, a section) never merges them. The page stands
            # under the link that was followed, whichever of them came first.
            item = dataclasses.replace(item, url=item.requested_url, key=item.requested_key)
            found = self._find(item)
        if found is not None:
            self.crawler.stats.inc_value("newsmon/rejected/duplicate")
            original, why = found
            raise Rejected(
                "duplicate", f"duplicate of {original} ({why}): {item.url}", duplicate_of=original
            )
        self.claimed[item.key] = item.url
        self.claimed[item.content_hash] = item.url
        return item

    def _find(self, item: Article) -> tuple[str, str] | None:
        """The stored or in-flight article ``item`` duplicates, and why."""
        assert self.archive is not None
        found = self.archive.find_duplicate(item)
        if found is None:
            for claim, why in ((item.key, "same article URL"), (item.content_hash, "same text")):
                if claim in self.claimed:
                    return self.claimed[claim], why
        return found

"""Dedupe, before and after the fetch.

Before: ``SeenUrlsMiddleware`` drops a request for an article URL whose outcome is already
final (stored, duplicate, irrelevant, ...) or that this run has already requested under
another link (utm parameters, AMP, slug-less RFE/RL ids all map to one key); ``RunDupeFilter``
fetches a feed or sitemap once a run.
After: ``DedupePipeline`` drops an article whose canonical URL or exact text is already in
the archive, and the store remembers what it duplicated for review.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.dupefilters import RFPDupeFilter
from scrapy.http import Response

from crawler.items import Article
from crawler.middlewares import AlreadySeen
from pipelines import Rejected
from pipelines.store import Archive, ArchivePipeline


class SeenUrlsMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.db_path = crawler.settings.get("NEWSMON_DB")
        self.settled: set[str] | None = None
        # key -> True once fetched, False while in flight; failed fetches are forgotten.
        self.fetched: dict[str, bool] = {}
        # Other links to an article in flight: tried only if that request fails (an RFE/RL
        # slug-less /a/<id>.html link may 404 where the slugged one works).
        self.alternatives: dict[str, list[Request]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SeenUrlsMiddleware:
        return cls(crawler)

    def _settled_keys(self) -> set[str]:
        if self.settled is None:  # read once, at the first article request
            archive = Archive.open(self.db_path)
            try:
                self.settled = archive.settled_keys()
            finally:
                archive.close()
        return self.settled

    def process_request(self, request: Request) -> None:
        key = request.meta.get("newsmon_key")
        if request.meta.get("newsmon_kind") != "article" or not key:
            return
        stats = self.crawler.stats
        assert stats is not None
        if key in self._settled_keys():
            stats.inc_value("newsmon/skipped/seen")
            raise AlreadySeen(f"already judged in an earlier run: {request.url}")
        # A retry or a redirect of the request in flight is that same request going on.
        again = request.meta.get("retry_times") or request.meta.get("redirect_times")
        if key in self.fetched and not again:
            stats.inc_value("newsmon/skipped/same_article_link")
            if not self.fetched[key]:
                self.alternatives.setdefault(key, []).append(request)
            raise AlreadySeen(f"same article as a link requested earlier: {request.url}")
        self.fetched[key] = False

    def process_response(self, request: Request, response: Response) -> Response:
        key = request.meta.get("newsmon_key")
        if key in self.fetched:
            if response.status == 200:
                self.fetched[key] = True
                self.alternatives.pop(key, None)
            else:
                self._try_alternative(request)
        return response

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
        found = self.archive.find_duplicate(item)
        if found is None:
            for claim, why in ((item.key, "same article URL"), (item.content_hash, "same text")):
                if claim in self.claimed:
                    found = (self.claimed[claim], why)
                    break
        if found is not None:
            self.crawler.stats.inc_value("newsmon/rejected/duplicate")
            original, why = found
            raise Rejected(
                "duplicate", f"duplicate of {original} ({why}): {item.url}", duplicate_of=original
            )
        self.claimed[item.key] = item.url
        self.claimed[item.content_hash] = item.url
        return item

"""The one spider behind every declared source: discovery in, article pages out.

It never extracts text and never touches the database: it turns the declaration's feeds,
sitemaps and listing pages into requests for article URLs, and yields each fetched article
page as a ``Page`` (or a ``FetchFailure``) for the pipelines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.backfill import BackfillPlan
from crawler.dates import to_datetime, utc_now
from crawler.discovery import DiscoveryError, Link, parse_feed, parse_listing, parse_sitemap
from crawler.encoding import page_text
from crawler.items import FetchFailure, Page
from crawler.middlewares import AlreadySeen
from crawler.offsite import on_domains, refuse
from crawler.origins import parse_origin_map, publicize
from crawler.sources import Source, load_sources
from crawler.urls import article_key, article_url, canonicalize_url, host_of

PERMANENT_STATUSES = {404, 410}
# Failures that will not go away by asking again: the URL is settled, not retried next run.
PERMANENT_MESSAGES = ("max redirections reached", "Filtered offsite request", "download max size")


class SourceSpider(Spider):
    source_name: ClassVar[str] = ""
    source: Source
    allowed_domains: list[str]
    origin_map: dict[str, str]
    refused_places: set[str]  # scheme://host of refused links, each logged once
    backfill: BackfillPlan | None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        sources = load_sources(crawler.settings.get("NEWSMON_SOURCES"))
        spider.source = sources[cls.source_name]
        # Read here so a bad map fails the crawl at once, not each request as NotSupported.
        spider.origin_map = parse_origin_map(crawler.settings.get("NEWSMON_ORIGIN_MAP") or {})
        spider.allowed_domains = list(spider.source.domains)
        spider.refused_places = set()
        spider.backfill = BackfillPlan.from_settings(crawler.settings)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        # A live crawl reads the feeds; a backfill (crawler/backfill.py) only the archive.
        for discovery in self.source.discovery:
            # A disabled endpoint is declared for `sources --check` only.
            if discovery.enabled and (discovery.kind == "archive_index") == (
                self.backfill is not None
            ):
                yield self.discovery_request(discovery.url, discovery.kind)

    def discovery_request(self, url: str, kind: str) -> Request:
        callback = {
            "rss": self.parse_feed,
            "atom": self.parse_feed,
            "listing": self.parse_listing,
            "archive_index": self.parse_archive,
        }.get(kind, self.parse_sitemap)
        if kind == "archive_index" and self.crawler.stats is not None:
            self.crawler.stats.inc_value("newsmon/backfill/sitemaps_queued")
        return Request(
            url,
            callback=callback,
            errback=self.discovery_failed,
            # Not dont_filter: that would skip Scrapy's offsite check too. The URL dupefilter
            # (pipelines.dedupe.RunDupeFilter) fetches a sitemap listed twice only once.
            # An archive sitemap is read once the articles found so far are fetched, so at
            # most one chunk's requests wait in memory.
            priority=-10 if kind == "archive_index" else 10,
            meta={"newsmon_kind": kind},
        )

    # --- discovery -------------------------------------------------------------------------

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        kind = response.meta.get("newsmon_kind", "sitemap")
        try:
            sitemap = parse_sitemap(response.body)
        except DiscoveryError as exc:
            yield from self._discovery_unreadable(response, exc)
            return
        self._discovery_read()
        for child in sitemap.children:
            child_url = canonicalize_url(child.url) if "?" not in child.url else child.url
            if not on_domains(child_url, self.source.domains):
                refuse(self.crawler, self.refused_places, child_url, "sitemap child")
            elif self.source.follows_sitemap(child_url) and not self._too_old(child):
                yield self.discovery_request(child_url, "sitemap")
        yield from self.article_requests(sitemap.links, kind)

    def parse_archive(self, response: Response) -> Iterator[Request]:
        """A backfill's sitemap index or archive chunk: the window decides what is read."""
        assert self.backfill is not None and self.crawler.stats is not None
        stats = self.crawler.stats
        try:
            sitemap = parse_sitemap(response.body)
        except DiscoveryError as exc:
            yield from self._discovery_unreadable(response, exc)
            return
        self._discovery_read()
        stats.inc_value("newsmon/backfill/sitemaps_read")
        if stats.get_value("newsmon/backfill/budget_spent"):
            return  # --max-pages reached: the rest waits for the next run
        for child in sitemap.children:
            if not on_domains(child.url, self.source.domains):
                refuse(self.crawler, self.refused_places, child.url, "sitemap child")
                continue
            if not self.source.follows_sitemap(child.url):
                continue
            if not self.backfill.may_hold_window(child):
                stats.inc_value("newsmon/backfill/sitemaps_skipped")
                self.logger.info("Not reading %s: last modified %s", child.url, child.lastmod)
                continue
            yield self.discovery_request(child.url, "archive_index")
        yield from self.article_requests(
            self.backfill.select(sitemap.links, stats), "archive_index"
        )

    def parse_feed(self, response: Response) -> Iterator[Request]:
        try:
            links = parse_feed(response.body)
        except DiscoveryError as exc:
            yield from self._discovery_unreadable(response, exc)
            return
        self._discovery_read()
        yield from self.article_requests(links, response.meta.get("newsmon_kind", "rss"))

    def parse_listing(self, response: Response) -> Iterator[Request]:
        if not isinstance(response, TextResponse):
            yield from self._discovery_unreadable(response, DiscoveryError("not an HTML page"))
            return
        try:
            links = parse_listing(response.text, response.url)
        except DiscoveryError as exc:
            yield from self._discovery_unreadable(response, exc)
            return
        self._discovery_read()
        yield from self.article_requests(links, "listing", quiet=True)

    def _discovery_read(self) -> None:
        """Count a feed, sitemap or listing read: a run that read none found nothing to do
        because it could not look, which is a failure however many robots.txt answered."""
        self.crawler.stats.inc_value("newsmon/discovery_read")

    def _discovery_unreadable(self, response: Response, exc: Exception) -> Iterable[Request]:
        stats = self.crawler.stats
        kind = response.meta.get("newsmon_kind")
        stats.inc_value("newsmon/discovery_errors")
        if stats.get_value("newsmon/first_error") is None:
            stats.set_value("newsmon/first_error", f"{response.url}: unreadable {kind}: {exc}")
        self.logger.error("Unreadable %s %s: %s", kind, response.url, exc)
        return ()

    def discovery_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        if str(failure.value) == "Forbidden by robots.txt":
            # A declared endpoint the site asks robots not to read: not an error, but said.
            self.crawler.stats.inc_value("newsmon/discovery_forbidden_by_robots")
            self.logger.info("Not reading %s: forbidden by robots.txt", request.url)
            return
        self.crawler.stats.inc_value("newsmon/discovery_errors")
        self._note_first_error(request.url, failure)
        self.logger.error("Discovery failed for %s: %s", request.url, self.describe(failure))

    def describe(self, failure: Failure) -> str:
        """One line on why a request failed, in public URLs only."""
        error = failure.value
        if isinstance(error, HttpError):
            return f"HTTP {error.response.status}"
        text = " ".join((str(error) or type(error).__name__).split())
        return publicize(text, self.origin_map)[:300]

    def _note_first_error(self, url: str, failure: Failure) -> None:
        """The run's record quotes the first failure: usually the one that explains the rest."""
        stats = self.crawler.stats
        if stats is not None and stats.get_value("newsmon/first_error") is None:
            stats.set_value("newsmon/first_error", f"{url}: {self.describe(failure)}")

    def _too_old(self, link: Link) -> bool:
        """Outside the live window: a live crawl reads the recent part of a source, never its
        whole archive (history is backfill's job). NEWSMON_LIVE_DAYS overrides the source's
        ``live_days`` for a run; 0 means no window. An entry without a date is read."""
        override = self.settings.get("NEWSMON_LIVE_DAYS")
        days = self.source.live_days if override in (None, "") else int(override)
        newest = to_datetime(link_date(link))
        if self.backfill is not None or not days or newest is None:  # backfill: its own window
            return False
        return newest < datetime.now(UTC) - timedelta(days=days)

    def article_requests(
        self, links: Iterable[Link], via: str, *, quiet: bool = False
    ) -> Iterator[Request]:
        """Requests for the links that are this source's article URLs; others are counted."""
        stats = self.crawler.stats
        assert stats is not None
        for link in links:
            url = article_url(link.url, self.source)
            if host_of(url) not in self.source.domains:
                stats.inc_value("newsmon/links_offsite")
                continue
            if not self.source.is_article_url(url) or self._too_old(link):
                stats.inc_value("newsmon/links_not_article")
                if not quiet:
                    self.logger.debug("Not an article URL: %s", link.url)
                continue
            stats.inc_value("newsmon/links_article")
            yield Request(
                url,
                callback=self.parse_article,
                errback=self.article_failed,
                # SeenUrlsMiddleware dedupes article links by key, not the URL dupefilter.
                meta={
                    "newsmon_kind": "article",
                    "newsmon_key": article_key(url, self.source),
                    "newsmon_via": via,
                    "newsmon_hints": {"title": link.title, "published": link.published},
                    "newsmon_link_date": link_date(link),
                },
            )

    # --- articles --------------------------------------------------------------------------

    def parse_article(self, response: Response) -> Iterator[Page | FetchFailure]:
        self.crawler.stats.inc_value("newsmon/articles_done")
        meta = response.meta
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        if not isinstance(response, TextResponse) or not is_html(content_type):
            self.crawler.stats.inc_value("newsmon/article_errors")
            self.logger.warning(
                "Could not fetch %s: not an HTML page (%s)", response.url, content_type or "no type"
            )
            yield self._failure(
                response.request,
                f"not an HTML page ({content_type or 'no type'})",
                status=response.status,
                permanent=True,
            )
            return
        hints = meta.get("newsmon_hints", {})
        self.crawler.stats.inc_value("newsmon/article_pages")
        html, encoding = page_text(response)
        yield Page(
            source=self.source.name,
            url=meta.get("redirect_urls", [response.url])[0],
            key=meta["newsmon_key"],
            final_url=response.url,
            status=response.status,
            html=html,
            encoding=encoding,
            fetched=utc_now(),
            discovered_via=meta.get("newsmon_via", ""),
            hint_title=hints.get("title"),
            hint_published=hints.get("published"),
            fetch_state=meta.get("newsmon_fetch_state"),  # SeenUrlsMiddleware's
        )

    def article_failed(self, failure: Failure) -> Iterator[FetchFailure]:
        error = failure.value
        request = failure.request  # type: ignore[attr-defined]
        self.crawler.stats.inc_value("newsmon/articles_done")
        if isinstance(error, AlreadySeen) or str(error) == "Forbidden by robots.txt":
            return  # decided, not failed
        status = error.response.status if isinstance(error, HttpError) else None
        if alternative := request.meta.get("newsmon_alternative"):
            self.logger.info(
                "Could not fetch %s (%s); trying %s",
                request.url,
                self.describe(failure),
                alternative,
            )
            return
        self.crawler.stats.inc_value("newsmon/article_errors")
        self._note_first_error(request.url, failure)
        self.logger.warning("Could not fetch %s: %s", request.url, self.describe(failure))
        reason = self.describe(failure)

        permanent = status in PERMANENT_STATUSES or any(m in reason for m in PERMANENT_MESSAGES)
        yield self._failure(request, reason, status=status, permanent=permanent)

    def _failure(
        self, request: Request | None, reason: str, *, status: int | None, permanent: bool
    ) -> FetchFailure:
        assert request is not None
        return FetchFailure(
            source=self.source.name,
            url=request.url,
            key=request.meta["newsmon_key"],
            reason=reason,
            status=status,
            permanent=permanent,
        )


def link_date(link: Link) -> str | None:
    """The newest date a discovery entry gives (lastmod, updated or publication date)."""
    return max(filter(None, (link.lastmod, link.published)), default=None)


def is_html(content_type: str) -> bool:
    """An article page is HTML; a PDF or an image at an article URL is not (Scrapy may still
    hand it over as text when its bytes look printable)."""
    kind = content_type.split(";")[0].strip().lower()
    return kind in ("", "text/html", "application/xhtml+xml", "text/plain")


def make_spider_class(source: Source) -> type[SourceSpider]:
    """A spider class for a declared source that needs no code of its own."""
    return type(
        f"{source.name.title().replace('_', '')}Spider",
        (SourceSpider,),
        {"name": source.name, "source_name": source.name, "__module__": __name__},
    )

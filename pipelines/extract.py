"""Page -> Article in the crawl: extraction in worker processes, then the article's identity.

Extraction is CPU-bound Python (about 20 ms a page), so ``pipelines.extraction.extract_page``
runs in worker processes (pipelines/workers.py), after the relevance pre-check, which reads
the whole raw page too: the reactor stays responsive, both cores work, and a page that hangs
or kills its worker fails alone.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.crawler import Crawler

from crawler.items import Article, Page
from crawler.sources import Source, load_sites, load_sources
from crawler.urls import article_key, article_url, host_of
from pipelines import Rejected
from pipelines.credit import attribute
from pipelines.extraction import Extracted, content_hash, extract_page
from pipelines.precheck import NamesNoTerm, PreCheck, extract_unless_unrelated
from pipelines.workers import WorkerFailed, WorkerPool, WorkerTimedOut, default_workers

__all__ = ["ExtractPipeline", "Extracted", "adopted_url", "content_hash", "extract_page"]

logger = logging.getLogger(__name__)


def adopted_url(page: Page, canonical: str | None, source: Source) -> str:
    """The URL an article is stored under. A page's claims about its own URL (rel=canonical,
    og:url, JSON-LD url, then where a redirect led) count only when they name an article URL
    of the source: a home page, a section, another site or a mirror is not this article's
    URL, and then the link that was followed stands."""
    for claim in (canonical, page.final_url):
        if claim:
            url = article_url(claim, source)
            if host_of(url) in source.domains and source.is_article_url(url):
                return url
    return page.url


class ExtractPipeline:
    def __init__(self, crawler: Crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.sources: dict[str, Source] = load_sources(settings.get("NEWSMON_SOURCES"))
        self.sites = load_sites(settings.get("NEWSMON_SOURCES"))
        self.min_chars = settings.getint("NEWSMON_MIN_TEXT_CHARS")
        self.precheck = PreCheck.from_settings(settings)
        self.workers = WorkerPool(
            settings.getint("NEWSMON_EXTRACT_WORKERS") or default_workers(),
            settings.getfloat("NEWSMON_EXTRACT_TIMEOUT"),
            # imported before the first page's time limit starts
            preload=["pipelines.precheck", "trafilatura"],
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExtractPipeline:
        return cls(crawler)

    def close_spider(self) -> None:
        self.workers.close()

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Page):
            return item
        source = self.sources[item.source]
        stats = self.crawler.stats
        assert stats is not None
        self.precheck.sent(stats)
        extraction = self.workers.run(
            extract_unless_unrelated,  # a page naming no Libya term is not worth extracting
            item.html,
            item.final_url,
            terms=self.precheck.terms,
            hint_title=item.hint_title,
            hint_published=item.hint_published,
            quirks=self.sites.get(host_of(item.final_url)),
            default_language=source.language,
        )
        try:
            extracted = await extraction
        except NamesNoTerm:
            raise self.precheck.rejected(item, stats) from None
        except WorkerFailed as exc:
            raise self.failed(item, exc) from None
        if extracted is None or len(extracted.text) < self.min_chars:
            stats.inc_value("newsmon/rejected/no_text")
            raise Rejected("no_text", f"no article text on {item.url}")
        article = self.to_article(item, extracted, source)
        if article.agency is None and article.site in source.licensee_domains:
            stats.inc_value("newsmon/rejected/no_agency_credit")
            raise Rejected("no_agency_credit", f"{item.url} does not credit {source.agency}")
        return article

    def failed(self, page: Page, exc: WorkerFailed) -> Rejected:
        """Count an extraction that hung or killed its worker; the page is tried again in a
        later run (store.RETRIED_OUTCOMES), a bounded number of times."""
        stats = self.crawler.stats
        assert stats is not None
        timed_out = isinstance(exc, WorkerTimedOut)
        stats.inc_value("newsmon/extract_timeouts" if timed_out else "newsmon/extract_crashes")
        message = f"extraction of {page.url} failed: {exc}"
        if stats.get_value("newsmon/first_error") is None:
            stats.set_value("newsmon/first_error", message)
        logger.warning(message)
        return Rejected("extract_failed", message)

    def to_article(self, page: Page, extracted: Extracted, source: Source) -> Article:
        url = adopted_url(page, extracted.canonical, source)
        site = host_of(page.final_url)
        credit = attribute(extracted.credit, page.final_url, source)
        return Article(
            source=page.source,
            url=url,
            key=article_key(url, source),
            requested_url=page.url,
            requested_key=page.key,
            title=extracted.title,
            text=extracted.text,
            published=extracted.published or page.hint_published,
            modified=extracted.modified,
            authors=extracted.authors,
            language=extracted.language,
            description=extracted.description,
            site=site,
            agency=credit.agency,
            credit=list(credit.evidence),
            fetched=page.fetched,
            discovered_via=page.discovered_via,
            html=page.html,
            encoding=page.encoding,
            content_hash=content_hash(extracted.text),
            fetch_state=page.fetch_state,
            final_url=page.final_url,
        )

"""Requests go only where a source says: ``http(s)`` URLs on its declared domains.

A feed, a sitemap index or a page is written by someone else. One that lists
``http://127.0.0.1/latest/meta-data/`` (a cloud metadata service), ``file:///etc/passwd`` or
another site must never make the crawler fetch it. Scrapy's offsite filter is skipped by any
request with ``dont_filter`` and does not look at the scheme, so the check here applies to
every request the downloader is about to send: discovery, sitemap children, articles,
redirects, retries and robots.txt alike. With the origin map, the public URL is checked (the
map is applied later, in crawler.handler).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

logger = logging.getLogger(__name__)

SCHEMES = ("http", "https")
# crawler.spiders.source settles a URL refused with this message for good (not retried).
REFUSED = "Filtered offsite request"


def on_domains(url: str, domains: Iterable[str]) -> bool:
    """Whether ``url`` is an http(s) URL whose host is one of ``domains`` exactly."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:  # an invalid port or IPv6 literal
        return False
    return parts.scheme.lower() in SCHEMES and bool(host) and host in set(domains)


def where(url: str) -> str:
    """``scheme://host`` of a refused URL, for one log line per place, never its path."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}"
    except ValueError:
        return url[:80]


class SourceBoundsMiddleware:
    """Downloader middleware: refuse any request off the spider's declared domains.

    First in the chain (before robots.txt, so an off-site host's robots.txt is not fetched
    either). Each refused place (scheme and host) is logged once; every refusal is counted in
    ``newsmon/refused_offsite``.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.logged: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SourceBoundsMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        domains = getattr(self.crawler.spider, "allowed_domains", None) or ()
        if on_domains(request.url, domains):
            return
        refuse(self.crawler, self.logged, request.url, request.meta.get("newsmon_kind", "request"))
        raise IgnoreRequest(f"{REFUSED}: {where(request.url)} is not one of the source's domains")


def refuse(crawler: Crawler, logged: set[str], url: str, kind: str) -> None:
    """Count a refused URL; log its place the first time it is seen."""
    if crawler.stats is not None:
        crawler.stats.inc_value("newsmon/refused_offsite")
    place = where(url)
    if place not in logged:
        logged.add(place)
        logger.warning(
            "Refused %s %s: not an http(s) URL on the source's domains (further requests to "
            "%s are refused without a message)",
            kind,
            url[:300],
            place,
        )

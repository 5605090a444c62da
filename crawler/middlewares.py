"""Downloader middlewares: bot-protection blocks, and a robots.txt fix.

Bot-protection blocks: recognise them, count them, stop asking.

Reuters answers non-browser clients with HTTP 401 and a DataDome captcha page. Such a
response is never an article, and retrying it only hammers the site, so the first block from
a host makes every later request to that host this run be dropped without a download.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares import robotstxt
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.robotstxt import RobotParser
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from crawler.offsite import REFUSED, on_domains, where
from crawler.urls import host_of

logger = logging.getLogger(__name__)

# Markers of bot-protection interstitials; checked only in the first part of the body.
_BODY_MARKERS = (
    (b"captcha-delivery.com", "DataDome captcha page"),
    (b"cf-browser-verification", "Cloudflare browser check"),
    (b"challenges.cloudflare.com", "Cloudflare challenge page"),
    (b"_Incapsula_Resource", "Imperva/Incapsula challenge page"),
    (b"px-captcha", "PerimeterX captcha page"),
)
_BLOCK_STATUSES = {401: "HTTP 401 Unauthorized", 403: "HTTP 403 Forbidden"}


class Blocked(IgnoreRequest):
    """The site answered with a block or a bot-protection page instead of content."""


class AlreadySeen(IgnoreRequest):
    """A request not sent because its article's outcome is already known."""


# Sent with (host, reason) when a host blocks the crawl; the download handler then refuses
# every request to it, including those already queued.
HOST_BLOCKED = object()


def block_reason(response: Response) -> str | None:
    """Why ``response`` is a block page, or None when it is not one."""
    reasons = []
    if response.status in _BLOCK_STATUSES:
        reasons.append(_BLOCK_STATUSES[response.status])
    if response.headers.get(b"x-datadome"):
        reasons.append("DataDome bot protection")
    if response.headers.get(b"cf-mitigated") == b"challenge":
        reasons.append("Cloudflare challenge")
    head = response.body[:20000]
    for marker, label in _BODY_MARKERS:
        if marker in head:
            reasons.append(label)
            break
    # A 200 with a protection header alone is a normal page served through the protection.
    if not reasons or (response.status == 200 and reasons == ["DataDome bot protection"]):
        return None
    return ", ".join(dict.fromkeys(reasons))


class BlockDetectionMiddleware:
    def __init__(self, crawler: Crawler):
        assert crawler.stats is not None
        self.crawler = crawler
        self.stats: StatsCollector = crawler.stats
        self.blocked_hosts: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BlockDetectionMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        host = host_of(request.url)
        if host in self.blocked_hosts:
            self.stats.inc_value("newsmon/blocked_skipped")
            raise Blocked(f"{host} blocked this run earlier: {self.blocked_hosts[host]}")

    def process_response(self, request: Request, response: Response) -> Response:
        reason = block_reason(response)
        if reason is None:
            return response
        host = host_of(response.url)
        message = f"{host} blocked the crawler: {reason}"
        if host not in self.blocked_hosts:
            self.blocked_hosts[host] = reason
            self.crawler.signals.send_catch_log(HOST_BLOCKED, host=host, reason=reason)
        self.stats.inc_value("newsmon/blocked")
        if self.stats.get_value("newsmon/blocked_reason") is None:
            self.stats.set_value("newsmon/blocked_reason", message)
        logger.warning("%s (%s); not fetching more from it this run", message, response.url)
        raise Blocked(message)


class RobotsTxtMiddleware(robotstxt.RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, with every waiting request actually checked.

    In Scrapy 2.19 all requests that arrive while a host's robots.txt is downloading await
    one shared Deferred, and awaiting it consumes its result: every waiter after the first
    gets no parser and goes out unchecked (seen here: a feed under a disallowed /api/ was
    fetched). Each waiter gets its own copy of the result instead.
    """

    async def robot_parser(self, request: Request) -> RobotParser | None:
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if not isinstance(pending, Deferred):
            return await super().robot_parser(request)
        copy: Deferred[RobotParser | None] = Deferred()

        def pass_on(result: Any) -> Any:
            copy.callback(result)
            return result

        pending.addBoth(pass_on)
        return await maybe_deferred_to_future(copy)


class OffsiteRedirectMiddleware:
    """A redirect out of the source's domains ends the request, counted and reported.

    Scrapy drops such a redirect silently when it is scheduled, so the article URL would
    never get an outcome and would be fetched again every run.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OffsiteRedirectMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get(b"Location")
        if not 300 <= response.status < 400 or not location:
            return response
        target = response.urljoin(location.decode("latin-1"))
        domains = getattr(self.crawler.spider, "allowed_domains", None) or []
        if domains and not on_domains(target, domains):
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("newsmon/redirected_offsite")
            raise IgnoreRequest(f"{REFUSED}: redirected to {host_of(target) or where(target)}")
        return response

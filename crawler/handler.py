"""The HTTP(S) download handler: the last step before the network.

Four things must happen exactly there, below every middleware and after every queue:
requests for a public origin go to its mirror (NEWSMON_ORIGIN_MAP); no request goes to a
host that has blocked this run, even one already waiting in the downloader's queue when the
block was seen; no request goes to a host before the time its Retry-After named; and
requests to a host whose robots.txt asks for a Crawl-delay longer than DOWNLOAD_DELAY start
at least that far apart (Scrapy itself ignores Crawl-delay, and AutoThrottle would bring a
slot's delay back down to DOWNLOAD_DELAY).
"""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import parsedate_to_datetime

from scrapy import Request, signals
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.robotstxt import RobotParser
from scrapy.settings import BaseSettings

from crawler.middlewares import HOST_BLOCKED, Blocked, block_reason
from crawler.origins import parse_origin_map, rewrite_origin
from crawler.urls import host_of

logger = logging.getLogger(__name__)


class DownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self.to_target = parse_origin_map(crawler.settings.get("NEWSMON_ORIGIN_MAP") or {})
        self.to_public = {target: public for public, target in self.to_target.items()}
        self.blocked: dict[str, str] = {}
        self.not_before: dict[str, float] = {}  # host -> monotonic time of its Retry-After
        self.max_retry_after = crawler.settings.getfloat("NEWSMON_MAX_RETRY_AFTER")
        self.crawl_delays: dict[str, float] = {}  # host -> its robots.txt Crawl-delay
        self.next_start: dict[str, float] = {}  # host -> monotonic time it may be asked again
        crawler.signals.connect(self.host_blocked, signal=HOST_BLOCKED)
        crawler.signals.connect(self.robots_parsed, signal=signals.robots_parsed)

    def robots_parsed(self, robotparser: RobotParser, request: Request) -> None:
        """Note the host's Crawl-delay for our user agent, when longer than DOWNLOAD_DELAY."""
        delay = longer_crawl_delay(robotparser, self._crawler.settings)
        if delay is None:
            return
        host = host_of(request.url)
        self.crawl_delays[host] = delay
        self._space_after_response(host)  # robots.txt was its last request
        if self._crawler.stats is not None:
            self._crawler.stats.set_value(f"newsmon/crawl_delay/{host}", float(delay))
        logger.info("robots.txt of %s asks for Crawl-delay %g s: honoured", host, delay)

    def host_blocked(self, host: str, reason: str) -> None:
        self.blocked.setdefault(host, reason)

    async def download_request(self, request: Request) -> Response:
        host = host_of(request.url)
        if host in self.blocked:
            if self._crawler.stats is not None:
                self._crawler.stats.inc_value("newsmon/blocked_skipped")
            raise Blocked(f"not asking {host} again this run: {self.blocked[host]}")
        now = time.monotonic()
        start = max(now, self.not_before.get(host, 0.0), self.next_start.get(host, 0.0))
        # Reserved before waiting, so requests in parallel to one host queue up behind it.
        self.next_start[host] = start + self.crawl_delays.get(host, 0.0)
        if start > now:  # the slot waits with us: nothing goes to this host until then
            await asyncio.sleep(start - now)
        try:
            response = await self._fetch(request)
        finally:
            self._space_after_response(host)
        self._honour_retry_after(host, response)
        # Noted here, before the downloader starts the host's next queued request; the block
        # middleware still counts it and turns it into an error for the spider.
        if reason := block_reason(response):
            self.host_blocked(host, reason)
        return response

    def _space_after_response(self, host: str) -> None:
        """The next request to a host with a Crawl-delay starts that long after this answer
        (counted from the answer, so a slow connection cannot bring two requests closer)."""
        if delay := self.crawl_delays.get(host):
            self.next_start[host] = max(self.next_start.get(host, 0.0), time.monotonic() + delay)

    def _honour_retry_after(self, host: str, response: Response) -> None:
        """429/503 with Retry-After: hold the host until then (RetryMiddleware then retries),
        or, when the wait is longer than NEWSMON_MAX_RETRY_AFTER, stop asking it this run."""
        if response.status not in (429, 503):
            return
        seconds = retry_after_seconds(response.headers.get(b"Retry-After"))
        if seconds is None:
            return
        stats = self._crawler.stats
        if stats is not None:
            stats.inc_value("newsmon/retry_after")
        if seconds > self.max_retry_after:
            limit = self.max_retry_after
            reason = f"HTTP {response.status}, Retry-After {seconds:.0f} s (over {limit:.0f} s)"
            self.host_blocked(host, reason)
            if stats is not None:
                stats.set_value("newsmon/rate_limited", host)
        else:
            self.not_before[host] = max(self.not_before.get(host, 0.0), time.monotonic() + seconds)

    async def _fetch(self, request: Request) -> Response:
        target_url = rewrite_origin(request.url, self.to_target)
        if target_url == request.url:
            return await super().download_request(request)
        response = await super().download_request(request.replace(url=target_url))
        headers = response.headers.copy()
        location = headers.get(b"Location")
        if location:  # a mirror's absolute redirect must not leak its origin
            public = rewrite_origin(location.decode("latin-1"), self.to_public)
            headers[b"Location"] = public.encode("latin-1")
        return response.replace(url=request.url, headers=headers)


def longer_crawl_delay(robotparser: RobotParser, settings: BaseSettings) -> float | None:
    """The Crawl-delay robots.txt sets for our user agent, when longer than DOWNLOAD_DELAY."""
    agent = settings.get("ROBOTSTXT_USER_AGENT") or settings.get("USER_AGENT")
    delay = robotparser.crawl_delay(agent)
    if delay is None or delay <= settings.getfloat("DOWNLOAD_DELAY"):
        return None
    return float(delay)


def retry_after_seconds(value: bytes | None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - time.time())

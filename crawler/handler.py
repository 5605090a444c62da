"""The HTTP(S) download handler: the last step before the network.

Three things must happen exactly there, below every middleware and after every queue:
requests for a public origin go to its mirror (NEWSMON_ORIGIN_MAP); no request goes to a
host that has blocked this run, even one already waiting in the downloader's queue when the
block was seen; and no request goes to a host before the time its Retry-After named.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import parsedate_to_datetime

from scrapy import Request
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from scrapy.http import Response

from crawler.middlewares import HOST_BLOCKED, Blocked, block_reason
from crawler.origins import parse_origin_map, rewrite_origin
from crawler.urls import host_of


class DownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self.to_target = parse_origin_map(crawler.settings.get("NEWSMON_ORIGIN_MAP") or {})
        self.to_public = {target: public for public, target in self.to_target.items()}
        self.blocked: dict[str, str] = {}
        self.not_before: dict[str, float] = {}  # host -> monotonic time of its Retry-After
        self.max_retry_after = crawler.settings.getfloat("NEWSMON_MAX_RETRY_AFTER")
        crawler.signals.connect(self.host_blocked, signal=HOST_BLOCKED)

    def host_blocked(self, host: str, reason: str) -> None:
        self.blocked.setdefault(host, reason)

    async def download_request(self, request: Request) -> Response:
        host = host_of(request.url)
        if host in self.blocked:
            if self._crawler.stats is not None:
                self._crawler.stats.inc_value("newsmon/blocked_skipped")
            raise Blocked(f"not asking {host} again this run: {self.blocked[host]}")
        wait = self.not_before.get(host, 0.0) - time.monotonic()
        if wait > 0:  # the slot waits with us: nothing goes to this host until then
            await asyncio.sleep(wait)
        response = await self._fetch(request)
        self._honour_retry_after(host, response)
        # Noted here, before the downloader starts the host's next queued request; the block
        # middleware still counts it and turns it into an error for the spider.
        if reason := block_reason(response):
            self.host_blocked(host, reason)
        return response

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

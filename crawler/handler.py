"""The HTTP(S) download handler: the last step before the network.

Two things must happen exactly there, below every middleware and after every queue:
requests for a public origin go to its mirror (NEWSMON_ORIGIN_MAP), and no request goes to a
host that has blocked this run, even one that was already waiting in the downloader's queue
when the block was seen.
"""

from __future__ import annotations

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
        crawler.signals.connect(self.host_blocked, signal=HOST_BLOCKED)

    def host_blocked(self, host: str, reason: str) -> None:
        self.blocked.setdefault(host, reason)

    async def download_request(self, request: Request) -> Response:
        host = host_of(request.url)
        if host in self.blocked:
            if self._crawler.stats is not None:
                self._crawler.stats.inc_value("newsmon/blocked_skipped")
            raise Blocked(f"{host} blocked this run earlier: {self.blocked[host]}")
        response = await self._fetch(request)
        # Noted here, before the downloader starts the host's next queued request; the block
        # middleware still counts it and turns it into an error for the spider.
        if reason := block_reason(response):
            self.host_blocked(host, reason)
        return response

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

"""What each site of a source gave in one run: a source reads its agency's copy on several
sites (its own, and licensees), so "reuters.com blocked" is not "no Reuters copy".

The tally listens to the crawl's signals (responses, blocks, stored articles) and ends up in
the run's ``crawl_runs.sites`` column as JSON: ``{host: {"responses", "pages", "stored",
"blocked"}}``.
"""

from __future__ import annotations

import json
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.http import Response

from crawler.items import Article
from crawler.middlewares import HOST_BLOCKED
from crawler.urls import host_of


class SiteTally:
    def __init__(self, crawler: Crawler):
        self.sites: dict[str, dict[str, Any]] = {}
        crawler.signals.connect(self.response_received, signal=signals.response_received)
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.host_blocked, signal=HOST_BLOCKED)

    def site(self, host: str) -> dict[str, Any]:
        return self.sites.setdefault(
            host, {"responses": 0, "pages": 0, "stored": 0, "blocked": None}
        )

    def response_received(self, response: Response, request: Request, **kwargs: Any) -> None:
        site = self.site(host_of(response.url))
        site["responses"] += 1
        if request.meta.get("newsmon_kind") == "article" and 200 <= response.status < 300:
            site["pages"] += 1

    def item_scraped(self, item: Any, **kwargs: Any) -> None:
        if isinstance(item, Article):
            self.site(item.site)["stored"] += 1

    def host_blocked(self, host: str, reason: str, **kwargs: Any) -> None:
        self.site(host)["blocked"] = reason

    def as_json(self) -> str:
        return json.dumps(self.sites, sort_keys=True)


def copy_elsewhere(sites: dict[str, dict[str, Any]], agency: str) -> str:
    """The clause a run's reason gains when a site blocked but others gave article pages:
    ``Reuters copy read on 2 other sites (a.com: 3 pages, 1 stored; ...)``."""
    blocked = [h for h, s in sites.items() if s.get("blocked")]
    others = {h: s for h, s in sites.items() if not s.get("blocked") and s.get("pages")}
    if not blocked or not others:
        return ""
    plural = "s" if len(others) > 1 else ""
    detail = "; ".join(
        f"{host}: {s['pages']} page{'s' if s['pages'] != 1 else ''}, {s['stored']} stored"
        for host, s in sorted(others.items())
    )
    what = f"{agency} copy" if agency else "articles"
    return f"{what} read on {len(others)} other site{plural} ({detail})"

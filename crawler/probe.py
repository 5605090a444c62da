"""`newsmon sources --check`: probe every declared discovery endpoint once, politely.

For a user with internet access: is each feed, sitemap and listing page a source declares
actually there, readable, not blocked, and not empty? robots.txt is read first (once per
host) and obeyed; each endpoint gets one GET, with the crawl's User-Agent, a timeout, a size
cap and a pause between requests to the same host. A 200 with an empty body, or a feed with
no entries, is broken: zombie feeds answer 200 for years.

Plain urllib, not Scrapy: one request per endpoint needs no engine, and the parsers and
the block detection are the crawl's own (crawler.discovery, crawler.middlewares).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from protego import Protego
from scrapy.http import Response

from crawler.discovery import DiscoveryError, Link, parse_feed, parse_listing, parse_sitemap
from crawler.middlewares import block_reason
from crawler.origins import publicize, rewrite_origin
from crawler.sources import Discovery, Source
from crawler.urls import article_url


@dataclass
class ProbeResult:
    source: str
    site: str
    kind: str
    url: str
    enabled: bool
    confidence: str
    robots: str  # "allowed", "disallowed", or why it is unknown
    reachable: bool
    status: int | None
    blocked: str | None
    entries: int | None  # feed items, sitemap URLs, child sitemaps, or listing article links
    articles: int | None  # entries that are the source's article URLs
    newest: str | None  # newest entry's date (UTC ISO 8601)
    verdict: str  # "ok", "broken", "disallowed" (robots.txt: not probed)
    problem: str  # why it is broken, "" when ok

    @property
    def fails_check(self) -> bool:
        return self.enabled and self.verdict == "broken"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        facts = (
            f"robots {self.robots}; "
            + (f"HTTP {self.status}" if self.status is not None else "no answer")
            + (f"; {self.entries} entries" if self.entries is not None else "")
            + (f" ({self.articles} article URLs)" if self.articles is not None else "")
            + (f", newest {self.newest}" if self.newest else "")
        )
        verdict = self.verdict.upper() if self.verdict != "ok" else "ok"
        why = f": {self.problem}" if self.problem else ""
        return (
            f"{self.source:<8} {verdict:<10} {self.kind:<13} {self.url}\n"
            f"{'':<8} {state}, {self.confidence}; {facts}{why}"
        )


@dataclass
class Fetched:
    status: int | None
    headers: dict[str, str]
    body: bytes
    error: str = ""


class Prober:
    """One polite client for a whole check: robots.txt per host, a pause per host."""

    def __init__(
        self,
        *,
        user_agent: str,
        origin_map: dict[str, str] | None = None,
        timeout: float = 20.0,
        delay: float = 2.0,
        max_bytes: int = 10 * 2**20,
    ):
        self.user_agent = user_agent
        self.origin_map = origin_map or {}
        self.timeout = timeout
        self.delay = delay
        self.max_bytes = max_bytes
        self.robots: dict[str, tuple[Protego | None, Fetched]] = {}
        self.last_request: dict[str, float] = {}

    def fetch(self, url: str) -> Fetched:
        host = urlsplit(url).netloc
        wait = self.last_request.get(host, 0.0) + self.delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.last_request[host] = time.monotonic()
        request = urllib.request.Request(
            rewrite_origin(url, self.origin_map), headers={"User-Agent": self.user_agent}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return Fetched(answer.status, dict(answer.headers), answer.read(self.max_bytes))
        except urllib.error.HTTPError as exc:
            body = exc.read(self.max_bytes) if exc.fp else b""
            return Fetched(exc.code, dict(exc.headers or {}), body)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            text = " ".join(str(reason).split()) or type(exc).__name__
            return Fetched(None, {}, b"", publicize(text, self.origin_map))

    def robots_for(self, url: str) -> tuple[Protego | None, Fetched]:
        """(parser, the robots.txt answer); no parser means "do not probe this host"."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self.robots:
            answer = self.fetch(origin + "/robots.txt")
            parser = None
            if answer.status is not None and 400 <= answer.status < 500:
                parser = Protego.parse("")  # no robots.txt: everything allowed
            elif answer.status is not None and answer.status < 400:
                parser = Protego.parse(answer.body.decode("utf-8", "replace"))
            # 5xx: as Google does, a failing robots.txt means "ask again later", not "allowed".
            self.robots[origin] = (parser, answer)
        return self.robots[origin]

    def probe(self, source: Source, endpoint: Discovery) -> ProbeResult:
        result = ProbeResult(
            source=source.name,
            site=endpoint.host,
            kind=endpoint.kind,
            url=endpoint.url,
            enabled=endpoint.enabled,
            confidence=endpoint.confidence,
            robots="allowed",
            reachable=False,
            status=None,
            blocked=None,
            entries=None,
            articles=None,
            newest=None,
            verdict="broken",
            problem="",
        )
        robots, robots_answer = self.robots_for(endpoint.url)
        if robots is None:
            result.robots = "unknown"
            if robots_answer.status is None:
                result.problem = f"unreachable: {robots_answer.error}"
            else:
                result.reachable = True
                result.problem = f"robots.txt answered {robots_answer.status}: not probed"
            return result
        if not robots.can_fetch(endpoint.url, self.user_agent):
            result.robots, result.verdict = "disallowed", "disallowed"
            result.problem = "robots.txt disallows it: newsmon does not read it"
            return result
        answer = self.fetch(endpoint.url)
        result.reachable = answer.status is not None
        result.status = answer.status
        if answer.status is None:
            result.problem = f"unreachable: {answer.error}"
            return result
        response = Response(
            endpoint.url, status=answer.status, headers=answer.headers, body=answer.body
        )
        result.blocked = block_reason(response)
        if result.blocked:
            result.problem = f"blocked: {result.blocked}"
        elif not 200 <= answer.status < 300:
            result.problem = f"HTTP {answer.status}"
        elif not answer.body.strip():
            result.problem = "empty body"
        else:
            self._count(result, source, endpoint, answer.body)
        return result

    def _count(self, result: ProbeResult, source: Source, endpoint: Discovery, body: bytes) -> None:
        try:
            links, children = _entries(endpoint, body)
        except DiscoveryError as exc:
            result.problem = f"unreadable {endpoint.kind}: {exc}"
            return
        entries = (
            children if endpoint.kind == "sitemap_index" or (children and not links) else links
        )
        result.entries = len(entries)
        if not children:
            result.articles = sum(
                source.is_article_url(article_url(link.url, source)) for link in links
            )
        dates = [d for link in entries for d in (link.published, link.lastmod) if d]
        result.newest = max(dates) if dates else None
        if endpoint.kind == "listing" and not result.articles:
            result.problem = "no links to article pages on it"
        elif not entries:
            result.problem = "no entries"
        else:
            result.verdict = "ok"


def _entries(endpoint: Discovery, body: bytes) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
    """(article candidates, child sitemaps) of an endpoint's body."""
    if endpoint.kind in ("rss", "atom"):
        return parse_feed(body), ()
    if endpoint.kind == "listing":
        return parse_listing(body.decode("utf-8", "replace"), endpoint.url), ()
    sitemap = parse_sitemap(body)
    return sitemap.links, sitemap.children


def check_sources(sources: dict[str, Source], prober: Prober) -> Iterator[ProbeResult]:
    """Every declared endpoint of every source, enabled or not, probed once."""
    for source in sources.values():
        for endpoint in source.discovery:
            yield prober.probe(source, endpoint)

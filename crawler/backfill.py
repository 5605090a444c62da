"""Choosing what a backfill fetches from a source's archive sitemaps.

A backfill is an ordinary crawl whose start requests are the source's ``archive_index``
sitemap indexes instead of its feeds: ``newsmon backfill`` runs ``scrapy crawl`` with the
``NEWSMON_BACKFILL_*`` settings, and everything after discovery (robots.txt, politeness,
block detection, extraction, relevance, dedupe, storage, the seen-URL table) is the same.

How the window is decided, and its limits:

- A sitemap entry is in the window when its ``lastmod`` falls in it, else when the date
  written in its URL does (``/20200105-``, ``/2020/01/05/``, ``-2020-01-05/``). An entry with
  neither is not fetched (it is counted as undated).
- ``lastmod`` is a *modification* time, not the publication date: a 2011 story edited in
  2021 is found by a 2021 window and missed by a 2011 one. The stored article keeps its real
  publication date, read from the page.
- A child sitemap whose ``lastmod`` in the index is before the window's start cannot hold an
  entry modified inside the window, so it is not downloaded. Nothing can be concluded from a
  child modified after the window's end (old entries are still in it), nor from a child with
  no ``lastmod``: those are read.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.settings import BaseSettings
from twisted.internet import task

from crawler.dates import to_datetime
from crawler.discovery import Link
from crawler.middlewares import AlreadySeen

logger = logging.getLogger(__name__)

# Slug-shaped relevance terms: each regex must match one whole word of the URL's path (words
# are split on - _ / .). The same places and actors as pipelines/relevance.py, as they are
# spelled in slugs; the relevance filter still judges every fetched page on its text.
DEFAULT_SLUG_TERMS: tuple[str, ...] = (
    r"libyan?s?",
    r"tripoli",
    r"benghazi",
    r"misr?[au]ta",
    r"sirte",
    r"fezzan",
    r"derna",
    r"tobruk",
    r"sabha|sebha",
    r"zawiy?a",
    r"ajdabiya",
    r"kufra",
    r"jufra",
    r"haft[ae]rs?|hifter",
    r"dbeib[ae]h?",
    r"[gqk]h?add?h?afis?",
    r"menfi",
    r"bashagha",
    r"serraj|sarr?aj",
    r"unsmil",
    # Russia's mercenaries in Libya are much of RFE/RL's Libya coverage; the relevance filter
    # drops their Ukraine and Sahel stories after the fetch.
    r"wagner",
)
# A date written in a URL path: /2020/01/05/, /20200105-slug (France 24), -2020-01-05/.
_URL_DATE = re.compile(
    r"(?:^|[/_-])((?:19|20)\d{2})([/-]?)(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?=[/_-]|$)"
)
_DATE_ARG = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
PROGRESS_FILE_EVERY_SECONDS = 1.0
PROGRESS_LOG_EVERY_SECONDS = 30.0


class WindowError(ValueError):
    """A backfill window that cannot be read; the message is meant for the user."""


def parse_window_date(text: str, *, end: bool = False) -> datetime:
    """The start (or, with ``end``, the exclusive end) of ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``.

    ``--until 2020`` means to the end of 2020, so a year or a month is taken whole.
    """
    match = _DATE_ARG.match(text.strip())
    if not match:
        raise WindowError(f"{text!r} is not a date: use YYYY-MM-DD, YYYY-MM or YYYY")
    year, month, day = (int(g) if g else None for g in match.groups())
    assert year is not None
    try:
        start = date(year, 1 if month is None else month, 1 if day is None else day)
    except ValueError as exc:
        raise WindowError(f"{text!r} is not a date: {exc}") from None
    if not end:
        return datetime(start.year, start.month, start.day, tzinfo=UTC)
    if day is not None:
        after = start + timedelta(days=1)
    elif month is not None:
        after = date(year + month // 12, month % 12 + 1, 1)
    else:
        after = date(year + 1, 1, 1)
    return datetime(after.year, after.month, after.day, tzinfo=UTC)


def url_date(url: str) -> datetime | None:
    """The date written in a URL's path, if it has one."""
    match = _URL_DATE.search(urlsplit(url).path)
    if not match:
        return None
    try:
        return datetime(int(match[1]), int(match[3]), int(match[4]), tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class BackfillPlan:
    """One backfill's window and selection, from the ``NEWSMON_BACKFILL_*`` settings."""

    since: datetime
    until: datetime | None  # exclusive; None: up to now
    all_urls: bool = False
    max_pages: int | None = None
    slug_terms: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> BackfillPlan | None:
        """The plan of this run, or None when the run is a live crawl."""
        since = settings.get("NEWSMON_BACKFILL_SINCE")
        if not since:
            return None
        until = settings.get("NEWSMON_BACKFILL_UNTIL")
        terms = settings.getlist("NEWSMON_BACKFILL_SLUG_TERMS") or list(DEFAULT_SLUG_TERMS)
        max_pages = settings.getint("NEWSMON_BACKFILL_MAX_PAGES")
        return cls.build(
            since=since,
            until=until or None,
            all_urls=settings.getbool("NEWSMON_BACKFILL_ALL_URLS"),
            max_pages=max_pages if max_pages > 0 else None,
            slug_terms=terms,
        )

    @classmethod
    def build(
        cls,
        *,
        since: str,
        until: str | None = None,
        all_urls: bool = False,
        max_pages: int | None = None,
        slug_terms: Iterable[str] = DEFAULT_SLUG_TERMS,
    ) -> BackfillPlan:
        """A checked plan; WindowError names what is wrong."""
        start = parse_window_date(since)
        end = parse_window_date(until, end=True) if until else None
        if end is not None and end <= start:
            raise WindowError(f"--since {since} is after --until {until}")
        try:
            compiled = tuple(re.compile(term, re.IGNORECASE) for term in slug_terms)
        except re.error as exc:
            raise WindowError(f"NEWSMON_BACKFILL_SLUG_TERMS: invalid regex: {exc}") from None
        return cls(start, end, all_urls, max_pages, compiled)

    def in_window(self, moment: datetime) -> bool:
        return moment >= self.since and (self.until is None or moment < self.until)

    def may_hold_window(self, child: Link) -> bool:
        """False only when the index's lastmod proves the child sitemap was last changed
        before the window starts, so none of its entries can have a lastmod inside it."""
        modified = to_datetime(child.lastmod) if child.lastmod else None
        return modified is None or modified >= self.since

    def entry_date(self, link: Link) -> datetime | None:
        """When an entry counts for the window: its lastmod, else the date in its URL."""
        return (to_datetime(link.lastmod) if link.lastmod else None) or url_date(link.url)

    def slug_matches(self, url: str) -> bool:
        return self.slug_pattern.search(urlsplit(url).path) is not None

    @cached_property
    def slug_pattern(self) -> re.Pattern[str]:
        """All terms in one regex, each held to whole words of the path: one search a URL."""
        terms = "|".join(f"(?:{term.pattern})" for term in self.slug_terms) or "(?!)"
        return re.compile(rf"(?:^|[-_/.])(?:{terms})(?=[-_/.]|$)", re.IGNORECASE)

    def select(self, links: Iterable[Link], stats: Any) -> Iterator[Link]:
        """The entries to fetch, counting every decision in the run's stats."""
        for link in links:
            stats.inc_value("newsmon/backfill/considered")
            moment = self.entry_date(link)
            if moment is None:
                stats.inc_value("newsmon/backfill/undated")
                continue
            if not self.in_window(moment):
                continue
            stats.inc_value("newsmon/backfill/in_window")
            if not self.all_urls and not self.slug_matches(link.url):
                continue
            stats.inc_value("newsmon/backfill/selected")
            yield link


class OverBudget(AlreadySeen):
    """An article request past ``--max-pages``: not fetched this run, not a failure."""


class PageBudgetMiddleware:
    """Caps the article pages a backfill downloads (``--max-pages``).

    It sits after the seen-URL check, so URLs skipped as already judged cost nothing and a
    rerun with the same cap fetches the next N pages.
    """

    def __init__(self, crawler: Crawler, max_pages: int | None):
        self.crawler = crawler
        self.max_pages = max_pages
        self.fetched = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PageBudgetMiddleware:
        plan = BackfillPlan.from_settings(crawler.settings)
        return cls(crawler, plan.max_pages if plan else None)

    def process_request(self, request: Request) -> None:
        if self.max_pages is None or request.meta.get("newsmon_kind") != "article":
            return
        if request.meta.get("retry_times") or request.meta.get("redirect_times"):
            return  # the same page, still on its way
        if self.fetched >= self.max_pages:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("newsmon/backfill/over_budget")
            self.crawler.stats.set_value("newsmon/backfill/budget_spent", True)
            raise OverBudget(f"--max-pages {self.max_pages} reached: {request.url}")
        self.fetched += 1


# Stats the progress file carries, under the names the CLI reads.
_PROGRESS_STATS = {
    "sitemaps_read": "newsmon/backfill/sitemaps_read",
    "sitemaps_queued": "newsmon/backfill/sitemaps_queued",
    "considered": "newsmon/backfill/considered",
    "in_window": "newsmon/backfill/in_window",
    "selected": "newsmon/backfill/selected",
    "done": "newsmon/articles_done",
    "skipped_seen": "newsmon/skipped/seen",
    "pages": "newsmon/article_pages",
    "stored": "newsmon/stored",
    "irrelevant": "newsmon/rejected/irrelevant",
    "errors": "newsmon/article_errors",
}


class BackfillProgress:
    """Writes a backfill's progress to a small JSON file every second (for ``newsmon
    backfill``'s progress bar) and a log line every 30 s (for logs and unattended runs).

    The file is replaced atomically, so a reader never sees half of it.
    """

    def __init__(self, crawler: Crawler, path: str | None):
        self.crawler = crawler
        self.path = Path(path) if path else None
        self.started = time.monotonic()
        self.logged = 0.0
        self.loop: task.LoopingCall | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackfillProgress:
        if BackfillPlan.from_settings(crawler.settings) is None:
            raise NotConfigured("not a backfill")
        return cls(crawler, crawler.settings.get("NEWSMON_BACKFILL_PROGRESS"))

    def snapshot(self, finished: bool = False) -> dict[str, Any]:
        stats = self.crawler.stats
        assert stats is not None
        values: dict[str, Any] = {
            name: int(stats.get_value(key, 0)) for name, key in _PROGRESS_STATS.items()
        }
        values["elapsed"] = round(time.monotonic() - self.started, 1)
        values["budget_spent"] = bool(stats.get_value("newsmon/backfill/budget_spent", False))
        values["finished"] = finished
        return values

    def report(self, finished: bool = False) -> None:
        values = self.snapshot(finished)
        if self.path is not None:
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(json.dumps(values), encoding="utf-8")
            os.replace(temporary, self.path)
        if finished or time.monotonic() - self.logged >= PROGRESS_LOG_EVERY_SECONDS:
            self.logged = time.monotonic()
            self.log(values)

    def log(self, values: dict[str, Any]) -> None:
        logger.info(
            "Backfill progress: %(done)d/%(selected)d done (%(skipped_seen)d already in the "
            "archive), %(stored)d stored, %(considered)d URLs considered, sitemaps "
            "%(sitemaps_read)d/%(sitemaps_queued)d read",
            values,
        )

    def spider_opened(self, spider: Spider) -> None:
        self.loop = task.LoopingCall(self.report)
        self.loop.start(PROGRESS_FILE_EVERY_SECONDS, now=True)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.report(finished=True)

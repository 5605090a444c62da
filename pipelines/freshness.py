"""Change detection: which URLs already judged are worth asking again, and how cheaply.

A URL with a final outcome is not fetched again without a reason. Two reasons count:

- **changed**: its discovery entry (sitemap ``lastmod``, news ``publication_date``, feed
  ``updated``) carries a date later than our last fetch of it (from that fetch's very
  second on), so the page may have changed since;
- **recent**: the article is young (published, or first seen, within
  ``NEWSMON_RECHECK_HOURS``) and has not been checked for a quarter of its age at its last
  check (ten minutes at least), so a two-line "breaking" stub is looked at again after
  minutes, a day-old story after hours; at most ``NEWSMON_RECHECK_BUDGET`` of these per run.

Every re-check is a conditional request (``If-None-Match`` / ``If-Modified-Since`` from the
validators of the last fetch), so an unchanged page costs a 304 and no body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils
from scrapy import Request
from scrapy.http import Response

from crawler.dates import to_datetime, utc_now
from crawler.items import FetchState
from crawler.middlewares import AlreadySeen
from pipelines.database import write_transaction

# Outcomes after which a URL is not fetched again without a reason.
FINAL_OUTCOMES = ("stored", "duplicate", "irrelevant", "no_agency_credit", "gone")
# A page that once had no text may be a broken response, and one whose extraction hung or
# killed its worker may have met a passing fault: retried this often, then given up.
NO_TEXT_ATTEMPTS = 3
RETRIED_OUTCOMES = ("no_text", "extract_failed")
# A young page is checked again once this fraction of its age at the last check has passed,
# and never sooner than RECHECK_MIN_SPACING after it (so back-to-back runs cost nothing).
RECHECK_SPACING = 0.25
RECHECK_MIN_SPACING = timedelta(minutes=10)
# At most this long between a page's response and the write of its outcome (extraction in a
# worker, NEWSMON_EXTRACT_TIMEOUT, then the store's queue): longer, and last_seen was moved
# by something else since, such as a failed fetch.
JUDGING_TIME = timedelta(minutes=10)


class NotModified(AlreadySeen):
    """A re-check answered 304: the page is as we have it."""


@dataclass(frozen=True)
class Known:
    """What the archive knows of one URL key that has an outcome."""

    outcome: str
    attempts: int
    first_seen: str
    last_seen: str
    published: str | None
    original_stored: bool  # for a duplicate: the article it duplicates exists
    etag: str | None
    last_modified: str | None
    lastmod: str | None  # the discovery date seen at the last fetch
    checked: str | None  # when that fetch's response arrived

    @property
    def settled(self) -> bool:
        """Not fetched again unless something says the page changed."""
        if self.outcome in RETRIED_OUTCOMES:
            return self.attempts >= NO_TEXT_ATTEMPTS
        if self.outcome == "duplicate":
            return self.original_stored  # an original that was never written is no reason
        return self.outcome in FINAL_OUTCOMES

    @property
    def validators_trusted(self) -> bool:
        """The validators belong to the text we judged: the outcome was written after the
        response arrived. They are written in the same transaction as the outcome now; an
        archive whose crawls wrote them first, in a transaction of their own, may hold
        validators whose outcome a crash never wrote: the next re-check then asks for the
        whole page instead of being told 304 about a text never stored."""
        return self.checked is not None and self.checked <= self.last_seen

    def changed_since_fetch(self, link_date: str | None) -> bool:
        if link_date is None or self.outcome == "gone":
            return False
        if self.validators_trusted and self.lastmod and self.lastmod > self.last_seen:
            return link_date > self.lastmod  # a date in the future stays "seen" until it passes
        if link_date != self.lastmod and self.fetched <= link_date <= self.last_seen:
            # Both clocks count whole seconds, and last_seen is written once the page is
            # judged: a date from the second of the fetch up to then may be an update made
            # after the fetch. One conditional request settles it: its 304 or new version
            # moves last_seen on and keeps this date as seen.
            return True
        return link_date > self.last_seen

    @property
    def fetched(self) -> str:
        """When the page we judged was fetched, if last_seen is still its judging (a failed
        fetch since moves last_seen alone: then last_seen, so that a page that keeps
        failing is not asked again each run for a date before that failure)."""
        checked, seen = to_datetime(self.checked), to_datetime(self.last_seen)
        if self.validators_trusted and checked and seen and seen - checked <= JUDGING_TIME:
            return self.checked or self.last_seen
        return self.last_seen

    def due_for_recheck(self, now: datetime, window: timedelta, link_published: str | None) -> bool:
        if self.outcome not in ("stored", "irrelevant", "no_text", "no_agency_credit"):
            return False
        born = to_datetime(self.published or link_published or self.first_seen)
        last = to_datetime(self.last_seen)
        if born is None or last is None or now - born > window:
            return False
        return now - last >= max((last - born) * RECHECK_SPACING, RECHECK_MIN_SPACING)


_KNOWN = """select s.key, s.outcome, coalesce(s.attempts, 1), s.first_seen, s.last_seen,
                  a.published, a.id is not null, f.etag, f.last_modified, f.lastmod, f.checked
           from seen_urls s
           left join articles a on a.url = s.article_url
           left join fetch_state f on f.key = s.key
           where s.outcome != 'failed'"""


def _known(row: tuple[Any, ...]) -> Known:
    return Known(
        outcome=row[1],
        attempts=row[2],
        first_seen=row[3] or "",
        last_seen=row[4] or "",
        published=row[5],
        original_stored=bool(row[6]),
        etag=row[7],
        last_modified=row[8],
        lastmod=row[9],
        checked=row[10],
    )


def load_known(db: sqlite_utils.Database) -> dict[str, Known]:
    """Every URL key with an outcome worth remembering between runs (for review and tests:
    a crawl asks ``known_of`` per key, whose cost does not grow with the archive)."""
    return {row[0]: _known(row) for row in db.execute(_KNOWN)}


def known_of(db: sqlite_utils.Database, key: str) -> Known | None:
    """What the archive knows of one URL key: one primary-key lookup (and two joins)."""
    row = db.execute(_KNOWN + " and s.key = ?", [key]).fetchone()
    return _known(row) if row else None


class Rechecks:
    """The re-check decisions of one run, with its budget of 'recent' re-checks."""

    def __init__(self, known: Callable[[str], Known | None], *, hours: float, budget: int):
        # Looked up per key as links come, not loaded whole: a ten-year archive knows
        # millions of URLs, a run asks about hundreds.
        self.lookup = known
        self.known: dict[str, Known | None] = {}
        self.window = timedelta(hours=hours)
        self.budget = budget
        self.now = datetime.now(UTC)

    def reason(self, key: str, link_date: str | None, link_published: str | None) -> str | None:
        """'new' (never judged, or not settled), 'changed', 'recent', or None: skip it."""
        if key not in self.known:
            self.known[key] = self.lookup(key)
        known = self.known[key]
        if known is None or not known.settled:
            return "new"
        if known.changed_since_fetch(link_date):
            return "changed"
        if self.budget > 0 and known.due_for_recheck(self.now, self.window, link_published):
            self.budget -= 1
            return "recent"
        return None

    def conditional(self, request: Request, key: str) -> None:
        """Ask for the page only if it differs from the one judged last time."""
        known = self.known.get(key)
        if known is None or not known.validators_trusted:
            return
        if known.etag:
            request.headers[b"If-None-Match"] = known.etag.encode("latin-1")
        if known.last_modified:
            request.headers[b"If-Modified-Since"] = known.last_modified.encode("latin-1")


def link_date(request: Request) -> str | None:
    """The newest date the discovery entry gave for this link (see the spider's meta)."""
    value = request.meta.get("newsmon_link_date")
    return value if isinstance(value, str) else None


def fetch_state_of(key: str, request: Request, response: Response) -> FetchState:
    """The validators of a fetched page and the discovery date that led to it, to be written
    with the page's outcome (``write_fetch_state``)."""
    headers = response.headers
    etag = headers.get(b"ETag")
    modified = headers.get(b"Last-Modified")
    return FetchState(
        key=key,
        etag=etag.decode("latin-1") if etag else None,
        last_modified=modified.decode("latin-1") if modified else None,
        lastmod=link_date(request),
        checked=utc_now(),
    )


def record_not_modified(db: sqlite_utils.Database, key: str, request: Request) -> None:
    """A 304: the page is as judged; only the time it was last seen moves."""
    now = utc_now()
    with write_transaction(db):
        db.execute("update seen_urls set last_seen = ? where key = ?", [now, key])
        db.execute(
            "update articles set last_seen = ? where url = "
            "(select article_url from seen_urls where key = ? and outcome = 'stored')",
            [now, key],
        )
        db.execute(
            "update fetch_state set checked = ?, "
            "lastmod = nullif(max(coalesce(lastmod, ''), ?), '') "
            "where key = ?",
            [now, link_date(request) or "", key],
        )

"""Health and timing of each source, from the archive's run history.

The database is the scheduler's memory: when a source last ran, how it went, and how many
runs in a row failed decide when it runs next, both in the daemon and in `newsmon status`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from crawler.dates import to_datetime
from crawler.sources import Source

# A source that fails or is blocked run after run is polled less often: its interval doubles
# with each failure in a row, up to this many times its interval, and at most a day.
BACKOFF_MAX_FACTOR = 16
BACKOFF_MAX_SECONDS = 24 * 3600
UNHEALTHY_FAILURES = 3  # `newsmon status` exits non-zero at this many failures in a row


@dataclass
class History:
    last_started: datetime | None
    last_status: str | None
    last_reason: str | None
    last_duration_s: float | None
    last_new_article: str | None
    failures_in_a_row: int


def history(db: sqlite_utils.Database, source: str) -> History:
    runs = list(
        db.query(
            "select started, finished, status, reason from crawl_runs "
            "where source = ? and kind = 'crawl' and status != 'running' "
            "order by started desc, id desc limit 50",
            [source],
        )
    )
    failures = 0
    for run in runs:
        if run["status"] not in ("failed", "blocked"):
            break
        failures += 1
    # Backfilled articles are old news found today: they say nothing of the live crawl.
    newest = db.execute(
        "select max(first_seen) from articles where source = ? "
        "and coalesce(discovered_via, '') != 'archive_index'",
        [source],
    ).fetchone()[0]
    last = runs[0] if runs else None
    duration = None
    if last and last["finished"]:
        start, end = to_datetime(last["started"]), to_datetime(last["finished"])
        duration = (end - start).total_seconds() if start and end else None
    return History(
        last_started=to_datetime(last["started"]) if last else None,
        last_status=last["status"] if last else None,
        last_reason=(last["reason"] or None) if last else None,
        last_duration_s=duration,
        last_new_article=newest,
        failures_in_a_row=failures,
    )


def backoff_seconds(interval: float, failures_in_a_row: int) -> float:
    """The wait before the next run: the interval, doubled per failure in a row, capped."""
    if failures_in_a_row <= 0:
        return interval
    cap = max(interval, min(interval * BACKOFF_MAX_FACTOR, BACKOFF_MAX_SECONDS))
    return float(min(interval * 2 ** min(failures_in_a_row, 30), cap))


def next_run(past: History, interval: float, now: datetime) -> datetime:
    """When a source runs next: now if it never ran or is overdue (once, however long the
    downtime was), else its last start plus its (backed-off) interval."""
    if past.last_started is None:
        return now
    due = past.last_started + timedelta(seconds=backoff_seconds(interval, past.failures_in_a_row))
    return max(due, now)


@dataclass
class SourceStatus:
    source: str
    last_run: str | None
    last_status: str | None
    last_reason: str | None
    last_duration_s: float | None
    last_new_article: str | None
    failures_in_a_row: int
    next_run: str
    backoff: str | None
    problems: list[str]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}

    def line(self) -> str:
        state = "healthy" if self.healthy else "UNHEALTHY: " + "; ".join(self.problems)
        took = f", {self.last_duration_s:.0f} s" if self.last_duration_s is not None else ""
        last = f"{self.last_run} ({self.last_status}{took})" if self.last_run else "never"
        backoff = f" ({self.backoff})" if self.backoff else ""
        return (
            f"{self.source:<10} last run {last}, last new article "
            f"{self.last_new_article or 'never'}, {self.failures_in_a_row} failure(s) in "
            f"a row, next run {self.next_run}{backoff}: {state}"
        )


def source_status(
    db: sqlite_utils.Database,
    sources: dict[str, Source],
    *,
    every: int | None = None,
    max_failures: int = UNHEALTHY_FAILURES,
    now: datetime | None = None,
) -> list[SourceStatus]:
    now = now or datetime.now(UTC)
    states = []
    for source in sources.values():
        if not source.enabled:
            continue
        past = history(db, source.name)
        interval = every or source.interval_seconds
        problems = []
        if past.last_started is None:
            problems.append("never crawled")
        elif past.failures_in_a_row >= max_failures:
            problems.append(
                f"{past.failures_in_a_row} failed or blocked runs in a row, "
                f"last: {past.last_status}: {past.last_reason or 'no reason'}"
            )
        silent_since = to_datetime(past.last_new_article) or _first_run(db, source.name)
        if silent_since and now - silent_since > timedelta(days=source.silence_days):
            problems.append(f"nothing new for over {source.silence_days} days")
        backoff = None
        if past.failures_in_a_row:
            wait = backoff_seconds(interval, past.failures_in_a_row)
            backoff = f"backing off: every {wait / 60:.0f} min after {past.last_status} runs"
        states.append(
            SourceStatus(
                source=source.name,
                last_run=_iso(past.last_started),
                last_status=past.last_status,
                last_reason=past.last_reason,
                last_duration_s=past.last_duration_s,
                last_new_article=past.last_new_article,
                failures_in_a_row=past.failures_in_a_row,
                next_run=_iso(next_run(past, interval, now)) or "now",
                backoff=backoff,
                problems=problems,
            )
        )
    return states


def _first_run(db: sqlite_utils.Database, source: str) -> datetime | None:
    first = db.execute(
        "select min(started) from crawl_runs where source = ? and kind = 'crawl'", [source]
    )
    return to_datetime(first.fetchone()[0])


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None

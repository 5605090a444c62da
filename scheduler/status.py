"""Health and timing of each source, from the archive's run history.

The database is the scheduler's memory: when a source last ran, how it went, and how many
runs in a row failed decide when it runs next, both in the daemon and in `newsmon status`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from crawler.dates import to_datetime
from crawler.sources import Source
from pipelines.run_states import INTERRUPTED
from scheduler.daemon_state import last_daemon

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
    last_sites: dict[str, Any] = field(default_factory=dict)  # per host: pages, stored, blocked


def history(db: sqlite_utils.Database, source: str) -> History:
    runs = list(
        db.query(
            "select started, finished, status, reason, sites from crawl_runs "
            "where source = ? and kind = 'crawl' and status != 'running' "
            "order by started desc, id desc limit 50",
            [source],
        )
    )
    failures = 0
    for run in runs:
        if run["status"] == INTERRUPTED:  # stopped by the operator: neither failure nor success
            continue
        if run["status"] not in ("failed", "blocked"):
            break
        failures += 1
    # Backfilled articles are old news found today: they say nothing of the live crawl.
    # Newest first through the (source, first_seen) index: a handful of rows, not the source's all.
    newest_row = db.execute(
        "select first_seen from articles where source = ? "
        "and coalesce(discovered_via, '') != 'archive_index' order by first_seen desc limit 1",
        [source],
    ).fetchone()
    newest = newest_row[0] if newest_row else None
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
        last_sites=json.loads(last["sites"] or "{}") if last else {},
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
    interval_s: int
    next_run: str
    backoff: str | None
    problems: list[str]
    max_failures: int = UNHEALTHY_FAILURES
    sites: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """``unhealthy`` (what makes `newsmon status` exit 1), ``failing`` (its last runs
        failed or were blocked, fewer than --max-failures in a row), or ``healthy``."""
        if self.problems:
            return "unhealthy"
        return "failing" if self.failures_in_a_row else "healthy"

    @property
    def healthy(self) -> bool:
        return self.state == "healthy"

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state, "healthy": self.healthy}

    def describe_state(self) -> str:
        if self.state == "unhealthy":
            return "UNHEALTHY: " + "; ".join(self.problems)
        if self.state == "failing":
            return (
                f"FAILING: last run {self.last_status} (unhealthy at {self.max_failures} "
                "failed or blocked runs in a row)"
            )
        return "healthy"

    def line(self) -> str:
        took = f", {seconds_text(self.last_duration_s)}" if self.last_duration_s is not None else ""
        last = f"{self.last_run} ({self.last_status}{took})" if self.last_run else "never"
        backoff = f" ({self.backoff})" if self.backoff else ""
        return (
            f"{self.source:<10} last run {last}, last new article "
            f"{self.last_new_article or 'never'}, {self.failures_in_a_row} failure(s) in "
            f"a row, next run {self.next_run} (every {duration_text(self.interval_s)})"
            f"{backoff}{sites_summary(self.sites)}: {self.describe_state()}"
        )


def seconds_text(seconds: float) -> str:
    """A run's duration: a decimal under ten seconds, where "0 s" would say nothing. Run
    times are stored to the second, so a run that began and ended in one second took
    under one, not none."""
    if seconds == 0:
        return "under 1 s"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def duration_text(seconds: float) -> str:
    """An interval in the unit a person would say it in: 10 s, 30 min, 2 h, 1.5 d."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.0f} s"


def sites_summary(sites: dict[str, Any]) -> str:
    """`` [www.reuters.com blocked; english.ahram.org.eg 3 pages, 1 stored]`` when the source
    read more than one site, so a blocked home site reads as what it is."""
    if len(sites) < 2:
        return ""
    parts = [
        f"{host} blocked"
        if s.get("blocked")
        else f"{host} {s.get('pages', 0)} pages, {s.get('stored', 0)} stored"
        for host, s in sorted(sites.items())
    ]
    return " [" + "; ".join(parts) + "]"


def source_status(
    db: sqlite_utils.Database,
    sources: dict[str, Source],
    *,
    every: int | None = None,
    max_failures: int = UNHEALTHY_FAILURES,
    now: datetime | None = None,
) -> list[SourceStatus]:
    """Each enabled source's status. Next runs use ``every`` when given, else the
    ``--every`` of the last daemon started on this archive, else the declared interval."""
    now = now or datetime.now(UTC)
    if every is None:
        daemon = last_daemon(db)
        every = daemon.every if daemon else None
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
            backoff = f"backing off: every {duration_text(wait)} after failed or blocked runs"
        states.append(
            SourceStatus(
                source=source.name,
                last_run=_iso(past.last_started),
                last_status=past.last_status,
                last_reason=past.last_reason,
                last_duration_s=past.last_duration_s,
                last_new_article=past.last_new_article,
                failures_in_a_row=past.failures_in_a_row,
                interval_s=interval,
                next_run=_iso(next_run(past, interval, now)) or "now",
                backoff=backoff,
                problems=problems,
                max_failures=max_failures,
                sites=past.last_sites,
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

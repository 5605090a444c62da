"""Health of each source, from the archive's run history: what `newsmon status` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from crawler.dates import to_datetime
from crawler.sources import Source


@dataclass
class SourceStatus:
    source: str
    last_run: str | None
    last_status: str | None
    last_reason: str | None
    last_duration_s: float | None
    last_new_article: str | None
    failures_in_a_row: int
    problems: list[str]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}

    def line(self) -> str:
        state = "healthy" if self.healthy else "UNHEALTHY: " + "; ".join(self.problems)
        return (
            f"{self.source:<10} last run {self.last_run or 'never'} "
            f"({self.last_status or '-'}), last new article "
            f"{self.last_new_article or 'never'}, {self.failures_in_a_row} failure(s) "
            f"in a row: {state}"
        )


def source_status(
    db: sqlite_utils.Database, sources: dict[str, Source], *, now: datetime | None = None
) -> list[SourceStatus]:
    now = now or datetime.now(UTC)
    states = []
    for source in sources.values():
        if not source.enabled:
            continue
        runs = list(
            db.query(
                "select * from crawl_runs where source = ? and status != 'running' "
                "order by started desc limit 50",
                [source.name],
            )
        )
        failures = 0
        for run in runs:
            if run["status"] not in ("failed", "blocked"):
                break
            failures += 1
        newest = db.execute(
            "select max(first_seen) from articles where source = ?", [source.name]
        ).fetchone()[0]
        last = runs[0] if runs else None
        problems = []
        if last is None:
            problems.append("never crawled")
        elif failures:
            problems.append(f"last run {last['status']}: {last['reason'] or 'no reason'}")
        reference = to_datetime(newest) or (to_datetime(runs[-1]["started"]) if runs else None)
        if reference and now - reference > timedelta(days=source.silence_days):
            problems.append(f"nothing new for over {source.silence_days} days")
        duration = None
        if last and last["finished"]:
            start, end = to_datetime(last["started"]), to_datetime(last["finished"])
            duration = (end - start).total_seconds() if start and end else None
        states.append(
            SourceStatus(
                source=source.name,
                last_run=last["started"] if last else None,
                last_status=last["status"] if last else None,
                last_reason=(last["reason"] or None) if last else None,
                last_duration_s=duration,
                last_new_article=newest,
                failures_in_a_row=failures,
                problems=problems,
            )
        )
    return states

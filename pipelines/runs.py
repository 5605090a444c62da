"""One row in crawl_runs per source per run: what was fetched, stored and refused, and why.

The row is written when the spider opens (status ``running``) and completed when it closes,
so a run killed without a chance to close stays visible; the next run of the source marks it
``interrupted``. A run stopped by a signal (Ctrl-C, SIGTERM, kill -9) is always
``interrupted``: neither a failure nor a success, so it neither backs a source off nor
resets its failures in a row.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from crawler.backfill import BackfillPlan
from crawler.dates import utc_now
from pipelines.database import DatabaseError, write_transaction
from pipelines.run_states import INTERRUPTED, KILLED_REASON, RUN_ROW_STAT
from pipelines.site_outcomes import SiteTally, copy_elsewhere
from pipelines.store import Archive

logger = logging.getLogger(__name__)


def run_status(stats: dict[str, Any], finish_reason: str) -> tuple[str, str]:
    """(status, reason) of a finished run, from its Scrapy stats."""
    if finish_reason == "shutdown":  # SIGTERM/SIGINT: what was fetched was stored
        return INTERRUPTED, "stopped by a signal before it finished"
    ok_responses = stats.get("downloader/response_status_count/200", 0)
    articles = stats.get("newsmon/article_pages", 0)
    blocked = stats.get("newsmon/blocked", 0)
    errors = _errors(stats)
    if blocked:
        # Feeds fetched but every article page blocked is still a blocked source.
        reason = str(stats.get("newsmon/blocked_reason", "blocked"))
        return ("blocked" if articles == 0 else "partial"), reason
    if finish_reason == "closespider_timeout":
        return "failed", "timeout"
    if finish_reason == "disk_full":
        return "failed", "the disk holding the database is full"
    if finish_reason != "finished":
        return "failed", f"crawl ended early: {finish_reason}"
    first_error = stats.get("newsmon/first_error")
    if stats.get("downloader/response_count", 0) == 0:
        detail = first_error or _first_exception(stats)
        return "failed", f"no response from the site{': ' + detail if detail else ''}"
    if ok_responses == 0 and errors:
        return "failed", f"every request failed; first: {first_error}"
    if not stats.get("newsmon/discovery_read") and stats.get("newsmon/discovery_errors"):
        # robots.txt answered, but no feed, sitemap or listing could be read: a site that
        # moved its feeds is a source that sees nothing, not a partial success.
        return "failed", f"no discovery endpoint could be read; first: {first_error}"
    if errors:
        return "partial", f"{errors} error(s); first: {first_error}"
    return "ok", ""


def _errors(stats: dict[str, Any]) -> int:
    return int(
        stats.get("newsmon/discovery_errors", 0)
        + stats.get("newsmon/article_errors", 0)
        + stats.get("newsmon/extract_timeouts", 0)
        + stats.get("newsmon/extract_crashes", 0)
        + stats.get("newsmon/pipeline_errors", 0)
    )


def _first_exception(stats: dict[str, Any]) -> str:
    prefix = "downloader/exception_type_count/"
    names = [k[len(prefix) :].rsplit(".", 1)[-1] for k in stats if k.startswith(prefix)]
    return ", ".join(sorted(names))


def _count(stats: dict[str, Any], prefix: str) -> int:
    return int(sum(v for k, v in stats.items() if k.startswith(prefix)))


class RunRecorder:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        settings = crawler.settings
        self.db_path = settings.get("NEWSMON_DB")
        self.run_id = settings.get("NEWSMON_RUN_ID") or ""
        self.log_path = settings.get("LOG_FILE") or None
        self.kind = "backfill" if BackfillPlan.from_settings(settings) else "crawl"
        self.row_id: int | None = None
        self.sites = SiteTally(crawler)
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.item_error, signal=signals.item_error)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunRecorder:
        return cls(crawler)

    def spider_opened(self, spider: Spider) -> None:
        archive = Archive.open(self.db_path)
        try:
            with write_transaction(archive.db):
                archive.db.execute(
                    "update crawl_runs set status = ?, reason = ? "
                    "where source = ? and status = 'running'",
                    [INTERRUPTED, KILLED_REASON, spider.name],
                )
                table = archive.db.table("crawl_runs")
                table.insert(
                    {
                        "run_id": self.run_id,
                        "source": spider.name,
                        "kind": self.kind,
                        "started": utc_now(),
                        "status": "running",
                        "log_path": self.log_path,
                    }
                )
                self.row_id = table.last_pk
        finally:
            archive.close()
        assert self.crawler.stats is not None
        self.crawler.stats.set_value(RUN_ROW_STAT, self.row_id)

    def item_error(self, item: Any, response: Any, spider: Spider, failure: Any) -> None:
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("newsmon/pipeline_errors")

    def spider_closed(self, spider: Spider, reason: str) -> None:
        stats_collector: StatsCollector | None = self.crawler.stats
        assert stats_collector is not None
        stats = stats_collector.get_stats()
        status, why = run_status(stats, reason)
        source = getattr(spider, "source", None)
        if elsewhere := copy_elsewhere(self.sites.sites, getattr(source, "agency", "")):
            why = f"{why}; {elsewhere}"  # one site blocked is not the whole source failing
        row = {
            "finished": utc_now(),
            "status": status,
            "reason": why,
            "finish_reason": reason,
            "requests": stats.get("downloader/request_count", 0),
            "pages": stats.get("newsmon/article_pages", 0),
            "stored": stats.get("newsmon/stored", 0),
            # Re-checks of known pages: new versions, 304s, and bodies fetched again.
            "updated": stats.get("newsmon/updated", 0),
            "not_modified": stats.get("newsmon/not_modified", 0),
            "refetched": stats.get("newsmon/refetched", 0),
            "duplicates": stats.get("newsmon/rejected/duplicate", 0),
            "irrelevant": stats.get("newsmon/rejected/irrelevant", 0),
            "rejected": _count(stats, "newsmon/rejected/"),
            "blocked": stats.get("newsmon/blocked", 0) + stats.get("newsmon/blocked_skipped", 0),
            "errors": _errors(stats),
            "sites": self.sites.as_json(),
        }
        for cls in ("2", "3", "4", "5"):
            row[f"responses_{cls}xx"] = _count(stats, f"downloader/response_status_count/{cls}")
        try:
            archive = Archive.open(self.db_path)
            try:
                if self.row_id is not None:
                    archive.db.table("crawl_runs").update(self.row_id, row)
                # Readers (Datasette) keep the WAL from being checkpointed while they read; a
                # TRUNCATE checkpoint after each run keeps it from growing without bound.
                archive.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                archive.close()
        except (sqlite3.Error, DatabaseError) as exc:  # a full disk: `newsmon crawl` reports it
            logger.error("Cannot record the run of %s: %s", spider.name, exc)
        logger.info("Run of %s: %s %s", spider.name, status, why)

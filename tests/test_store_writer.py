"""The store pipeline writes on a thread of its own, so the crawl's event loop keeps
downloading and feeding the extraction workers while SQLite reads, writes and syncs."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler

from crawler.items import FetchFailure
from pipelines import Rejected
from pipelines.database import open_database
from pipelines.store import StorePipeline


def test_a_write_waiting_on_a_locked_database_leaves_the_event_loop_running(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "news.db"
    open_database(db_path).close()
    pipeline = StorePipeline.from_crawler(get_crawler(settings_dict={"NEWSMON_DB": str(db_path)}))
    pipeline.open_spider()
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer (a compaction, say) holds the lock
    failure = FetchFailure("rferl", "https://www.rferl.org/a/x/1.html", "rferl:1", "HTTP 503")

    async def scenario() -> None:
        loop_thread = threading.get_ident()
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(tick())
        storing = asyncio.create_task(pipeline.process_item(failure))
        await asyncio.sleep(0.5)
        assert not storing.done()  # waiting for the lock, on the writer thread...
        assert ticks >= 20  # ...while the loop went on
        other.execute("ROLLBACK")
        with pytest.raises(Rejected, match="not fetched"):
            await storing
        ticking.cancel()
        writer_threads = {
            t.ident for t in threading.enumerate() if t.name.startswith("newsmon-store")
        }
        assert writer_threads and loop_thread not in writer_threads

    try:
        asyncio.run(scenario())
    finally:
        pipeline.close_spider()
        other.close()
    row = open_database(db_path).execute("select outcome, reason from seen_urls").fetchone()
    assert row == ("failed", "HTTP 503")

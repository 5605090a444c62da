"""A fetched page's validators (``fetch_state``) are written in the transaction that records
its outcome: one commit a page, and a crash leaves both or neither."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crawler.items import Article, FetchState
from pipelines.store import Archive
from pipelines.versions import record_revision
from tests.conftest import DemoCrawl

VALIDATORS = (
    '"v1"',
    "Tue, 01 Dec 2026 10:00:00 GMT",
    "2026-12-01T10:00:00Z",
    "2026-12-01T10:00:05Z",
)


def fetched(key: str) -> FetchState:
    return FetchState(key, *VALIDATORS)


def article(key: str = "afp:1", text: str = "Clashes in Tripoli.") -> Article:
    return Article(
        source="afp", url=f"https://www.france24.com/{key}", key=key,
        requested_url=f"https://www.france24.com/{key}", requested_key=key, title="Clashes",
        text=text, published=None, modified=None, authors=[], language="en",
        description=None, site="www.france24.com", agency="AFP",
        fetched="2026-12-01T10:00:06Z", discovered_via="rss", html="<p>x</p>",
        content_hash=text, fetch_state=fetched(key),
    )  # fmt: skip


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    archive = Archive.open(str(tmp_path / "news.db"))
    commits: list[str] = []
    archive.commits = commits  # type: ignore[attr-defined]

    def trace(sql: str) -> None:
        if sql.strip().upper() == "COMMIT":
            commits.append(sql)

    archive.db.conn.set_trace_callback(trace)
    return archive


def fetch_state(archive: Archive, key: str) -> tuple[str, ...] | None:
    return archive.db.execute(
        "select etag, last_modified, lastmod, checked from fetch_state where key = ?", [key]
    ).fetchone()


def test_a_stored_article_and_its_page_validators_are_one_commit(archive: Archive) -> None:
    assert archive.store_article(article())
    assert len(archive.commits) == 1  # type: ignore[attr-defined]
    assert fetch_state(archive, "afp:1") == VALIDATORS


def test_a_rejected_page_and_its_validators_are_one_commit(archive: Archive) -> None:
    keys = [("afp:2", "https://www.france24.com/afp:2")]
    archive.record_outcome(
        "afp", keys, "irrelevant", "not about Libya", status=200, fetch_state=fetched("afp:2")
    )
    assert len(archive.commits) == 1  # type: ignore[attr-defined]
    assert fetch_state(archive, "afp:2") is not None


def test_a_revision_and_its_validators_are_one_commit(archive: Archive) -> None:
    archive.store_article(article())
    archive.db.execute("delete from fetch_state")
    archive.commits.clear()  # type: ignore[attr-defined]
    record_revision(archive.db, 1, article(text="Clashes in Tripoli. Three dead."))
    assert len(archive.commits) == 1  # type: ignore[attr-defined]
    assert fetch_state(archive, "afp:1") is not None


def test_a_crawl_keeps_the_validators_of_every_page_it_judged(
    demo_crawl: DemoCrawl, tmp_path: Path
) -> None:
    db = sqlite3.connect(demo_crawl.copy(tmp_path))
    judged = db.execute(
        """select s.outcome, s.last_seen, f.checked from seen_urls s
           left join fetch_state f on f.key = s.key
           where s.http_status = 200 and s.outcome != 'gone'"""
    ).fetchall()
    outcomes = {outcome for outcome, _, _ in judged}
    assert {"stored", "irrelevant"} <= outcomes, outcomes
    for outcome, last_seen, checked in judged:
        assert checked is not None and checked <= last_seen, outcome

"""Rows that name an article by URL also name it by key (``articles.id``): backfilled when an
archive of the old schema is migrated, and kept right when the article arrives late or is
deleted by hand. (A crawl writing them: tests/test_versions.py, the duplicates test.)"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from crawler.dates import utc_now
from pipelines.database import open_database
from pipelines.schema import migrations
from pipelines.store import Archive

STORED = "https://www.rferl.org/a/libya-talks/1.html"
NEVER_STORED = "https://www.rferl.org/a/lost/2.html"


def article_row(url: str, n: int) -> dict[str, object]:
    return {
        "url": url,
        "url_key": f"rferl:{n}",
        "source": "rferl",
        "title": f"Libya story {n}",
        "text": "Talks in Tripoli.",
        "authors": "[]",
        "first_seen": utc_now(),
    }


def keys(db: sqlite_utils.Database) -> dict[str, object]:
    seen = {r["key"]: r["article_id"] for r in db.query("select key, article_id from seen_urls")}
    dups = db.query("select url, duplicate_of_id from duplicates")
    return {**seen, **{r["url"]: r["duplicate_of_id"] for r in dups}}


def test_an_archive_of_the_old_schema_gets_its_keys_matched_by_url(tmp_path: Path) -> None:
    db_path = tmp_path / "old.db"
    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m011_article_keys")  # as newsmon left it before
    old.table("articles").insert_all([article_row("https://www.rferl.org/a/x/0.html", 0),
                                      article_row(STORED, 1)])  # fmt: skip
    old.table("article_versions").insert(
        {"article_id": 2, "version": 1, "title": "Libya story 1", "text": "Talks in Tripoli."}
    )
    old.table("seen_urls").insert_all(
        [
            {"key": "rferl:1", "url": STORED, "outcome": "stored", "article_url": STORED},
            {"key": "rferl:3", "url": "https://x/3", "outcome": "duplicate",
             "article_url": STORED},
            {"key": "rferl:4", "url": "https://x/4", "outcome": "duplicate",
             "article_url": NEVER_STORED},
            {"key": "rferl:5", "url": "https://x/5", "outcome": "irrelevant"},
        ]
    )  # fmt: skip
    old.table("duplicates").insert_all(
        [
            {"source": "rferl", "url": "https://x/3", "duplicate_of": STORED},
            {"source": "rferl", "url": "https://x/4", "duplicate_of": NEVER_STORED},
        ]
    )
    old.close()

    db = open_database(db_path)  # migrates

    assert keys(db) == {"rferl:1": 2, "rferl:3": 2, "rferl:4": None, "rferl:5": None,
                        "https://x/3": 2, "https://x/4": None}  # fmt: skip
    declared = {
        (fk.table, fk.column): (fk.other_table, fk.other_column)
        for table in ("seen_urls", "duplicates", "article_versions")
        for fk in db.table(table).foreign_keys
    }
    assert declared == {
        ("seen_urls", "article_id"): ("articles", "id"),
        ("duplicates", "duplicate_of_id"): ("articles", "id"),
        ("article_versions", "article_id"): ("articles", "id"),
        ("article_versions", "run"): ("crawl_runs", "id"),  # m015, applied after m011
    }
    indexed = {(t, i.columns[0]) for t in ("seen_urls", "duplicates", "article_versions")
               for i in db.table(t).indexes}  # fmt: skip
    assert {("seen_urls", "article_id"), ("duplicates", "duplicate_of_id"),
            ("article_versions", "article_id")} <= indexed  # fmt: skip
    assert db.execute("select article_id, version from article_versions").fetchall() == [(2, 1)]
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    db.close()
    open_database(db_path).close()  # a second open changes nothing


def test_a_duplicate_caught_before_its_original_is_stored_gets_the_key_when_it_is(
    tmp_path: Path,
) -> None:
    archive = Archive.open(str(tmp_path / "news.db"))
    copy = [("rferl:3", "https://www.rferl.org/a/copy/3.html")]
    archive.record_outcome("rferl", copy, "duplicate", "same text", duplicate_of=STORED)
    assert keys(archive.db) == {"rferl:3": None, copy[0][1]: None}

    article_id = archive.db.table("articles").insert(article_row(STORED, 1)).last_pk

    assert keys(archive.db) == {"rferl:3": article_id, copy[0][1]: article_id}
    archive.close()


def test_an_article_deleted_by_hand_leaves_no_key_for_the_next_one_with_its_id(
    tmp_path: Path,
) -> None:
    archive = Archive.open(str(tmp_path / "news.db"))
    article_id = archive.db.table("articles").insert(article_row(STORED, 1)).last_pk
    archive.record_outcome(
        "rferl", [("rferl:3", "https://x/3")], "duplicate", "same", duplicate_of=STORED
    )
    assert keys(archive.db) == {"rferl:3": article_id, "https://x/3": article_id}

    archive.db.execute("delete from articles where id = ?", [article_id])
    again = archive.db.table("articles").insert(article_row(NEVER_STORED, 2)).last_pk

    assert again == article_id  # SQLite reuses the rowid
    assert keys(archive.db) == {"rferl:3": None, "https://x/3": None}
    archive.close()

"""pipelines/database.py and pipelines/store.py on a real SQLite file in tmp_path."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

import pytest
import sqlite_utils

from crawler.items import Article
from pipelines.database import DatabaseError, open_database
from pipelines.schema import migrations
from pipelines.store import NO_TEXT_ATTEMPTS, Archive

TABLES = {
    "_sqlite_migrations",
    "articles",
    "articles_fts",
    "seen_urls",
    "pages",
    "duplicates",
    "crawl_runs",
}
URL = "https://www.reuters.com/world/africa/libya-synthetic-oil-blockade-haftar-2023-04-26/"
HTML = "<html><body><h1>Libya oil</h1><p>Haftar’s forces — ليبيا</p></body></html>"
TEXT = "Forces loyal to Khalifa Haftar blockaded oil ports in eastern Libya.\n\nMore text."


def make_article(**changes: object) -> Article:
    article = Article(
        source="reuters",
        url=URL,
        key=URL,
        requested_url=URL + "?utm_source=x",
        requested_key=URL + "?requested",
        title="Libya oil blockade",
        text=TEXT,
        published="2023-04-26T10:00:00Z",
        modified=None,
        authors=["Ayman al-Warfalli"],
        language="en",
        description=None,
        site="www.reuters.com",
        agency="Reuters",
        fetched="2023-04-26T11:00:00Z",
        discovered_via="listing",
        html=HTML,
        relevance=9.0,
        matched_terms={"Libya": 1, "Haftar": 1},
        relevance_reason="mentions: headline",
        content_hash=hashlib.sha256(TEXT.encode()).hexdigest(),
    )
    return dataclasses.replace(article, **changes)


def make_article_row() -> dict[str, object]:
    return {
        "url": URL,
        "url_key": URL,
        "source": "reuters",
        "title": "t",
        "text": "x",
        "authors": "[]",
        "first_seen": "2023-04-26T11:00:00Z",
    }


@pytest.fixture
def archive(tmp_path: Path):
    archive = Archive.open(str(tmp_path / "news.db"))
    yield archive
    archive.close()


# --- open_database -------------------------------------------------------------------------


def test_open_database_creates_all_tables_in_wal_mode(tmp_path):
    db = open_database(tmp_path / "news.db")
    assert set(db.table_names()) >= TABLES
    assert db.journal_mode == "wal"
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_open_database_twice_is_idempotent(tmp_path):
    path = tmp_path / "news.db"
    first = open_database(path)
    first["articles"].insert(dict(make_article_row(), id=1))
    first.close()
    second = open_database(path)
    assert second["articles"].count == 1
    applied = [r["name"] for r in second["_sqlite_migrations"].rows]
    assert applied == [m.name for m in migrations._migrations]  # each once, in order
    second.close()


def test_database_from_a_newer_newsmon_is_refused(tmp_path):
    path = tmp_path / "news.db"
    open_database(path).close()
    db = sqlite_utils.Database(path)
    db["_sqlite_migrations"].insert(
        {"migration_set": "newsmon", "name": "m999_future", "applied_at": "2030-01-01"}
    )
    db.close()
    with pytest.raises(DatabaseError, match="newer newsmon") as raised:
        open_database(path)
    assert "m999_future" in str(raised.value)


def test_unknown_migration_of_another_set_is_not_newsmon_s_business(tmp_path):
    path = tmp_path / "news.db"
    open_database(path).close()
    db = sqlite_utils.Database(path)
    db["_sqlite_migrations"].insert(
        {"migration_set": "other_tool", "name": "m999_future", "applied_at": "2030-01-01"}
    )
    db.close()
    open_database(path).close()


def test_path_in_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(DatabaseError, match="does not exist"):
        open_database(tmp_path / "missing" / "news.db")
    assert not (tmp_path / "missing").exists()


def test_directory_path_is_refused(tmp_path):
    with pytest.raises(DatabaseError, match="is a directory"):
        open_database(tmp_path)


@pytest.mark.parametrize(
    "garbage",
    [bytes(range(256)) * 64, b"garbage", b"not a database\n" * 100],
    ids=["binary", "short", "text"],
)
def test_non_sqlite_file_is_refused(tmp_path, garbage):
    path = tmp_path / "news.db"
    path.write_bytes(garbage)
    with pytest.raises(DatabaseError, match="cannot use") as raised:
        open_database(path)
    assert str(path) in str(raised.value)
    assert path.read_bytes() == garbage  # not overwritten


# --- Archive.store_article -----------------------------------------------------------------


def test_store_article_inserts_one_row(archive):
    assert archive.store_article(make_article()) is True
    rows = list(archive.db["articles"].rows)
    assert len(rows) == 1
    row = rows[0]
    assert row["url"] == URL and row["url_key"] == URL
    assert row["title"] == "Libya oil blockade"
    assert row["authors"] == '["Ayman al-Warfalli"]'
    assert row["requested_url"] == URL + "?utm_source=x"


def test_stored_article_is_found_by_full_text_search(archive):
    archive.store_article(make_article())
    article_id = archive.db.execute("select id from articles").fetchone()[0]
    hits = archive.db.execute(
        "select rowid from articles_fts where articles_fts match 'Haftar'"
    ).fetchall()
    assert hits == [(article_id,)]
    assert (
        archive.db.execute(
            "select rowid from articles_fts where articles_fts match 'Benghazi'"
        ).fetchall()
        == []
    )


def test_full_text_index_passes_integrity_check(archive):
    archive.store_article(make_article())
    archive.store_article(make_article(url=URL + "2", key=URL + "2", requested_key="k2"))
    archive.db.execute("INSERT INTO articles_fts(articles_fts) VALUES('integrity-check')")


def test_page_html_is_stored_gzip_compressed_as_its_column_says(archive):
    archive.store_article(make_article())
    page = archive.db["pages"].get(URL)
    assert page["html_gz"] != HTML.encode()
    assert gzip.decompress(page["html_gz"]).decode("utf-8") == HTML
    assert page["size"] == len(HTML.encode("utf-8"))
    assert page["fetched"] == "2023-04-26T11:00:00Z"


def test_store_marks_key_and_requested_key_as_stored(archive):
    archive.store_article(make_article())
    seen = {row["key"]: row for row in archive.db["seen_urls"].rows}
    assert set(seen) == {URL, URL + "?requested"}
    assert all(row["outcome"] == "stored" for row in seen.values())
    assert all(row["article_url"] == URL for row in seen.values())
    assert {URL, URL + "?requested"} <= archive.settled_keys()


def test_storing_the_same_url_again_returns_false_and_keeps_one_row(archive):
    assert archive.store_article(make_article()) is True
    assert archive.store_article(make_article(title="Changed")) is False
    assert archive.db["articles"].count == 1
    assert archive.db.execute("select title from articles").fetchone()[0] == "Libya oil blockade"


def test_storing_the_same_key_under_another_url_returns_false(archive):
    archive.store_article(make_article())
    assert archive.store_article(make_article(url=URL + "?page=2")) is False
    assert archive.db["articles"].count == 1


def test_a_failure_while_storing_leaves_nothing_behind(archive):
    # A lone surrogate cannot be encoded: storing fails after the article row was inserted.
    with pytest.raises(UnicodeEncodeError):
        archive.store_article(make_article(html="bad \ud800 html"))
    assert archive.db["articles"].count == 0
    assert archive.db["pages"].count == 0
    assert archive.db["seen_urls"].count == 0
    assert archive.store_article(make_article()) is True


# --- duplicates and outcomes ---------------------------------------------------------------


def test_find_duplicate_by_key(archive):
    archive.store_article(make_article())
    other = make_article(url=URL + "?other", content_hash="different")
    assert archive.find_duplicate(other) == (URL, "same article URL")


def test_find_duplicate_by_content_hash(archive):
    archive.store_article(make_article())
    other = make_article(url="https://www.reuters.com/x-2023-04-26/", key="other-key")
    assert archive.find_duplicate(other) == (URL, "same text")


def test_find_duplicate_is_none_for_a_new_article(archive):
    archive.store_article(make_article())
    new = make_article(url="https://www.reuters.com/y/", key="y", content_hash="y")
    assert archive.find_duplicate(new) is None


def test_record_outcome_with_duplicate_of_writes_a_duplicates_row(archive):
    archive.store_article(make_article())
    dup_url = "https://www.reuters.com/world/africa/copy-2023-04-26/"
    archive.record_outcome(
        "reuters", [(dup_url, dup_url)], "duplicate", "same text", status=200, duplicate_of=URL
    )
    (row,) = archive.db["duplicates"].rows
    assert row["url"] == dup_url and row["duplicate_of"] == URL and row["reason"] == "same text"
    seen = archive.db["seen_urls"].get(dup_url)
    assert seen["outcome"] == "duplicate" and seen["article_url"] == URL
    assert dup_url in archive.settled_keys()


def test_record_outcome_without_duplicate_of_writes_no_duplicates_row(archive):
    archive.record_outcome("reuters", [("k", "https://www.reuters.com/k/")], "irrelevant", "x")
    assert archive.db["duplicates"].count == 0


def test_settled_keys_include_final_outcomes_but_not_failures(archive):
    archive.store_article(make_article())
    archive.record_outcome("reuters", [("irr", "https://a/irr")], "irrelevant", "score 1")
    archive.record_outcome("reuters", [("gone", "https://a/gone")], "gone", "404", status=404)
    archive.record_outcome("reuters", [("fail", "https://a/fail")], "failed", "timeout")
    settled = archive.settled_keys()
    assert {URL, "irr", "gone"} <= settled
    assert "fail" not in settled


@pytest.mark.parametrize("outcome", ["no_text", "extract_failed"])
def test_no_text_or_failed_extraction_is_settled_only_after_three_attempts(archive, outcome):
    assert NO_TEXT_ATTEMPTS == 3
    for attempt in range(1, 4):
        archive.record_outcome("rferl", [("nt", "https://a/nt")], outcome, "empty")
        assert archive.db["seen_urls"].get("nt")["attempts"] == attempt
        assert ("nt" in archive.settled_keys()) is (attempt >= 3)


def test_a_later_success_settles_a_failed_url(archive):
    archive.record_outcome("reuters", [(URL, URL)], "failed", "timeout")
    assert URL not in archive.settled_keys()
    archive.store_article(make_article())
    row = archive.db["seen_urls"].get(URL)
    # attempts counts tries of one outcome: a new outcome starts again at 1.
    assert row["outcome"] == "stored" and row["attempts"] == 1
    assert URL in archive.settled_keys()


def test_ahram_titles_stored_with_the_section_path_lose_it_once_on_upgrade(tmp_path):
    path = tmp_path / "news.db"
    archive = Archive.open(str(path))
    ahram = "https://english.ahram.org.eg/NewsContent/2/8/521044/World/Region/x.aspx"
    suffixed = "Rival governments trade blame - Region - World"
    archive.store_article(make_article(url=ahram, key=ahram, site="english.ahram.org.eg",
                                       title=suffixed))  # fmt: skip
    archive.store_article(make_article(title="Oil blockade - Markets - Energy",
                                       text=TEXT + " Reuters."))  # fmt: skip
    archive.close()
    db = sqlite_utils.Database(path)  # as an archive written before the title rule
    db.execute("delete from _sqlite_migrations where name = 'm014_ahram_titles'")
    db.close()

    upgraded = open_database(path)
    titles = dict(upgraded.execute("select url, title from articles").fetchall())
    assert titles == {
        ahram: "Rival governments trade blame",
        URL: "Oil blockade - Markets - Energy",
    }
    (version,) = upgraded.execute(
        "select v.title from article_versions v join articles a on a.id = v.article_id "
        "where a.url = ?", [ahram]
    ).fetchall()  # fmt: skip
    assert version == ("Rival governments trade blame",)
    story_titles = {row[0] for row in upgraded.execute("select title from stories")}
    assert "Rival governments trade blame" in story_titles and suffixed not in story_titles
    found = upgraded.execute(
        "select count(*) from articles_fts where articles_fts match 'title:world'"
    ).fetchone()
    assert found == (0,)  # the full-text index follows
    upgraded.close()

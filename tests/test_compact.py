"""`newsmon compact`: old raw pages go, everything else stays, and the file shrinks."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.compact import delete_old_pages, file_size
from pipelines.database import open_database
from pipelines.store import Archive
from tests.conftest import invoke_newsmon
from tests.test_archive import make_article


def _iso(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _archive_with_pages(path: Path, ages_in_days: list[float]) -> list[str]:
    """An archive holding one article per age, each with a page of random hex that gzip
    only halves (~100 KiB stored): a page's space is then plain to see in the file size."""
    archive = Archive.open(str(path))
    urls = []
    for i, age in enumerate(ages_in_days):
        url = f"https://www.reuters.com/world/africa/libya-story-{i}"
        text = f"Story {i} about Tripoli and Benghazi.\n\nLibya's oil output rose again."
        noise = random.Random(i).randbytes(100_000).hex()
        article = dataclasses.replace(
            make_article(),
            url=url,
            key=url,
            requested_url=url,
            requested_key=url,
            text=text,
            content_hash=hashlib.sha256(text.encode()).hexdigest(),
            fetched=_iso(age),
            html=f"<html><body><p>{text}</p><!-- {noise} --></body></html>",
        )
        assert archive.store_article(article)
        urls.append(url)
    archive.close()
    return urls


def test_compact_deletes_only_old_raw_pages_and_shrinks_the_file(tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    urls = _archive_with_pages(db_path, [400, 200, 120, 10, 0.5])
    before = file_size(db_path)

    result = invoke_newsmon("compact", "--db", str(db_path), "--pages-older-than", "90d")

    assert result.returncode == 0, result.stderr
    assert "Deleted 3 raw page(s)" in result.stdout
    db = open_database(db_path)
    assert {row["url"] for row in db.query("select url from pages")} == set(urls[3:])
    # The articles, their versions, stories and full-text index are untouched.
    assert db.execute("select count(*) from articles").fetchone()[0] == 5
    assert db.execute("select count(*) from article_versions").fetchone()[0] == 5
    assert db.execute("select count(*) from articles where story_id is null").fetchone()[0] == 0
    hits = db.execute("select count(*) from articles_fts where articles_fts match 'tripoli'")
    assert hits.fetchone()[0] == 5
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    db.close()
    after = file_size(db_path)
    assert after < before - 3 * 90_000, (before, after)  # three ~100 KiB gzip pages gave back


def test_compact_without_vacuum_leaves_the_space_to_reuse(tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    _archive_with_pages(db_path, [100, 1])

    result = invoke_newsmon(
        "compact", "--db", str(db_path), "--pages-older-than", "30d", "--no-vacuum"
    )

    assert result.returncode == 0, result.stderr
    assert "Deleted 1 raw page(s)" in result.stdout and "not vacuumed" in result.stdout
    db = open_database(db_path)
    assert db.execute("select count(*) from pages").fetchone()[0] == 1
    assert db.execute("pragma freelist_count").fetchone()[0] > 0
    db.close()


def test_deleting_in_batches_reaches_every_old_page(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("pipelines.compact.BATCH", 2)
    db_path = tmp_path / "news.db"
    _archive_with_pages(db_path, [50, 3, 60, 70, 2, 80, 90])
    db = open_database(db_path)

    deleted = delete_old_pages(db, timedelta(days=40))

    assert deleted.pages == 5
    assert db.execute("select count(*) from pages").fetchone()[0] == 2
    assert delete_old_pages(db, timedelta(days=40)).pages == 0  # a rerun has nothing to do
    db.close()


def test_compact_bad_arguments_get_one_line_and_exit_2(tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    open_database(db_path).close()
    for value in ("ninety days", "0d", "-5d"):
        result = invoke_newsmon("compact", "--db", str(db_path), "--pages-older-than", value)
        assert result.returncode == 2, value
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "--pages-older-than" in result.stderr


def test_compact_of_a_missing_archive_says_so(tmp_path: Path) -> None:
    result = invoke_newsmon("compact", "--db", str(tmp_path / "none.db"))
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert not (tmp_path / "none.db").exists()
    assert os.listdir(tmp_path) == []

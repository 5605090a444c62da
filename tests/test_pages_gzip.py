"""pages.html_gz holds gzip, as its name says: new pages are written as gzip, and an archive
written before (zlib streams) is converted when it is opened."""

from __future__ import annotations

import dataclasses
import gzip
import zlib
from pathlib import Path

import sqlite_utils

from pipelines.database import open_database
from pipelines.schema import migrations


def test_an_archive_with_zlib_pages_is_converted_to_gzip(tmp_path: Path) -> None:
    db_path = tmp_path / "old.db"
    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m006_pages_gzip")  # as newsmon left it before
    pages = {
        f"https://www.rferl.org/a/{i}.html": f"<html>page {i}</html>" * 50 for i in range(1203)
    }
    old.table("pages").insert_all(
        {"url": url, "size": len(html), "html_gz": zlib.compress(html.encode(), 6)}
        for url, html in pages.items()
    )
    old.close()

    db = open_database(db_path)  # migrates
    stored = {row["url"]: row["html_gz"] for row in db.query("select url, html_gz from pages")}
    assert len(stored) == len(pages)
    assert all(gzip.decompress(stored[url]).decode() == html for url, html in pages.items())
    db.close()
    open_database(db_path).close()  # a second open changes nothing


def test_a_revised_articles_new_page_is_stored_as_gzip_too(tmp_path: Path) -> None:
    from pipelines.store import Archive
    from pipelines.versions import record_revision
    from tests.test_archive import make_article

    archive = Archive.open(str(tmp_path / "news.db"))
    article = make_article()
    assert archive.store_article(article)
    (article_id,) = archive.db.execute("select id from articles").fetchone()
    revised = dataclasses.replace(
        article, text=article.text + "\n\nUpdated.", content_hash="new", html="<p>revised</p>"
    )
    assert record_revision(archive.db, article_id, revised).changed
    (page,) = archive.db.execute("select html_gz from pages").fetchone()
    assert gzip.decompress(page) == b"<p>revised</p>"
    archive.close()

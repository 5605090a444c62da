"""Storage faults and concurrent readers: a full disk, a read-only database, SQL readers
querying while a crawl writes, and the WAL kept small.

The full-disk and read-only cases mount a small tmpfs (root only; skipped elsewhere).
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.database import open_database
from tests.conftest import FAST, run_newsmon
from tests.siteserver import origin_map_args, serve_sites


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def no_partial_articles(db_path: Path) -> None:
    db = sqlite3.connect(db_path)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    orphans = db.execute(
        "select count(*) from articles a left join pages p on p.url = a.url where p.url is null"
    ).fetchone()[0]
    assert orphans == 0
    stored = db.execute("select count(*) from seen_urls where outcome = 'stored'").fetchone()[0]
    assert stored >= db.execute("select count(*) from articles").fetchone()[0]


def test_a_full_disk_fails_the_run_with_one_line_and_no_partial_rows(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "420k") as disk, serve_sites() as sites:
        db_path = disk / "news.db"
        result = run_newsmon("crawl", "--db", str(db_path), *FAST, *origin_map_args(sites),
                             "-s", "NEWSMON_RELEVANCE_FILTER=false", "--log-dir",
                             str(tmp_path / "logs"))  # fmt: skip
        copy = tmp_path / "copy.db"
        if db_path.exists():
            with sqlite3.connect(db_path) as source, sqlite3.connect(copy) as target:
                source.backup(target)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if ": failed: " in line or "Error" in line]
    assert lines and any("full" in line for line in lines), result.stderr
    if copy.exists():
        no_partial_articles(copy)


def test_a_read_only_database_is_refused_with_one_line(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "4m") as disk:
        db_path = disk / "news.db"
        open_database(db_path).close()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = run_newsmon("crawl", "rferl", "--db", str(db_path))
        unwritable = run_newsmon("crawl", "rferl", "--db", str(disk / "new.db"))
    for run in (result, unwritable):
        assert run.returncode == 1
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("Error: ")
        assert "read" in run.stderr.lower()


def test_a_database_from_a_newer_newsmon_is_refused(tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    db = open_database(db_path)
    db.table("_sqlite_migrations").insert(
        {"migration_set": "newsmon", "name": "m999_from_the_future", "applied_at": "2099"}
    )
    db.close()
    result = run_newsmon("crawl", "rferl", "--db", str(db_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: {db_path} was written by a newer newsmon (unknown migration "
        "m999_from_the_future); upgrade newsmon to use it"
    )


def test_sql_readers_never_see_a_locked_database_and_the_wal_is_checkpointed(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "news.db"
    open_database(db_path).close()
    errors: list[str] = []
    reads = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal reads
        # Python's default busy timeout (5 s), as Datasette's readers have. With none at all,
        # a reader can meet a rare SQLITE_BUSY as a crawl's last connection resets the WAL.
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        while not stop.is_set():
            try:
                connection.execute(
                    "select count(*) from articles_fts where articles_fts match 'Libya'"
                ).fetchall()
                connection.execute("select * from crawl_runs").fetchall()
                reads += 1
            except sqlite3.Error as exc:
                errors.append(str(exc))
            stop.wait(0.01)  # a reader's pace, not a spin that takes a core from the crawl
        connection.close()

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        with serve_sites() as sites:
            for _ in range(2):
                result = run_newsmon("crawl", "--db", str(db_path), *FAST,
                                     *origin_map_args(sites), "-s",
                                     "NEWSMON_RELEVANCE_FILTER=false")  # fmt: skip
                assert result.returncode == 0, result.stderr
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert reads > 50
    wal = db_path.with_name("news.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # TRUNCATE checkpoint after each run


def test_crawls_are_contained_and_quiet() -> None:
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    assert settings.getbool("TELNETCONSOLE_ENABLED") is False
    assert settings.getbool("REMOTE_CONTROL_ENABLED") is False
    assert settings.getbool("DOWNLOAD_VERIFY_CERTIFICATES") is True
    assert settings.getbool("ROBOTSTXT_OBEY") is True
    assert settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 1
    assert 0 < settings.getint("DOWNLOAD_MAXSIZE") <= 10 * 2**20

"""A smoke run of bench/scale.py on a small archive: it builds, stores, explains and serves.

Its figures are the benchmark's business (docs/PERFORMANCE.md); what is checked here is what
does not depend on the machine: the synthetic archive has the real schema and proportions,
and no statement on the crawl's hot path scans a table that grows with the archive."""

from __future__ import annotations

import re
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench import scale, scale_profile
from bench.scale_archive import build_archive
from pipelines.database import open_database


def test_the_synthetic_archive_has_the_real_schema_and_its_proportions(tmp_path: Path) -> None:
    built, fresh = tmp_path / "built.db", tmp_path / "fresh.db"
    report = build_archive(built, 600)
    open_database(fresh).close()

    def schema(path: Path) -> set[tuple[str, str]]:
        conn = sqlite3.connect(path)
        rows = conn.execute("select name, sql from sqlite_master where sql is not null")
        return set(rows.fetchall())

    assert schema(built) == schema(fresh)
    conn = sqlite3.connect(built)
    counts = {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in report.rows}
    assert counts == report.rows
    assert counts["articles"] == counts["pages"] == counts["text_sketches"] == 600
    assert counts["seen_urls"] > 3 * 600 and counts["sketch_bands"] == 42 * 600
    assert conn.execute("select count(*) from articles where story_id is null").fetchone()[0] == 0
    assert conn.execute("select count(*) from articles where title = ''").fetchone()[0] == 0
    fts = conn.execute("select count(*) from articles_fts where articles_fts match 'libya'")
    assert fts.fetchone()[0] > 0
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_bench_scale_smoke_run_finds_no_scan_on_the_hot_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = scale.main(["--articles", "400", "--pages", "8", "--no-crawl"])
    out = capsys.readouterr().out
    for heading in ("store path", "query plans", "newsmon serve", "size"):
        assert f"== {heading}" in out
    assert "SCANS A GROWING TABLE" not in out
    assert "SEARCH seen_urls USING INDEX" in out  # the per-key seen-URL lookup is there
    assert "per 1,000 articles" in out
    # Slow pages on a loaded machine fail the benchmark, not the suite; errors fail both.
    assert code in (0, 1)
    assert "HTTP 5" not in out and "HTTP 4" not in out  # no page failed or timed out


def test_a_kept_archive_is_measured_again_after_its_earlier_run_is_taken_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "kept.db"
    scale.main(["--articles", "300", "--pages", "4", "--no-crawl", "--db", str(db), "--keep"])
    kept = capsys.readouterr().out.split("\nkept: ", 1)[1].split()[0]
    shutil.rmtree(kept)  # the empty archive's directory: only the big one is measured again

    def counts() -> dict[str, int]:
        conn = sqlite3.connect(db)
        tables = ("articles", "pages", "seen_urls", "sketch_bands", "stories", "articles_fts")
        found = {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}
        conn.close()
        return found

    after_first = counts()
    assert after_first["articles"] > 300
    scale.main(["--articles", "300", "--pages", "4", "--no-crawl", "--db", str(db), "--reuse"])
    out = capsys.readouterr().out
    assert f"took out {after_first['articles'] - 300} articles of an earlier run" in out
    assert "already" not in out  # the store path found the pages new again
    assert counts() == after_first
    assert scale.forget_bench_articles(db) == after_first["articles"] - 300
    assert counts()["articles"] == 300
    conn = sqlite3.connect(db)
    conn.execute("insert into articles_fts (articles_fts) values ('integrity-check')")
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    conn.close()

    assert scale_profile.main(["--db", str(db), "--pages", "3", "--warm"]) == 0
    out = capsys.readouterr().out
    assert "empty: ms per article: story" in out and "big: ms per article: story" in out
    assert "ratio: " in out
    # Which statements grew most is timing, and on three pages any of them may come first;
    # what is fixed is that the table is there with a row per statement, up to fifteen.
    table = out.split("statement (grown most first)\n", 1)[1].splitlines()
    assert 5 <= len(table) <= 15
    assert all(re.match(r" +\d+\.\d\d +\d+\.\d\d  \S", row) for row in table)


def test_a_compacted_archive_keeps_only_the_recent_raw_pages(tmp_path: Path) -> None:
    db = tmp_path / "compacted.db"
    report = build_archive(db, 3000, pages_days=5)  # ten days at 300 a day: about half
    cutoff = (datetime.now(UTC) - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    conn = sqlite3.connect(db)
    assert 1000 < report.rows["pages"] < 2000
    assert report.rows["pages"] == conn.execute("select count(*) from pages").fetchone()[0]
    assert conn.execute("select min(fetched) from pages").fetchone()[0] >= cutoff
    assert report.rows["articles"] == 3000

"""`newsmon reextract`: stored articles read again from their kept raw pages, corrected in
place when today's reading differs, on a real crawl of the fixture sites whose stored
readings a test makes stale (as an older newsmon would have stored them)."""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.sources import load_sources
from crawler.urls import host_of
from pipelines.database import open_database
from pipelines.explain import Rules
from pipelines.extract import content_hash
from pipelines.reextract import correct, fetched_url, read_again, stored_pages
from scheduler.cli import cli
from scheduler.extract_command import crawl_settings
from tests.conftest import ROOT, WORKER, DemoCrawl
from tests.test_workers import wait_until_gone

AHRAM = "english.ahram.org.eg"


@pytest.fixture
def archive(demo_crawl: DemoCrawl, tmp_path: Path) -> Path:
    return demo_crawl.copy(tmp_path)


def reextract(db: Path, *args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["reextract", "--db", str(db), *WORKER, *args])
    return result.exit_code, result.output.splitlines()


def row(db: Path, sql: str, *params: object) -> tuple:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchone()


def contents(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def make_stale(db: Path) -> dict[str, int]:
    """Store three readings as an older newsmon would have: Ahram's title with its section
    path, an article's agency evidence lost, a text with a tail the page does not have."""
    with sqlite3.connect(db) as conn:
        ids = {
            "titled": conn.execute("select id from articles where site = ?", [AHRAM]).fetchone()[0],
            # Three different articles, whatever order the three sources' crawls stored them in.
            "credited": conn.execute(
                "select id from articles where agency is not null "
                "and site not in (?, 'www.france24.com') order by id",
                [AHRAM],
            ).fetchone()[0],
            "text": conn.execute(
                "select id from articles where site = 'www.france24.com' order by id"
            ).fetchone()[0],
        }
        conn.execute(
            "update articles set title = title || ' - Region - World' where id = ?", [ids["titled"]]
        )
        conn.execute(
            "update article_versions set title = title || ' - Region - World' where article_id = ?",
            [ids["titled"]],
        )
        conn.execute(
            "update stories set title = title || ' - Region - World' where id = "
            "(select story_id from articles where id = ?)",
            [ids["titled"]],
        )
        conn.execute(
            "update articles set agency = null, credit = '[]' where id = ?", [ids["credited"]]
        )
        (text,) = conn.execute("select text from articles where id = ?", [ids["text"]]).fetchone()
        stale = text + " A stale tail."
        conn.execute(
            "update articles set text = ?, content_hash = ? where id = ?",
            [stale, content_hash(stale), ids["text"]],
        )
    assert len(set(ids.values())) == 3
    return ids


def test_stale_readings_are_corrected_in_place_and_a_rerun_finds_nothing(archive: Path) -> None:
    with sqlite3.connect(archive) as conn:
        read = {
            r[0]: r for r in conn.execute("select id, title, agency, credit, text from articles")
        }
    versions_before = row(archive, "select count(*) from article_versions")[0]
    ids = make_stale(archive)

    code, lines = reextract(archive)

    assert code == 0
    corrected = sorted(line for line in lines if line.startswith("corrected: "))
    assert len(corrected) == 3
    assert f"corrected: {ids['titled']} https://{AHRAM}/" in "\n".join(corrected)
    assert any(line.endswith(": title") for line in corrected)
    assert any(line.endswith(": agency, credit") for line in corrected)
    assert any(line.endswith(": text") for line in corrected)
    total = row(archive, "select count(*) from articles")[0]
    assert lines[-1] == (
        f"Read {total} kept page(s): 3 corrected; {total - 3} as stored; "
        "0 kept though today's rules would not store them."
    )
    # Each stale reading is back to what the crawl read, in the row and its newest version.
    for article_id in ids.values():
        now = row(
            archive, "select id, title, agency, credit, text from articles where id = ?", article_id
        )
        assert now == read[article_id]
        newest = row(
            archive,
            "select title, text from article_versions where article_id = ? order by version desc",
            article_id,
        )
        assert newest == (read[article_id][1], read[article_id][4])
    assert row(archive, "select count(*) from article_versions")[0] == versions_before
    # The full-text index follows the text, and the story its article's title.
    assert (
        row(archive, "select count(*) from articles_fts where articles_fts match 'stale'")[0] == 0
    )
    story_title = row(
        archive,
        "select s.title from stories s join articles a on a.story_id = s.id where a.id = ?",
        ids["titled"],
    )[0]
    assert "Region - World" not in story_title

    code, lines = reextract(archive)
    assert code == 0 and lines == [
        f"Read {total} kept page(s): 0 corrected; {total} as stored; "
        "0 kept though today's rules would not store them."
    ]


def test_a_dry_run_says_what_it_would_correct_and_writes_nothing(archive: Path) -> None:
    make_stale(archive)
    before = contents(archive)

    code, lines = reextract(archive, "--dry-run")

    assert code == 0
    assert len([line for line in lines if line.startswith("would correct: ")]) == 3
    assert "3 would be corrected" in lines[-1]
    assert contents(archive) == before


def test_articles_todays_rules_would_not_store_are_kept_as_stored_and_listed(archive: Path) -> None:
    make_stale(archive)
    before = contents(archive)

    code, lines = reextract(archive, "-s", "NEWSMON_MIN_TEXT_CHARS=1000000")

    assert code == 0
    total = row(archive, "select count(*) from articles")[0]
    kept = [line for line in lines if line.startswith("kept as stored: ")]
    assert len(kept) == total
    assert all("today's rules would not store it (no_text: no article text" in k for k in kept)
    assert contents(archive) == before


def test_only_the_named_sources_are_read_and_pages_dropped_by_compact_are_skipped(
    archive: Path,
) -> None:
    ids = make_stale(archive)
    with sqlite3.connect(archive) as conn:
        conn.execute(
            "delete from pages where url = (select url from articles where id = ?)", [ids["text"]]
        )
        afp = conn.execute("select count(*) from articles where source = 'afp'").fetchone()[0]
        text_source = conn.execute(
            "select source from articles where id = ?", [ids["text"]]
        ).fetchone()[0]
    assert text_source == "afp"

    code, lines = reextract(archive, "afp")

    assert code == 0
    assert lines[-1].startswith(f"Read {afp - 1} kept page(s): ")
    assert row(
        archive, "select text like '%A stale tail.' from articles where id = ?", ids["text"]
    ) == (1,)


@pytest.mark.parametrize(
    ("meanwhile", "reason"),
    [
        (
            "update pages set fetched = '2099-01-01T00:00:00Z' where url = :url",
            "a crawl stored a newer page of it meanwhile",
        ),
        ("delete from pages where url = :url", "its kept page was deleted meanwhile"),
        (
            "update articles set content_hash = :hash where id = (select min(id) from articles"
            " where url != :url)",
            "its new text is article ",
        ),
    ],
    ids=["refetched", "compacted", "same_text"],
)
def test_a_changed_reading_is_not_written_over_what_happened_meanwhile(
    archive: Path, meanwhile: str, reason: str
) -> None:
    ids = make_stale(archive)
    db = open_database(archive)
    rules = Rules.from_settings(crawl_settings({}))
    declared = load_sources()
    (page,) = [p for p in stored_pages(db, []) if p.article_id == ids["text"]]
    source = declared[page.source]
    _, columns = read_again(page.html_gz, page.fetched_url, source, page.columns, rules)
    assert columns["text"] != page.columns["text"]
    with db.conn:  # a crawl, `newsmon compact` or another article's correction, in between
        db.execute(meanwhile, {"url": page.url, "hash": content_hash(columns["text"])})

    assert reason in (correct(db, page, columns) or "")
    assert row(
        archive, "select text like '%stale tail.' from articles where id = ?", page.article_id
    ) == (1,)
    db.close()


def test_an_article_sharing_its_text_already_still_gets_its_credit_corrected(
    archive: Path,
) -> None:
    ids = make_stale(archive)
    with sqlite3.connect(archive) as conn:  # a revision once gave another article its text
        (text_hash,) = conn.execute(
            "select content_hash from articles where id = ?", [ids["credited"]]
        ).fetchone()
        conn.execute(
            "update articles set content_hash = ? where id = ?", [text_hash, ids["titled"]]
        )

    code, lines = reextract(archive, "afp", "rferl", "reuters")

    assert code == 0
    assert any(line.startswith(f"corrected: {ids['credited']} ") for line in lines), lines
    assert not is_stale(archive, ids["credited"])


def test_articles_of_a_source_the_declarations_leave_out_are_not_read(
    archive: Path, tmp_path: Path
) -> None:
    builtin = (ROOT / "crawler/sources.toml").read_text(encoding="utf-8")
    only_rferl = tmp_path / "rferl.toml"
    only_rferl.write_text("[[source]]\n" + builtin.split("\n[[source]]\n")[1])
    stale = make_stale(archive).values()
    before = row(archive, "select count(*) from articles where source != 'rferl'")[0]

    code, lines = reextract(archive, "-s", f"NEWSMON_SOURCES={only_rferl}")

    assert code == 0
    not_read = [line for line in lines if line.startswith("not read: ")]
    assert len(not_read) == before
    assert all("is not declared: not read" in line for line in not_read)
    for article_id in stale:  # corrected only where its source's rules were at hand
        source = row(archive, "select source from articles where id = ?", article_id)[0]
        assert is_stale(archive, article_id) is (source != "rferl")


def test_a_page_is_judged_by_the_site_it_was_fetched_from_not_its_canonical_host() -> None:
    canonical = "https://factcheck.afp.com/doc.afp.com.ABC123"
    requested = "https://www.france24.com/en/africa/20240101-libya"
    assert fetched_url(canonical, requested, "www.france24.com") == requested
    assert fetched_url(canonical, canonical, "www.france24.com") == (
        "https://www.france24.com/doc.afp.com.ABC123"
    )
    assert fetched_url(canonical, None, "factcheck.afp.com") == canonical


def test_a_page_is_read_again_where_the_crawl_read_it(archive: Path) -> None:
    with sqlite3.connect(archive) as conn:
        query = "select a.id, p.final_url, a.url, a.requested_url, a.site from articles a"
        kept = conn.execute(f"{query} join pages p on p.url = a.url").fetchall()
        assert all(final and host_of(final) == site for _, final, _, _, site in kept)
        # Where a redirect led, which neither of the article's URLs tells.
        redirected = f"https://{kept[0][4]}/redirected/to/here"
        conn.execute(
            "update pages set final_url = ? where url = (select url from articles where id = ?)",
            [redirected, kept[0][0]],
        )
        conn.commit()
        finals = {ident: final for ident, final, *_ in kept} | {kept[0][0]: redirected}
        assert read_where(archive) == finals
        # A page kept before its final URL was: placed on its site by the article's URLs.
        conn.execute("update pages set final_url = null")
    assert read_where(archive) == {ident: fetched_url(*urls) for ident, _, *urls in kept}


def read_where(db: Path) -> dict[int, str]:
    return {page.article_id: page.fetched_url for page in stored_pages(open_database(db), [])}


WORKER_IMPORTS = """
import sys
import pipelines.precheck, pipelines.reextract, trafilatura  # what the two kinds of worker load
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("scrapy", "twisted"))
assert not loaded, loaded
"""


def test_the_workers_that_read_pages_load_no_scrapy() -> None:
    # Scrapy is half a second of CPU and ~20 MiB in every worker that starts.
    result = subprocess.run(
        [sys.executable, "-c", WORKER_IMPORTS], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_unknown_sources_bad_settings_and_a_missing_archive_get_one_line(tmp_path: Path) -> None:
    for args, message in [
        (["reextract", "nosuch"], "Error: unknown source 'nosuch' (declared: rferl, reuters, afp)"),
        (["reextract", "-s", "lower=1"], "Error: -s 'lower=1': expected NAME=VALUE"),
        (
            ["reextract", "--db", str(tmp_path / "none.db")],
            "does not exist: run `newsmon crawl` first",
        ),
    ]:
        result = CliRunner().invoke(cli, args)
        assert result.exit_code != 0
        assert len(result.output.strip().splitlines()) == 1
        assert message in result.output


def test_a_damaged_page_or_one_whose_extraction_hangs_fails_alone(archive: Path) -> None:
    endless = "".join(
        f"<p>Paragraph {i} of a page that never ends, in Tripoli.</p>" for i in range(40_000)
    )
    with sqlite3.connect(archive) as conn:
        damaged, hanging, *_ = [r[0] for r in conn.execute("select id from articles order by id")]
        conn.execute(
            "update pages set html_gz = ? where url = (select url from articles where id = ?)",
            [b"\x1f\x8b not gzip at all", damaged],
        )
        conn.execute(
            "update pages set html_gz = ? where url = (select url from articles where id = ?)",
            [
                gzip.compress(f"<html><body><article>{endless}</article></body></html>".encode()),
                hanging,
            ],
        )
    before = contents(archive)

    # The endless page takes over 15 s; an ordinary one, even on a loaded machine, under 5.
    code, lines = reextract(archive, "-s", "NEWSMON_EXTRACT_TIMEOUT=5")

    assert code == 0
    not_read = [line for line in lines if line.startswith("not read: ")]
    assert len(not_read) == 2, not_read
    assert f"not read: {damaged} " in not_read[0] and "the kept page does not open" in not_read[0]
    assert f"not read: {hanging} " in not_read[1] and "took longer than 5 s" in not_read[1]
    total = row(archive, "select count(*) from articles")[0]
    assert lines[-1] == (
        f"Read {total} kept page(s): 0 corrected; {total - 2} as stored; "
        "0 kept though today's rules would not store them; 2 could not be read again."
    )
    assert contents(archive) == before


def is_stale(db: Path, article_id: int) -> bool:
    return bool(
        row(
            db,
            "select title like '% - Region - World' or text like '%stale tail.' "
            "or credit = '[]' from articles where id = ?",
            article_id,
        )[0]
    )


def test_sigterm_stops_the_pass_keeping_what_it_corrected_and_leaving_no_worker(
    archive: Path,
) -> None:
    stale = make_stale(archive).values()
    with sqlite3.connect(archive) as conn:
        last = conn.execute("select max(id) from articles").fetchone()[0]
        endless = "".join(f"<p>Paragraph {i}, in Tripoli.</p>" for i in range(40_000))
        conn.execute(  # the last page takes Trafilatura ~16 s: the pass is still running
            "update pages set html_gz = ? where url = (select url from articles where id = ?)",
            [gzip.compress(f"<html><body>{endless}</body></html>".encode()), last],
        )
    before = [article_id for article_id in stale if article_id < last]  # in id order
    assert before
    marker = f"NEWSMON_TEST_MARKER={uuid.uuid4()}"
    command = [sys.executable, "-m", "scheduler", "reextract", "--db", str(archive)]
    with subprocess.Popen(
        [*command, *WORKER, "-s", "NEWSMON_EXTRACT_TIMEOUT=120"],
        cwd=ROOT,
        env={**os.environ, marker.split("=")[0]: marker},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as pass_over:
        deadline = time.monotonic() + 60
        while any(is_stale(archive, article_id) for article_id in before):
            assert time.monotonic() < deadline and pass_over.poll() is None
            time.sleep(0.1)
        pass_over.send_signal(signal.SIGTERM)
        out, err = pass_over.communicate(timeout=30)

    assert pass_over.returncode == 143
    assert err.strip() == "Stopped by SIGTERM; rerun to carry on."
    assert out.splitlines()[-1].startswith("Read ")
    assert wait_until_gone(marker, 5) == []  # its workers ended with it
    assert not any(is_stale(archive, article_id) for article_id in before)  # kept
    assert row(archive, "pragma integrity_check") == ("ok",)

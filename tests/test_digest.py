"""`newsmon digest`: the morning's new articles, grouped by story, as a cron job mails them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from review.digest import parse_since
from tests.conftest import DemoCrawl, expected_articles, invoke_newsmon


@pytest.fixture(scope="module")
def crawled(demo_crawl: DemoCrawl, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_crawl.copy(tmp_path_factory.mktemp("digest"))


def test_digest_lists_every_new_article_with_its_site_and_link(crawled: Path) -> None:
    result = invoke_newsmon("digest", "--db", str(crawled), "--since", "1h")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    stored = sum(a["stored"] for a in expected_articles())
    assert out.startswith(f"newsmon digest: {stored} new article(s)")
    assert "Libya oil output falls as Haftar-aligned groups blockade eastern ports" in out
    assert (
        "https://www.rferl.org/a/un-security-council-libya-russia-foreign-fighters/31003211.html"
        in out
    )
    assert "www.france24.com, AFP" in out


def test_digest_says_nothing_new_and_exits_0_when_there_is_nothing(crawled: Path) -> None:
    future = "2099-01-01"
    result = invoke_newsmon("digest", "--db", str(crawled), "--since", future)
    assert result.returncode == 0
    assert result.stdout.strip() == "newsmon digest: nothing new since 2099-01-01 00:00 UTC"


def test_digest_as_html_escapes_what_sites_published(crawled: Path, tmp_path: Any) -> None:
    from tests.conftest import open_db

    db = open_db(crawled)
    db.execute("update articles set title = title || ' <script>x</script>' where source = 'afp'")
    db.conn.commit()
    result = invoke_newsmon("digest", "--db", str(crawled), "--since", "1d", "--format", "html")
    assert result.returncode == 0
    assert "<script>x" not in result.stdout and "&lt;script&gt;x" in result.stdout
    assert result.stdout.count("<li><a href=") == sum(a["stored"] for a in expected_articles())
    markdown = invoke_newsmon("digest", "--db", str(crawled), "--format", "markdown")
    assert markdown.stdout.startswith("# newsmon digest") and "](https://" in markdown.stdout


@pytest.mark.parametrize("since", ["yesterday", "0h", "24x"])
def test_a_bad_since_is_one_line_and_exit_2(crawled: Path, since: str) -> None:
    result = invoke_newsmon("digest", "--db", str(crawled), "--since", since)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--since" in result.stderr


def test_since_takes_durations_and_dates_in_utc() -> None:
    now = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    assert parse_since("24h", now) == datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    assert parse_since("2w", now) == datetime(2026, 11, 15, 6, 0, tzinfo=UTC)
    assert parse_since("2026-11-28", now) == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_since("2026-11-28T06:00:00+02:00", now).hour == 6

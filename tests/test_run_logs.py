"""A run's log opens from its row in the review server, and nothing else does: the URL names
a run, the run's row names the file, and only files in the archive's log directory are
served."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from datasette.app import Datasette

from pipelines.database import open_database
from review.serve import datasette_for, metadata_for
from scheduler.run_record import prune_logs
from tests.test_logs import fill


def get(db_path: Path, path: str, **options: Any) -> Any:
    async def fetch() -> Any:
        return await datasette_for(db_path, **options).client.get(path)

    return asyncio.run(fetch())


def add_run(db_path: Path, log_path: str | None) -> int:
    db = open_database(db_path)
    run = db.table("crawl_runs").insert(
        {"source": "afp", "status": "ok", "started": "2026-01-01", "log_path": log_path}
    )
    db.close()
    return int(run.last_pk)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """news.db with two rferl runs whose logs are in news.db.logs/, and a secret beside it."""
    db_path = tmp_path / "news.db"
    fill(db_path, tmp_path / "news.db.logs", 2)
    (tmp_path / "secret.txt").write_text("not a log\n")
    return db_path


def test_a_run_log_is_served_as_text_from_the_runs_row(archive: Path) -> None:
    response = get(archive, "/news/crawl_runs/2/log?path=/etc/passwd")  # the query is ignored

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "run 1 of news.db\n"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_pruned_log_answers_404_saying_so(archive: Path) -> None:
    prune_logs(archive, "rferl", keep=1)

    response = get(archive, "/news/crawl_runs/1/log")

    assert response.status_code == 404
    assert "no longer kept" in response.text and "newest 50 runs" in response.text
    assert get(archive, "/news/crawl_runs/2/log").status_code == 200


def test_a_log_deleted_by_hand_and_a_run_that_does_not_exist_answer_404(archive: Path) -> None:
    (row,) = open_database(archive).query("select log_path from crawl_runs where id = 1")
    Path(row["log_path"]).unlink()

    gone = get(archive, "/news/crawl_runs/1/log")
    missing = get(archive, "/news/crawl_runs/99/log")

    assert gone.status_code == 404 and "is gone" in gone.text
    assert missing.status_code == 404 and "No run 99" in missing.text


@pytest.mark.parametrize(
    "log_path",
    [
        "{tmp}/secret.txt",  # outside the log directory
        "{tmp}/news.db.logs/../secret.txt",  # climbing out of it
        "../secret.txt",  # relative, climbing out
        "{tmp}/news.db",  # the archive itself
        "{tmp}/news.db.logs",  # the directory, not a file
        "/etc/passwd",
        "{tmp}/news.db.logs/evil.log",  # a symlink in the log directory pointing out
    ],
)
def test_only_files_in_the_archives_log_directory_are_served(
    archive: Path, tmp_path: Path, log_path: str
) -> None:
    (tmp_path / "news.db.logs" / "evil.log").symlink_to(tmp_path / "secret.txt")
    run = add_run(archive, log_path.format(tmp=tmp_path))

    response = get(archive, f"/news/crawl_runs/{run}/log")

    assert response.status_code == 404
    assert "not a log" not in response.text and "root:" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/news/crawl_runs/%2E%2E/log",
        "/news/crawl_runs/secret.txt/log",
        "/news/crawl_runs/-1/log",
        "/news/crawl_runs/%C2%B9/log",  # a superscript one: a digit to Unicode, not a run
        "/news/crawl_runs/1/log/../../../secret.txt",
        "/other/crawl_runs/1/log",
    ],
)
def test_no_url_but_a_run_id_reaches_a_log(archive: Path, path: str) -> None:
    response = get(archive, path)
    if response.status_code == 302:  # Datasette's own form of %-escapes in a path
        response = get(archive, response.headers["location"])

    assert response.status_code == 404
    assert "not a log" not in response.text and "run 0 of" not in response.text


def test_logs_of_a_custom_log_directory_open_when_serve_is_told_where(tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    fill(db_path, tmp_path / "shared-logs", 1)

    assert get(db_path, "/news/crawl_runs/1/log").status_code == 404
    served = get(db_path, "/news/crawl_runs/1/log", log_dir=tmp_path / "shared-logs")
    assert served.status_code == 200 and served.text == "run 0 of news.db\n"


def test_whoever_may_not_read_crawl_runs_may_not_read_their_logs(archive: Path) -> None:
    metadata = metadata_for(archive)
    metadata["databases"]["news"]["tables"]["crawl_runs"]["allow"] = {"id": "operator"}

    async def fetch(path: str) -> Any:
        return await Datasette([str(archive)], metadata=metadata).client.get(path)

    assert asyncio.run(fetch("/news/crawl_runs")).status_code == 403
    assert asyncio.run(fetch("/news/crawl_runs/1/log")).status_code == 403

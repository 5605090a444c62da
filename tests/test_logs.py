"""Each database keeps its own crawl logs, and pruning one database's logs never touches
another's, even in a shared --log-dir."""

from __future__ import annotations

from pathlib import Path

from pipelines.database import open_database
from scheduler.arguments import logs_dir
from scheduler.run_record import prune_logs


def fill(db_path: Path, log_dir: Path, runs: int) -> list[Path]:
    """``runs`` runs of rferl in ``db_path``, each with its log file in ``log_dir``."""
    log_dir.mkdir(exist_ok=True)
    db = open_database(db_path)
    logs = []
    for i in range(runs):
        log = log_dir / f"rferl-2026010{i}T000000Z-{db_path.stem}{i:04d}.log"
        log.write_text(f"run {i} of {db_path.name}\n")
        db.table("crawl_runs").insert(
            {"source": "rferl", "status": "ok", "started": f"2026-01-0{i}", "log_path": str(log)}
        )
        logs.append(log)
    db.close()
    return logs


def test_two_databases_in_one_folder_have_their_own_log_directories(tmp_path: Path) -> None:
    assert logs_dir(tmp_path / "a.db", None) == tmp_path / "a.db.logs"
    assert logs_dir(tmp_path / "b.db", None) == tmp_path / "b.db.logs"
    assert logs_dir(tmp_path / "a.db", tmp_path / "mine") == tmp_path / "mine"


def test_pruning_keeps_the_newest_runs_logs_and_never_another_databases(tmp_path: Path) -> None:
    shared = tmp_path / "logs"
    ours = fill(tmp_path / "a.db", shared, 5)
    theirs = fill(tmp_path / "b.db", shared, 5)
    stranger = shared / "rferl-20200101T000000Z-someone.log"
    stranger.write_text("not a newsmon run of a.db\n")

    prune_logs(tmp_path / "a.db", "rferl", keep=2)

    assert [log.exists() for log in ours] == [False, False, False, True, True]
    assert all(log.exists() for log in theirs)
    assert stranger.exists()
    paths = [r["log_path"] for r in open_database(tmp_path / "a.db").query(
        "select log_path from crawl_runs order by id")]  # fmt: skip
    assert paths == [None, None, None, str(ours[3]), str(ours[4])]  # never pointing at nothing

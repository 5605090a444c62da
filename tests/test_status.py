"""`newsmon status` says what it means: a failing source is never called healthy, next runs
follow the daemon's real interval, and short runs do not show as 0 s."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pipelines.database import open_database
from scheduler.cli import cli
from scheduler.daemon_state import last_daemon, record_start, record_stop
from scheduler.status import duration_text, seconds_text

FUTURE = "2099-01-01T00:0{}:00Z"  # far future: nothing is "silent" yet


def record(db_path: Path, source: str, status: str, minute: int, seconds: int = 1) -> None:
    db = open_database(db_path)
    db.table("crawl_runs").insert(
        {
            "source": source,
            "status": status,
            "reason": "" if status == "ok" else "no response from the site",
            "started": FUTURE.format(minute),
            "finished": f"2099-01-01T00:0{minute}:{seconds:02d}Z",
        }
    )
    db.close()


def status(db_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["status", "--db", str(db_path), *args])
    return result.exit_code, result.output


def test_a_source_whose_last_run_failed_is_failing_never_healthy(tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    for source in ("rferl", "reuters", "afp"):
        record(db_path, source, "ok", 0)
    record(db_path, "rferl", "failed", 1)
    code, output = status(db_path)
    assert code == 0  # one failure: under --max-failures, so cron is not woken yet
    rferl = next(line for line in output.splitlines() if line.startswith("rferl"))
    assert "healthy" not in rferl.replace("unhealthy", "")
    assert "FAILING: last run failed (unhealthy at 3 failed or blocked runs in a row)" in rferl
    assert next(line for line in output.splitlines() if line.startswith("afp")).endswith(
        ": healthy"
    )
    code, output = status(db_path, "--json")
    states = {s["source"]: s for s in json.loads(output)}
    assert (states["rferl"]["state"], states["rferl"]["healthy"]) == ("failing", False)
    assert (states["afp"]["state"], states["afp"]["healthy"]) == ("healthy", True)
    assert status(db_path, "--max-failures", "1")[0] == 1


def test_status_uses_the_interval_of_the_daemon_on_this_database(tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    for source in ("rferl", "reuters", "afp"):
        record(db_path, source, "ok", 0)
    assert json.loads(status(db_path, "--json")[1])[0]["interval_s"] == 1800  # declared
    db = open_database(db_path)
    record_start(db, 10)
    record_stop(db)
    assert last_daemon(db) is not None and last_daemon(db).every == 10  # type: ignore[union-attr]
    db.close()
    output = status(db_path)[1]
    assert "next run 2099-01-01T00:00:10Z (every 10 s)" in output
    assert json.loads(status(db_path, "--json")[1])[0]["interval_s"] == 10
    assert json.loads(status(db_path, "--json", "--every", "2h")[1])[0]["interval_s"] == 7200


def test_short_runs_show_a_decimal_and_intervals_a_unit() -> None:
    assert seconds_text(1.4) == "1.4 s"
    assert seconds_text(0.2) == "0.2 s"
    assert seconds_text(75) == "75 s"
    assert seconds_text(0) == "under 1 s"  # started and finished in the same second
    assert duration_text(10) == "10 s"
    assert duration_text(1800) == "30 min"
    assert duration_text(7200) == "2 h"


def test_a_short_run_shows_a_decimal_not_zero(tmp_path: Path) -> None:
    # Run times are stored to the second (crawl_runs.started/finished), so the decimal
    # shows whole seconds; what it prevents is "0 s" for a run that took one or two.
    db_path = tmp_path / "news.db"
    record(db_path, "rferl", "ok", 0, seconds=2)
    output = status(db_path)[1]
    assert "(ok, 2.0 s)" in output

"""The `newsmon schedule` daemon, the per-source lock, timeouts and backoff, for real:
daemon and crawls are subprocesses against loopback sites."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.database import open_database
from pipelines.runs import KILLED_REASON
from scheduler.cli import cli
from scheduler.status import History, backoff_seconds, next_run
from tests.conftest import FAST, ROOT, expected_articles, invoke_newsmon, open_db, run_newsmon
from tests.siteserver import BrokenServer, Site, load_manifest, origin_map_args, serve_sites

STARTED: list[subprocess.Popen[str]] = []


def start_daemon(
    db_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    daemon = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "schedule", "--db", str(db_path), *FAST, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    STARTED.append(daemon)
    return daemon


def only_sources(directory: Path, *names: str) -> dict[str, str]:
    """The environment of a daemon that crawls only ``names``: the real declarations, the
    other sources disabled. At --every 1s a daemon crawls every enabled source again and again,
    ~2.5 s of CPU a crawl, while a test waits on one of them."""
    text = (ROOT / "crawler" / "sources.toml").read_text(encoding="utf-8")
    for name in {"rferl", "reuters", "afp"} - set(names):
        declared = f'name = "{name}"\n'
        assert declared in text, name
        text = text.replace(declared, declared + "enabled = false\n", 1)
    path = directory / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return {"NEWSMON_SOURCES": str(path)}


@pytest.fixture(autouse=True)
def no_daemon_outlives_its_test():
    """A test that fails before stopping its daemon must not leave it crawling for ever."""
    yield
    while STARTED:
        daemon = STARTED.pop()
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.communicate()


def start_crawl(db_path: Path, *args: str, **popen: object) -> subprocess.Popen:
    """`newsmon crawl` in the background, for tests that interfere with it while it runs."""
    command = [sys.executable, "-m", "scheduler", "crawl", "--db", str(db_path), *FAST, *args]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen
    )  # type: ignore[call-overload]


def stop_daemon(daemon: subprocess.Popen[str], timeout: float = 30) -> tuple[str, float]:
    started = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=timeout)
    return stderr, time.monotonic() - started


def runs(db_path: Path) -> list[dict]:
    try:
        return list(open_db(db_path).query("select * from crawl_runs order by id"))
    except sqlite3.OperationalError:  # the file exists, its tables are being created
        return []


# Generous: a wait ends as soon as its condition holds, and on a loaded machine crawls are
# many times slower than on an idle one.
WAIT_SECONDS = 120.0


def wait_for(condition, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


def integrity_ok(db_path: Path) -> bool:
    db = open_db(db_path)
    db.execute("insert into articles_fts(articles_fts) values('integrity-check')")
    return db.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_daemon_crawls_every_source_repeatedly_and_stops_cleanly(sites, tmp_path):
    db_path = tmp_path / "news.db"
    daemon = start_daemon(db_path, "--every", "1s", *origin_map_args(sites))
    wait_for(
        lambda: (
            db_path.exists()
            and all(
                sum(r["source"] == s and r["status"] == "ok" for r in runs(db_path)) >= 2
                for s in ("rferl", "reuters", "afp")
            )
        )
    )
    stderr, took = stop_daemon(daemon)
    assert daemon.returncode == 0, stderr
    assert took < 15
    assert "received SIGTERM: stopping" in stderr
    assert "Traceback" not in stderr
    db = open_db(db_path)
    stored = sum(a["stored"] for a in expected_articles())
    assert db.table("articles").count == stored  # reruns stored nothing twice
    # A crawl the SIGTERM caught is interrupted, never failed.
    assert all(r["status"] in ("ok", "partial", "interrupted") for r in runs(db_path))
    logs = [Path(r["log_path"]) for r in runs(db_path) if r["log_path"]]
    assert all(log.exists() for log in logs)  # none points at nothing
    assert len(logs) >= len(runs(db_path)) - 3  # only a crawl SIGTERM caught as it began has none
    # Logs belong to their database, beside it.
    assert {log.parent for log in logs} == {tmp_path / "news.db.logs"}
    assert integrity_ok(db_path)
    # `newsmon status` knows the daemon ran --every 1s.
    state = CliRunner().invoke(cli, ["status", "--db", str(db_path), "--json"])
    assert {s["interval_s"] for s in json.loads(state.output)} == {1}


def test_sigterm_mid_crawl_stops_the_daemon_cleanly_with_a_consistent_database(tmp_path):
    db_path = tmp_path / "news.db"

    def slow(path: str) -> None:
        time.sleep(0.5)

    with serve_sites([]) as running:
        running["www.rferl.org"] = Site(
            "www.rferl.org", load_manifest("www.rferl.org"), slow
        ).start()
        # Only rferl: the others are not served here; their crawls would only fail on a
        # refused port.
        only_rferl = only_sources(tmp_path, "rferl")
        daemon = start_daemon(db_path, "--every", "1h", *origin_map_args(running), env=only_rferl)
        try:
            wait_for(
                lambda: (
                    db_path.exists()
                    and any(
                        r["source"] == "rferl" and r["status"] == "running" for r in runs(db_path)
                    )
                )
            )
            time.sleep(1.5)  # well inside the crawl: its pages are in flight
        finally:
            stderr, took = stop_daemon(daemon)
            running["www.rferl.org"].stop()
    assert daemon.returncode == 0, stderr
    assert took < 20
    rferl = [r for r in runs(db_path) if r["source"] == "rferl"]
    assert [r["status"] for r in rferl] == ["interrupted"]
    # Scrapy closes the spider and records the end itself; on a loaded machine its close can
    # outlast the forced-shutdown delay, and newsmon records the end for it.
    assert rferl[0]["reason"] in (
        "stopped by a signal before it finished",
        "stopped as newsmon stopped before the crawl recorded its end",
    )
    assert not [r for r in runs(db_path) if r["status"] == "running"]
    assert integrity_ok(db_path)


def test_overlapping_fires_of_a_slow_source_are_skipped(tmp_path):
    db_path = tmp_path / "news.db"

    def slow(path: str) -> None:
        time.sleep(0.4)  # eight requests of 0.4 s: a crawl outlasts its 1 s interval

    with serve_sites(["www.reuters.com"]) as running:
        running["www.rferl.org"] = Site(
            "www.rferl.org", load_manifest("www.rferl.org"), slow
        ).start()
        daemon = start_daemon(
            db_path, "--every", "1s", *origin_map_args(running), env=only_sources(tmp_path, "rferl")
        )
        try:
            wait_for(
                lambda: (
                    db_path.exists()
                    and sum(
                        r["source"] == "rferl" and r["finished"] is not None for r in runs(db_path)
                    )
                    >= 2
                ),
            )
        finally:
            stderr, _ = stop_daemon(daemon)
            running["www.rferl.org"].stop()
    rferl = [r for r in runs(db_path) if r["source"] == "rferl" and r["finished"]]
    for earlier, later in itertools.pairwise(rferl):
        assert later["started"] >= earlier["finished"]  # never two at once
    assert "rferl: still crawling from its last run; this fire is skipped" in stderr


def test_the_lock_keeps_a_manual_crawl_out_while_a_crawl_of_the_source_runs(tmp_path):
    db_path = tmp_path / "news.db"
    second_done = threading.Event()

    def held(path: str) -> None:
        # The first crawl waits on its sitemaps until the second has come and gone: however
        # slowly the second starts on a loaded machine, the first still holds its lock.
        if path != "/robots.txt":
            second_done.wait(20)  # within the crawl's 30 s download timeout

    with serve_sites([]) as running:
        running["www.rferl.org"] = Site(
            "www.rferl.org", load_manifest("www.rferl.org"), held
        ).start()
        first = start_crawl(db_path, "rferl", *origin_map_args(running))
        lock = db_path.with_name("news.db.locks") / "rferl.lock"
        wait_for(lambda: lock.exists() and lock.read_text().strip() != "")
        second = run_newsmon(
            "crawl", "rferl", "--db", str(db_path), *FAST, *origin_map_args(running)
        )
        second_done.set()
        first.communicate(timeout=60)
        running["www.rferl.org"].stop()
    assert second.returncode == 1
    assert "rferl: skipped: another crawl of rferl is running" in second.stderr
    assert first.returncode == 0
    assert len(runs(db_path)) == 1


def test_a_killed_crawl_leaves_no_stale_lock_and_is_marked_interrupted(sites, tmp_path):
    db_path = tmp_path / "news.db"
    cli = start_crawl(db_path, "rferl", *origin_map_args(sites))
    lock = db_path.with_name("news.db.locks") / "rferl.lock"
    wait_for(lambda: db_path.exists() and len(runs(db_path)) == 1)
    crawl_pid = int(lock.read_text())
    os.kill(cli.pid, signal.SIGKILL)
    os.kill(crawl_pid, signal.SIGKILL)  # kill -9 the crawl itself, mid-run
    cli.wait()
    wait_for(lambda: not Path(f"/proc/{crawl_pid}").exists() or _zombie(crawl_pid))
    again = run_newsmon("crawl", "rferl", "--db", str(db_path), *FAST, *origin_map_args(sites))
    assert again.returncode == 0, again.stderr
    statuses = [(r["status"], r["reason"]) for r in runs(db_path)]
    assert statuses[0] in (("interrupted", KILLED_REASON), ("ok", ""))  # it may have finished
    assert statuses[-1][0] == "ok"
    assert integrity_ok(db_path)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def reuters_ran_after_rferl_failed(db_path: Path) -> bool:
    done = [r for r in runs(db_path) if r["finished"]]
    failed = [r["finished"] for r in done if r["source"] == "rferl" and r["status"] == "failed"]
    return bool(failed) and any(
        r["source"] == "reuters" and r["status"] == "ok" and r["started"] > failed[0] for r in done
    )


def test_a_failing_source_does_not_stop_the_daemon_and_is_backed_off(tmp_path):
    db_path = tmp_path / "news.db"
    resetting = BrokenServer("reset").start()
    served = ["www.reuters.com", "english.ahram.org.eg", "factcheck.afp.com", "www.france24.com"]
    with serve_sites(served) as running:
        daemon = start_daemon(
            db_path,
            "--every",
            "1s",
            *origin_map_args(running),
            "--origin-map",
            f"https://www.rferl.org={resetting.origin}",
            "-s",
            "RETRY_TIMES=0",
            env=only_sources(tmp_path, "rferl", "reuters"),
        )
        try:
            # Until reuters has run well after rferl failed and was backed off.
            wait_for(lambda: reuters_ran_after_rferl_failed(db_path))
        finally:
            stderr, _ = stop_daemon(daemon)
            resetting.stop()
    assert daemon.returncode == 0
    rferl = [r for r in runs(db_path) if r["source"] == "rferl"]
    assert rferl
    assert all(r["status"] == "failed" for r in rferl if r["status"] != "interrupted")
    assert "rferl: 1 failed or blocked run(s) in a row; next run" in stderr
    status = invoke_newsmon("status", "--db", str(db_path), "--every", "1s", "--max-failures", "1")
    assert status.returncode == 1
    assert "rferl" in status.stdout
    assert "backing off" in status.stdout


def test_a_restart_after_downtime_runs_each_overdue_source_once(sites, tmp_path):
    db_path = tmp_path / "news.db"
    db = open_database(db_path)
    long_ago = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for source in ("rferl", "reuters", "afp"):
        db.table("crawl_runs").insert(
            {"source": source, "status": "ok", "started": long_ago, "finished": long_ago}
        )
    db.close()
    daemon = start_daemon(db_path, "--every", "1h", *origin_map_args(sites))
    wait_for(lambda: len([r for r in runs(db_path) if r["finished"]]) >= 6)
    time.sleep(1)  # any extra catch-up run would have started by now
    stderr, _ = stop_daemon(daemon)
    fresh = [r["source"] for r in runs(db_path)[3:]]
    assert sorted(fresh) == ["afp", "reuters", "rferl"], stderr


def test_a_hung_crawl_is_stopped_at_its_time_limit_and_recorded_as_timeout(tmp_path):
    db_path = tmp_path / "news.db"
    hanging = BrokenServer("hang").start()
    started = time.monotonic()
    result = run_newsmon(
        "crawl",
        "rferl",
        "--db",
        str(db_path),
        "--timeout",
        "2",
        "-s",
        "DOWNLOAD_TIMEOUT=1",
        "-s",
        "RETRY_TIMES=0",
        # Without politeness delays, the close after the SIGTERM waits only for the pending
        # downloads' 1 s timeouts, not for a 2 s delay before each queued request as well.
        "-s",
        "DOWNLOAD_DELAY=0",
        "-s",
        "AUTOTHROTTLE_ENABLED=false",
        "--origin-map",
        f"https://www.rferl.org={hanging.origin}",
    )
    took = time.monotonic() - started
    hanging.stop()
    assert result.returncode == 1
    assert "rferl: failed: timeout" in result.stderr
    # Start-up, the 2 s limit, then SIGTERM and a close of a few seconds: far from the 45 s
    # a crawl that ignored its limit would take to be killed.
    assert took < 20
    (row,) = runs(db_path)
    assert (row["status"], row["reason"]) == ("failed", "timeout")


def test_backoff_doubles_per_failure_up_to_its_cap():
    assert backoff_seconds(1800, 0) == 1800
    assert backoff_seconds(1800, 1) == 3600
    assert backoff_seconds(1800, 3) == 14400
    assert backoff_seconds(1800, 10) == 16 * 1800  # capped at 16 intervals
    assert backoff_seconds(7200, 10) == 24 * 3600  # and at a day
    assert backoff_seconds(2 * 86400, 3) == 2 * 86400  # never below the interval


def test_next_run_is_now_when_overdue_and_backs_off_after_failures():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    never = History(None, None, None, None, None, 0)
    assert next_run(never, 3600, now) == now
    overdue = History(now - timedelta(days=2), "ok", None, None, None, 0)
    assert next_run(overdue, 3600, now) == now
    failing = History(now, "blocked", "HTTP 401", None, None, 2)
    assert next_run(failing, 3600, now) == now + timedelta(hours=4)


@pytest.mark.parametrize("every", ["0s", "5x", "soon", "-1m"])
def test_schedule_rejects_a_bad_interval_with_one_line(every, tmp_path):
    # In process: the same code as the installed command, without a Python start per case.
    result = CliRunner().invoke(cli, ["schedule", "--db", str(tmp_path / "n.db"), "--every", every])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # no traceback
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: --every: invalid duration")

"""The scheduler daemon's memory across many runs: it should stay flat.

    python -m bench.daemon_memory [--runs 60] [--every 1s]

Runs `newsmon schedule --every 1s` against the loopback fixture sites until the daemon has
finished ``--runs`` crawls (three sources, so a third as many per source), samples the
daemon's resident memory after each one, SIGTERMs it, and prints the RSS at the start, after
a tenth of the runs, at the end and at its peak, and how long the shutdown took.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlite_utils

from tests.siteserver import origin_map_args, serve_sites


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def finished_runs(db: Path) -> int:
    database = sqlite_utils.Database(db) if db.exists() else None
    if database is None or "crawl_runs" not in database.table_names():
        return 0  # not created yet, or its tables are being created
    return int(
        database.execute("select count(*) from crawl_runs where finished is not null").fetchone()[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--every", default="1s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_sites() as sites:
        db = Path(tmp) / "news.db"
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scheduler",
                "schedule",
                "--every",
                args.every,
                "--db",
                str(db),
                "-s",
                "DOWNLOAD_DELAY=0",
                "-s",
                "AUTOTHROTTLE_ENABLED=false",
                "-s",
                "NEWSMON_LIVE_DAYS=0",
                *origin_map_args(sites),
            ],
            stderr=subprocess.DEVNULL,
        )
        samples: list[tuple[int, float]] = []
        started = time.monotonic()
        while (done := finished_runs(db)) < args.runs:
            if done and (not samples or samples[-1][0] != done):
                samples.append((done, rss_mib(daemon.pid)))
            time.sleep(0.2)
        samples.append((done, rss_mib(daemon.pid)))
        seconds = time.monotonic() - started
        stop = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
        stop_seconds = time.monotonic() - stop
        rows = list(
            sqlite_utils.Database(db).query(
                "select status, count(*) n,"
                " avg((julianday(finished) - julianday(started)) * 86400) s"
                " from crawl_runs group by status"
            )
        )
    at_tenth = samples[max(1, len(samples) // 10)]
    by_status = ", ".join(f"{r['n']} {r['status']} (avg {r['s']:.1f} s)" for r in rows)
    peak = max(rss for _, rss in samples)
    print(f"runs finished:          {done} in {seconds:.0f} s: {by_status}")
    print(f"daemon RSS after run {samples[0][0]}:  {samples[0][1]:.1f} MiB")
    print(f"daemon RSS after run {at_tenth[0]}: {at_tenth[1]:.1f} MiB")
    print(f"daemon RSS at the end:  {samples[-1][1]:.1f} MiB (peak {peak:.1f} MiB)")
    print(f"SIGTERM to exit:        {stop_seconds:.1f} s (exit code {daemon.returncode})")


if __name__ == "__main__":
    main()

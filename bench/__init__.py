"""Benchmarks: scripts that print figures (``python -m bench.<name>``), never timed tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sqlite_utils


def timed_run(command: list[str], sources: Path) -> tuple[float, str]:
    """Run a newsmon ``command`` with the declarations in ``sources``; its wall seconds and
    its standard output. A failed command ends the bench."""
    started = time.perf_counter()
    result = subprocess.run(
        command,
        env={**os.environ, "NEWSMON_SOURCES": str(sources)},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[2:4])} failed:\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def timed_crawl(command: list[str], sources: Path, db: Path) -> tuple[float, dict[str, Any]]:
    """Run ``command`` (a `newsmon crawl`) with the declarations in ``sources``; its wall
    seconds and the newest crawl_runs row it left in ``db``. A failed crawl ends the bench."""
    seconds, _ = timed_run(command, sources)
    runs = list(sqlite_utils.Database(db).query("select * from crawl_runs order by id"))
    return seconds, runs[-1]

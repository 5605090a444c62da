"""Shared fixtures: loopback fixture sites, and the real newsmon CLI run in a subprocess."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from tests.siteserver import FIXTURES, Site, origin_map_args, serve_sites

ROOT = Path(__file__).parent.parent
# Politeness off: the loopback sites are ours. One extraction worker: the fixture crawls are a
# few pages each, and a second worker's start-up (a second of CPU) would be most of a test's
# cost (tests/test_workers.py tests the pool's size). The captures are years old, so no live
# window (tests/test_versions.py tests the window itself).
WORKER = ["-s", "NEWSMON_EXTRACT_WORKERS=1"]
FAST = [*WORKER, "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=false"]
FAST += ["-s", "NEWSMON_LIVE_DAYS=0"]


def expected_articles() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "expected_articles.json").read_text())


@pytest.fixture
def sites() -> Iterator[dict[str, Site]]:
    with serve_sites() as running:
        yield running


def run_newsmon(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """The installed CLI exactly as a user runs it (python -m scheduler == newsmon)."""
    return subprocess.run(
        [sys.executable, "-m", "scheduler", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def invoke_newsmon(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI run in this process, for a command that starts no crawl: the same exit code,
    stdout and stderr as ``run_newsmon``, without an interpreter to start (~0.5 s of CPU)."""
    from click.testing import CliRunner

    from scheduler.cli import cli

    result = CliRunner().invoke(cli, list(args), prog_name="newsmon")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback a user would have seen
    return subprocess.CompletedProcess(
        ["newsmon", *args], result.exit_code, result.stdout, result.stderr
    )


@pytest.fixture
def crawl(sites: dict[str, Site], tmp_path: Path) -> Any:
    """crawl(*args) runs `newsmon crawl` against the fixture sites into tmp_path/news.db."""
    db_path = tmp_path / "news.db"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_newsmon("crawl", "--db", str(db_path), *FAST, *origin_map_args(sites), *args)

    run.db_path = db_path  # type: ignore[attr-defined]
    return run


@dataclass
class DemoCrawl:
    """The fixture sites crawled once by `newsmon crawl`, as a user's first run would."""

    db_path: Path
    result: subprocess.CompletedProcess[str]
    requests: dict[str, list[str]]  # the paths each site (by public host) was asked for

    def copy(self, directory: Path) -> Path:
        """A copy of the archive, with its logs, of one's own to read or change."""
        target = directory / "news.db"
        logs, target_logs = (path.with_name(path.name + ".logs") for path in (self.db_path, target))
        shutil.copytree(logs, target_logs)
        with (
            contextlib.closing(sqlite3.connect(self.db_path)) as source,
            contextlib.closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
            copy.execute(
                "update crawl_runs set log_path = replace(log_path, ?, ?)",
                [str(logs), str(target_logs)],
            )
            copy.commit()
        return target


@pytest.fixture(scope="session")
def demo_crawl(tmp_path_factory: pytest.TempPathFactory) -> DemoCrawl:
    """One crawl shared by every module that only needs its results (each takes a copy), and
    by every xdist worker: a crawl of the three sources costs more CPU than most modules'
    tests together. The first worker to ask crawls; the others wait on the lock, then read."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the session's directory, above each worker's own
    directory = shared / "demo"
    record = directory / "crawl.json"
    with open(shared / "demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            directory.mkdir(exist_ok=True)
            record.write_text(json.dumps(_crawl_demo(directory / "news.db")))
    saved = json.loads(record.read_text())
    result = subprocess.CompletedProcess(saved["args"], 0, saved["stdout"], saved["stderr"])
    return DemoCrawl(directory / "news.db", result, saved["requests"])


def _crawl_demo(db_path: Path) -> dict[str, Any]:
    with serve_sites() as running:
        result = run_newsmon("crawl", "--db", str(db_path), *FAST, *origin_map_args(running))
        assert result.returncode == 0, result.stdout + result.stderr
        requests = {host: list(site.requests) for host, site in running.items()}
    return {
        "args": result.args,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "requests": requests,
    }


def open_db(path: Path) -> sqlite_utils.Database:
    return sqlite_utils.Database(path)


# The modules that take longest, first: xdist hands each worker whole modules in collection
# order (--dist loadfile), so a long one collected last would run alone at the end.
LONGEST_FIRST = ("test_crash_safety.py", "test_backfill.py", "test_versions.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each module's tests keep their order

"""`newsmon crawl` forks its crawls from one import of Scrapy (scheduler/prefork.py): each is
still a process of its own, with its own session and only its own source's lock."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.processes import CRAWL, kind_of, parent_of
from tests.conftest import FAST, ROOT, open_db
from tests.siteserver import Route, origin_map_args, serve_sites
from tests.test_workers import live_processes


def slowly(path: str) -> Route | None:
    """Every answer a second late, so the crawls are still running when the test looks."""
    time.sleep(1)
    return None


def named_crawls(marker: str) -> dict[int, str]:
    """pid -> name of the running forked crawls whose environment holds ``marker``."""
    found = {}
    for pid in live_processes(marker):
        with contextlib.suppress(OSError):  # gone meanwhile
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            if name.startswith("crawl "):
                found[pid] = name
    return found


def running_runs(db_path: Path) -> list[str]:
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as db:
            query = "select source from crawl_runs where status = 'running'"
            return [row[0] for row in db.execute(query)]
    except sqlite3.OperationalError:  # not created yet
        return []


def lock_files(pid: int) -> list[str]:
    """The names of the lock files a process holds open."""
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue
    return sorted(Path(target).name for target in targets if target.endswith(".lock"))


def test_each_forked_crawl_is_a_process_of_its_own_holding_only_its_own_lock(tmp_path) -> None:
    marker = f"NEWSMON_PREFORK_TEST={uuid.uuid4().hex}"
    db_path = tmp_path / "news.db"
    with serve_sites() as sites:
        for site in sites.values():
            site.handler = slowly
        command = [sys.executable, "-m", "scheduler", "crawl", "rferl", "reuters"]
        cli = subprocess.Popen(
            [*command, "--db", str(db_path), *FAST, *origin_map_args(sites)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, marker.split("=")[0]: marker.split("=")[1]},
        )
        try:
            deadline = time.monotonic() + 60
            while len(running_runs(db_path)) < 2:  # both crawls have opened their spiders
                assert cli.poll() is None and time.monotonic() < deadline, cli.stderr
                time.sleep(0.1)
            crawls = named_crawls(marker)
            assert sorted(crawls.values()) == ["crawl reuters", "crawl rferl"]
            for pid, name in crawls.items():
                source = name.removeprefix("crawl ")
                assert parent_of(pid) == cli.pid
                assert os.getsid(pid) == pid, "its own session, as `scrapy crawl` had"
                assert lock_files(pid) == [f"{source}.lock"], "its own source's lock only"
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                assert kind_of(cmdline, name) == CRAWL
        finally:
            cli.send_signal(signal.SIGTERM)
            _, stderr = cli.communicate(timeout=90)
    assert cli.returncode == 128 + signal.SIGTERM, stderr
    runs = {row["source"]: row for row in open_db(db_path).query("select * from crawl_runs")}
    assert {source: row["status"] for source, row in runs.items()} == {
        "rferl": "interrupted",
        "reuters": "interrupted",
    }
    assert all(Path(row["log_path"]).read_text().strip() for row in runs.values())


PRELOAD = """
import sys
from scheduler.prefork import preload
ok = preload({module!r})
loaded = [name in sys.modules for name in ("twisted.internet.reactor", "{spiders}", "{store}")]
print(ok, *loaded)
"""


def preload_in_a_fresh_process(module: str, before: str = "") -> str:
    code = before + PRELOAD.format(
        module=module, spiders="crawler.spiders.source", store="pipelines.store"
    )
    result = run_script(code)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # no warning: `newsmon crawl` would print it
    return result.stdout.strip()


def test_preload_imports_the_project_but_never_installs_a_reactor() -> None:
    # A forked crawl installs its own (asyncio) reactor: one inherited would make it fail.
    # The spiders, and the components the settings name (the item pipelines among them).
    assert preload_in_a_fresh_process("crawler.settings") == "True False True True"


def test_preload_refuses_when_forking_would_not_be_safe_or_the_project_does_not_import() -> None:
    installed = "import twisted.internet.reactor\n"
    assert preload_in_a_fresh_process("crawler.settings", installed) == "False True False False"
    assert preload_in_a_fresh_process("no_such_settings_module") == "False False False False"


HOLD_DURING_START = """
import os, signal, sys, threading
from pathlib import Path

import scheduler.crawl as crawl


class Started:
    pid, returncode = os.getpid(), 0


def launch_as_a_stop_arrives(job, log_file, lock_fd):
    os.kill(os.getpid(), signal.SIGTERM)  # by default this would end the process here
    return Started()


crawl.Prefork = lambda: launch_as_a_stop_arrives
db = Path(sys.argv[1])
stopping = threading.Event()
held = crawl.HeldSignals(stopping)
crawls = crawl.start_crawls([crawl.CrawlJob("a", db), crawl.CrawlJob("b", db)], stopping)
print(type(crawls[0]).__name__, "|", crawls[1].reason, "|", held.held, stopping.is_set())
"""


def run_script(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Forking is only done from a process with one thread: not from a pytest worker."""
    return subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_a_stop_while_the_crawls_start_is_held_until_every_started_one_is_known(
    tmp_path,
) -> None:
    result = run_script(HOLD_DURING_START, str(tmp_path / "news.db"))
    assert result.returncode == 0, result.stderr
    # The first crawl started and is in the list (to be stopped), the second never started,
    # and the signal is kept for the caller, who stops the started ones politely.
    expected = f"StartedCrawl | stopping: not started | [{int(signal.SIGTERM)}] True"
    assert result.stdout.strip() == expected


CANNOT_START_ONE = """
import os, sys, threading
from pathlib import Path

import scheduler.crawl as crawl


class Started:
    pid, returncode = os.getpid(), 0


def launch(job, log_file, lock_fd):
    if job.source == "b":
        raise OSError(11, "Resource temporarily unavailable")  # what fork says at a pid limit
    return Started()


crawl.Prefork = lambda: launch
db = Path(sys.argv[1])
jobs = [crawl.CrawlJob(name, db) for name in ("a", "b", "c")]
for found in crawl.start_crawls(jobs, threading.Event()):
    print(type(found).__name__, getattr(found, "status", ""), getattr(found, "reason", ""))
print(crawl.SourceLock(db, "b").acquire())  # the failed job's lock was let go
"""


def test_a_crawl_that_cannot_start_fails_alone_and_the_others_are_still_waited_for(
    tmp_path,
) -> None:
    result = run_script(CANNOT_START_ONE, str(tmp_path / "news.db"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "StartedCrawl  ",
        "CrawlResult failed cannot start: [Errno 11] Resource temporarily unavailable",
        "StartedCrawl  ",
        "True",
    ]


STOP_RIGHT_AFTER_THE_FORK = """
import os, signal, sys
from pathlib import Path

from scheduler.prefork import Forker

ran_parents_handler = Path(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: ran_parents_handler.touch())
child = Forker().fork(["crawl", "no-such-source"], dict(os.environ), None, None)
os.kill(child.pid, signal.SIGTERM)  # before the child can have set up anything
child.communicate(timeout=60)
print(child.returncode, ran_parents_handler.exists())
"""


def test_a_stop_sent_right_after_the_fork_ends_the_crawl_not_the_parents_handler(
    tmp_path,
) -> None:
    result = run_script(STOP_RIGHT_AFTER_THE_FORK, str(tmp_path / "ran"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(-signal.SIGTERM), "False"]

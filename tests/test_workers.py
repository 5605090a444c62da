"""The extraction worker pool: a hung or killed worker fails one call only, workers start only
when there is work, and they die with the process that started them, whatever kills it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pipelines.workers import WorkerDied, WorkerPool, WorkerTimedOut
from tests import workload
from tests.conftest import ROOT
from tests.workload import die, fail, spin, square


def live_processes(marker: str) -> list[int]:
    """Pids of the running (not zombie) processes whose environment holds ``marker``: a
    crawl's workers inherit its environment, wherever they were reparented to."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() not in (proc / "environ").read_bytes():
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours
            continue
        if state != "Z":
            found.append(int(proc.name))
    return found


def wait_until_gone(marker: str, seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := live_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def test_a_call_past_the_time_limit_kills_its_worker_alone_and_the_pool_goes_on():
    async def scenario() -> None:
        pool = WorkerPool(2, timeout=1.0, preload=[workload.__name__])
        try:
            assert await asyncio.gather(pool.run(square, 2), pool.run(square, 3)) == [4, 9]
            started = time.monotonic()
            hung, quick = await asyncio.gather(
                pool.run(spin, 60), pool.run(square, 4), return_exceptions=True
            )
            assert isinstance(hung, WorkerTimedOut)
            assert quick == 16
            assert time.monotonic() - started < 10  # the limit, not the 60 s of the call
            assert len(pool.pids) == 1  # the hung worker is gone, not kept busy
            assert await pool.run(square, 5) == 25
        finally:
            pool.close()

    asyncio.run(scenario())


def test_a_killed_worker_fails_its_call_only_and_is_replaced():
    async def scenario() -> None:
        pool = WorkerPool(1, timeout=30, preload=[workload.__name__])
        try:
            assert await pool.run(square, 2) == 4
            with pytest.raises(WorkerDied, match="killed by SIGKILL"):
                await pool.run(die)
            # No BrokenProcessPool: every later call works.
            assert [await pool.run(square, i) for i in range(5)] == [0, 1, 4, 9, 16]
            assert pool.started == 2
        finally:
            pool.close()

    asyncio.run(scenario())


def test_an_exception_in_the_call_is_raised_to_the_caller_and_keeps_the_worker():
    async def scenario() -> None:
        pool = WorkerPool(1, timeout=30, preload=[workload.__name__])
        try:
            with pytest.raises(ValueError, match="bad page"):
                await pool.run(fail)
            assert await pool.run(square, 6) == 36
            assert pool.started == 1
        finally:
            pool.close()

    asyncio.run(scenario())


def test_no_worker_starts_until_there_is_work_and_only_as_many_as_are_busy():
    async def scenario() -> None:
        pool = WorkerPool(4, timeout=30, preload=[workload.__name__])
        try:
            assert pool.started == 0 and pool.pids == []
            for i in range(10):  # one at a time: one worker does it all
                assert await pool.run(square, i) == i * i
            assert pool.started == 1
        finally:
            pool.close()
        assert pool.pids == []

    asyncio.run(scenario())


# A process that starts a pool, leaves one worker stuck in a call and one idle, and waits to
# be killed: the crawl, as far as its workers can tell.
PARENT = """
import asyncio
from pipelines.workers import WorkerPool
from tests.workload import spin, square

async def main():
    pool = WorkerPool(2, timeout=600, preload=["tests.workload"])
    await asyncio.gather(pool.run(square, 1), pool.run(square, 2))
    asyncio.ensure_future(pool.run(spin, 600))
    await asyncio.sleep(0.5)
    print(*pool.pids, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_busy_and_idle_workers_die_with_a_parent_killed_by_sigkill_every_time():
    marker = f"NEWSMON_TEST_MARK={uuid.uuid4().hex}"
    name, value = marker.split("=")
    counts = []
    for _ in range(3):
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT],
            cwd=ROOT,
            env={**os.environ, name: value},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert parent.stdout is not None
        assert len(parent.stdout.readline().split()) == 2
        before = len(live_processes(marker))
        parent.kill()
        parent.wait()
        counts.append((before, len(wait_until_gone(marker))))
    print(f"\nprocesses before and after each kill -9 of the parent: {counts}")
    assert counts == [(3, 0)] * 3  # the parent and its two workers, then none

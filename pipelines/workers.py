"""Worker processes for CPU-bound calls that a hung or crashed call cannot take down.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one call. A worker stuck
in one page can only be freed by terminating every worker of the executor (failing the other
pages in flight) and building a new one; a worker the kernel kills (OOM) breaks the executor
for good, so every later call fails with ``BrokenProcessPool``; and its workers outlive a
``kill -9`` of the crawl, blocked on a queue whose write end they hold themselves.

So a small pool of our own: each worker is one child process with one pipe and does one call
at a time. The caller waits for the answer on the pipe in the event loop; past the time limit
that one worker is SIGKILLed, and a worker that died shows up as end-of-file on its pipe.
Either way only that call fails (``WorkerFailed``) and a fresh worker takes the next one.
Workers start on demand, one more only when every running one is busy, so a run with nothing
to extract starts none and a polite crawl (a page every few seconds) needs one.

Workers die with the process that started them: each arms ``PR_SET_PDEATHSIG`` (SIGKILL) as
it starts, so the kernel kills it even when it is stuck in C code. That is why a worker is a
plain ``subprocess`` child of the crawl and not a multiprocessing one: a fork server's workers
are its children, not the crawl's, and they hold the fork server's lifeline pipe open, so
after a ``kill -9`` of the crawl the fork server and its workers keep each other alive; and
``spawn`` re-imports the parent's ``__main__`` in every worker. An idle worker also leaves
when its pipe closes, which is how they end on platforms without the signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, Pipe
from typing import Any

logger = logging.getLogger(__name__)

# Starting a worker imports Trafilatura (about a second of CPU, several on a loaded machine).
START_TIMEOUT = 120.0
# At close, idle workers get this long to leave on their own before they are killed.
CLOSE_GRACE = 2.0
# The send buffer of the crawl's end of a worker's pipe (a Unix socket): large enough to take
# a whole page at once, so sending one returns without waiting, in the event loop, for the
# worker to read it (the default, ~200 KiB, is smaller than many article pages). The kernel
# caps it at net.core.wmem_max.
SEND_BUFFER = 4 * 2**20
# A worker's command line: FD PARENT_PID SYS_PATH [MODULE...]. Its first lines run before any
# import that takes time, so that a crawl killed while its worker starts leaves nothing behind:
# arm the parent-death signal (prctl PR_SET_PDEATHSIG = 1, Linux), then leave at once if the
# parent already died (the worker was then reparented before the signal was armed).
_BOOTSTRAP = """
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
if os.getppid() != int(sys.argv[2]):
    os._exit(1)
import json
sys.path[:] = json.loads(sys.argv[3])
from pipelines.workers import main
main(int(sys.argv[1]), sys.argv[4:])
"""


class WorkerFailed(Exception):
    """The call did not return: its worker timed out (and was killed) or died."""


class WorkerTimedOut(WorkerFailed):
    pass


class WorkerDied(WorkerFailed):
    pass


class _Worker:
    def __init__(self, process: subprocess.Popen[bytes], conn: Connection):
        self.process = process
        self.conn = conn

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL and reap: a worker stuck in C code ignores anything gentler."""
        self.conn.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class WorkerPool:
    """At most ``size`` worker processes; ``await pool.run(fn, ...)`` calls ``fn`` in one.

    ``fn`` and its arguments must be picklable (a module-level function); ``preload`` names
    modules each worker imports before it takes calls, so that their import time does not
    count against the first call's time limit. Use from one event-loop thread only, one that
    lives as long as the pool: a worker's parent-death signal is tied to that thread.
    """

    def __init__(self, size: int, timeout: float, preload: Sequence[str] = ()):
        self.size = max(1, size)
        self.timeout = timeout
        self.preload = tuple(preload)
        self._slots = asyncio.Semaphore(self.size)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self.started = 0  # workers started so far, replacements included

    @property
    def pids(self) -> list[int]:
        return [worker.pid for worker in (*self._idle, *self._busy)]

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a worker; raises ``WorkerFailed`` if it timed out or
        its worker died, and re-raises what ``fn`` raised."""
        async with self._slots:
            worker = self._take_idle() or await self._start()
            self._busy.add(worker)
            try:
                status, value = await self._call(worker, (fn, args, kwargs))
            except BaseException:
                worker.kill()  # timed out, died or cancelled: its state is unknown
                raise
            finally:
                self._busy.discard(worker)
            self._idle.append(worker)
        # Let a call waiting for a worker send its job now: what our caller does next (store
        # the page, tens of milliseconds, without yielding) would otherwise leave the worker
        # idle meanwhile. A woken waiter runs before this task resumes (both are queued
        # callbacks, the waiter's first).
        await asyncio.sleep(0)
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """Stop every worker: idle ones leave when their pipe closes, the rest are killed."""
        workers = [*self._idle, *self._busy]
        self._idle.clear()
        self._busy.clear()
        for worker in workers:
            worker.conn.close()
        for worker in workers:
            try:
                worker.process.wait(CLOSE_GRACE)
            except subprocess.TimeoutExpired:
                worker.kill()

    def _take_idle(self) -> _Worker | None:
        """An idle worker still alive (the OOM killer may have taken one while it waited)."""
        while self._idle:
            worker = self._idle.pop()
            if worker.process.poll() is None:
                return worker
            worker.kill()
        return None

    async def _start(self) -> _Worker:
        ours, theirs = Pipe()
        argv = [str(theirs.fileno()), str(os.getpid()), json.dumps(sys.path), *self.preload]
        process = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, *argv],
            stdin=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        _enlarge_send_buffer(ours)
        worker = _Worker(process, ours)
        self.started += 1
        try:
            await self._answer(worker, START_TIMEOUT)  # "ready": its imports are done
        except BaseException:
            worker.kill()
            raise
        logger.debug("Started worker %s", worker.pid)
        return worker

    async def _call(self, worker: _Worker, job: tuple[Any, ...]) -> tuple[str, Any]:
        try:
            # The worker is waiting in recv(), so even a large page is read as it is written.
            worker.conn.send(job)
        except OSError as exc:  # it died just now
            raise WorkerDied(f"worker {worker.pid} died: {exc}") from None
        return await self._answer(worker, self.timeout)

    async def _answer(self, worker: _Worker, timeout: float) -> tuple[str, Any]:
        """The worker's next message, waited for in the event loop, not in a thread."""
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        fd = worker.conn.fileno()
        loop.add_reader(fd, wake)
        try:
            await asyncio.wait_for(readable, timeout)
        except TimeoutError:
            raise WorkerTimedOut(f"took longer than {timeout:g} s") from None
        finally:
            loop.remove_reader(fd)
        try:
            message: tuple[str, Any] = worker.conn.recv()
        except (EOFError, OSError):
            worker.kill()  # reaps it: the exit status says why
            code = worker.process.returncode
            raise WorkerDied(f"worker {worker.pid} died ({_describe(code)})") from None
        return message


def _enlarge_send_buffer(conn: Connection) -> None:
    fd = os.dup(conn.fileno())
    try:
        end = socket.socket(fileno=fd)  # the same socket, through a descriptor of its own
    except OSError:  # not a socket on this platform: sends wait for the reader, as before
        os.close(fd)
        return
    with end, contextlib.suppress(OSError):
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


def _describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def main(fd: int, preload: list[str]) -> None:
    """A worker process, once started by ``_BOOTSTRAP``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the crawl's to handle
    for module in preload:
        importlib.import_module(module)
    serve(Connection(fd))


def serve(conn: Connection) -> None:
    """Answer calls until the pipe closes."""
    conn.send(("ready", os.getpid()))
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except Exception as exc:  # the caller re-raises it
            answer = ("error", exc)
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return
        except Exception as exc:  # an unpicklable result or exception
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


def default_workers(crawls: int = 1) -> int:
    """Workers per crawl process when ``crawls`` run at once: the cores shared between them,
    at least one each, at most two (bench/crawl_memory.py, docs/PERFORMANCE.md).

    A worker costs about 45 MiB RSS (30 MiB PSS) once Trafilatura is loaded; busy workers
    beyond the cores only take turns, and a polite crawl (2 s between requests to a site)
    rarely has two pages waiting at once. Workers start only as pages wait, so a crawl with
    nothing to extract starts none.
    """
    return max(1, min(2, (os.cpu_count() or 1) // max(1, crawls)))

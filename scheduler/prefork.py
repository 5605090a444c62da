"""Start the crawls of one `newsmon crawl` from a single import of Scrapy: preload, then fork.

Importing Scrapy, Twisted and the project costs about 1.3 s of CPU: nearly all that a crawl
which finds nothing new costs (docs/PERFORMANCE.md). Three `scrapy crawl` processes paid it
three times. ``newsmon crawl`` now imports it once and forks each crawl from itself, the way
a pre-forking server loads its application before forking workers. Each crawl is still its
own process, exactly like the `scrapy crawl` it replaces: its own session, lock, log, exit
status and time limit, and it can be stopped or killed alone.

Forking is only safe from a process that runs a single thread and has not installed a
Twisted reactor. ``run_crawls`` forks every crawl from its main thread before it starts any
thread. The ``newsmon schedule`` daemon, which runs its jobs on threads, starts its crawls
with exec as before (``scheduler.crawl.spawn``).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

# Modules every crawl imports, whose import is the cost shared by forking: the command that
# runs a crawl, the project's spiders, and the components its settings name (the settings
# are read from the project, so a component added there is preloaded too).
COMMAND_MODULE = "scrapy.cmdline"
COMPONENT_SETTINGS = (
    "ITEM_PIPELINES",
    "EXTENSIONS",
    "DOWNLOADER_MIDDLEWARES",
    "SPIDER_MIDDLEWARES",
    "DOWNLOAD_HANDLERS",
)
REACTOR_MODULE = "twisted.internet.reactor"
# The signals whose handlers a forked crawl must not inherit from the process it forks from.
CHILD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# A forked crawl keeps its parent's command line; its name (``ps -o comm``, ``top``) says
# which source it crawls instead.
PROCESS_NAME_PREFIX = "crawl "


def preload(settings_module: str) -> bool:
    """Import what every crawl imports, once; False when forking from here is not safe.

    A project that fails to import is not an error here: the crawl, started with exec
    instead, reports it in its own run record like any other crawl failure.
    """
    if sys.platform != "linux":  # macOS system libraries are not fork-safe: exec there
        return False
    if REACTOR_MODULE in sys.modules:  # a forked crawl could not install its own reactor
        return False
    try:
        for module in preloaded_modules(settings_module):
            importlib.import_module(module)
    except Exception:
        return False
    return REACTOR_MODULE not in sys.modules


def preloaded_modules(settings_module: str) -> list[str]:
    from scrapy.settings import Settings
    from scrapy.utils.misc import walk_modules_iter

    settings = Settings()
    settings.setmodule(settings_module, priority="project")
    # Component settings map a class path to its order (ITEM_PIPELINES, ...) or a scheme to
    # a class path (DOWNLOAD_HANDLERS): the dotted strings on either side are the paths, of
    # the components not turned off (None).
    paths = [
        part
        for name in COMPONENT_SETTINGS
        for pair in settings.getwithbase(name).items()
        if pair[1] is not None
        for part in pair
        if isinstance(part, str) and "." in part
    ]
    spiders = [
        module.__name__
        for package in settings.getlist("SPIDER_MODULES")
        for module in walk_modules_iter(package)
    ]
    return [COMMAND_MODULE, *spiders, *sorted({path.rpartition(".")[0] for path in paths})]


class ForkedCrawl:
    """A forked crawl, seen through the part of ``subprocess.Popen`` that crawls use."""

    def __init__(self, pid: int, stderr_fd: int):
        self.pid = pid
        self.returncode: int | None = None
        self._stderr_fd: int | None = stderr_fd
        self._stderr = bytearray()
        self._reap = threading.Lock()  # the waiting thread and the kill timers both poll

    def poll(self) -> int | None:
        with self._reap:
            if self.returncode is None:
                try:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                except ChildProcessError:  # reaped elsewhere: the status is lost
                    self.returncode = 255
                else:
                    if pid:
                        self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[None, bytes]:
        """Read the crawl's stderr to its end and wait for it, as ``Popen.communicate``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._read_stderr(deadline)
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("forked crawl", timeout or 0)
            time.sleep(0.02)
        return None, bytes(self._stderr)

    def _read_stderr(self, deadline: float | None) -> None:
        if self._stderr_fd is None:
            return
        with selectors.DefaultSelector() as selector:
            selector.register(self._stderr_fd, selectors.EVENT_READ)
            while True:
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    raise subprocess.TimeoutExpired("forked crawl", 0)
                if not selector.select(wait):
                    continue
                chunk = os.read(self._stderr_fd, 65536)
                if not chunk:
                    break
                self._stderr += chunk
        os.close(self._stderr_fd)
        self._stderr_fd = None


class Forker:
    """Forks crawls from this process, each holding only its own descriptors.

    A forked child inherits every descriptor of its parent, unlike an exec'd one (Python
    opens them close-on-exec). The crawls forked earlier left theirs here (a source's lock,
    the read end of a stderr pipe): each new child closes them, so a source's lock lasts
    exactly as long as its own crawl.
    """

    def __init__(self) -> None:
        self._others: set[int] = set()

    def fork(
        self, argv: list[str], env: dict[str, str], log_file: Path | None, keep_fd: int | None
    ) -> ForkedCrawl:
        """Fork a child that runs ``scrapy`` with ``argv`` (``["crawl", SOURCE, ...]``)."""
        for stream in (sys.stdout, sys.stderr):  # or the child would write it out again
            stream.flush()
        read_end, write_end = os.pipe()
        # A descriptor number just allocated is not an earlier crawl's any more: that one was
        # closed (its crawl ended), and the child must not close its own by that number.
        self._others -= {read_end, write_end, keep_fd}
        # Stop signals wait while the child replaces this process's handlers with its own: a
        # SIGTERM sent to it just after the fork would otherwise run ours, or be lost.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, CHILD_SIGNALS)
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(read_end)
            os.close(write_end)
            raise
        if pid == 0:
            closing = (self._others | {read_end}) - {keep_fd}
            run_child(argv, env, log_file, write_end, closing, mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(write_end)
        self._others.update(fd for fd in (read_end, keep_fd) if fd is not None)
        return ForkedCrawl(pid, read_end)


def run_child(
    argv: list[str],
    env: dict[str, str],
    log_file: Path | None,
    stderr_fd: int,
    closing: Iterable[int],
    mask: Iterable[int],
) -> NoReturn:
    """The forked side: become a `scrapy crawl` process of its own, and never return."""
    code: int | str | None = 1
    try:
        os.setsid()  # a terminal's Ctrl-C reaches the crawl through its parent only
        for signum in CHILD_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)  # the parent's handlers are not the crawl's
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a stop that came meanwhile: now
        for fd in closing:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        if log_file is not None:
            os.dup2(devnull, 1)
        os.dup2(stderr_fd, 2)
        os.close(devnull)
        os.close(stderr_fd)
        os.environ.clear()
        os.environ.update(env)
        name_process(f"{PROCESS_NAME_PREFIX}{argv[1]}")
        logging.root.handlers.clear()
        from scrapy.cmdline import execute

        execute(["scrapy", *argv])
    except SystemExit as exit_:
        code = exit_.code
        if isinstance(code, str):  # sys.exit("message"), as Python itself would print it
            print(code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        # What Python's own exit does and os._exit skips: the threads the crawl started end
        # first (the store's writer finishes the writes handed to it, even when a second
        # SIGTERM stopped Scrapy without closing the spider).
        with contextlib.suppress(Exception):
            threading._shutdown()  # type: ignore[attr-defined]
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def name_process(name: str) -> None:
    """Set the process's name as ps and top show it (Linux keeps 15 bytes); best effort."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


PR_SET_NAME = 15  # <linux/prctl.h>

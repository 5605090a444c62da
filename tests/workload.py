"""Calls for the worker pool's tests, in a module of their own so a worker imports little."""

from __future__ import annotations

import os
import signal
import time


def square(x: int) -> int:
    return x * x


def spin(seconds: float) -> None:
    """Busy for ``seconds``: a page whose extraction never ends, as far as the pool knows."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does


def fail() -> None:
    raise ValueError("bad page")


def clock() -> float:
    """When the worker ran the call (the wall clock, comparable across processes)."""
    return time.time()

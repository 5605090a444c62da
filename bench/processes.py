"""Every process of a crawl, sampled from /proc: memory and CPU seconds by kind of process.

The processes are found by a marker in their environment (``MARKER=tag``), which children
inherit, so the CLI, each `scrapy crawl` and every extraction worker count, reparented
orphans included. CPU seconds are the last sample of each process's user + system time, so a
process's last ``interval`` before it exits may be missed; the caller's
``RUSAGE_CHILDREN`` gives the exact total.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from scheduler.prefork import PROCESS_NAME_PREFIX

MARKER = "NEWSMON_BENCH_MARK"
TICKS = os.sysconf("SC_CLK_TCK")

WORKER = "extraction worker"
CRAWL = "scrapy crawl (reactor)"
CLI = "newsmon crawl (the CLI)"


def kind_of(cmdline: str, name: str = "") -> str:
    """The kind of a process, from its command line and its name (``/proc/PID/comm``)."""
    if "pipelines.workers import main" in cmdline:
        return WORKER
    # `newsmon crawl` forks its crawls (scheduler/prefork.py): they keep its command line.
    if "scrapy crawl" in cmdline or name.startswith(PROCESS_NAME_PREFIX):
        return CRAWL
    return CLI


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0])
    return values["Rss"], values["Pss"]


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process so far (its threads included)."""
    # The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def marked_processes(tag: str) -> dict[int, tuple[str, str]]:
    """pid -> (command line, name) of every live process carrying ``MARKER=tag``."""
    needle = f"{MARKER}={tag}".encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes():
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found[int(proc.name)] = (cmdline, (proc / "comm").read_text().strip())
        except OSError:
            continue
    return found


@dataclass
class Seen:
    kind: str = ""  # as last seen: a child's command line is its parent's until it execs
    rss: int = 0  # peak, KiB
    pss: int = 0
    cpu: float = 0.0  # last sample, seconds


@dataclass
class Sampled:
    peak_rss: int = 0  # KiB, sum over the processes alive at one instant
    peak_pss: int = 0
    by_pid: dict[int, Seen] = field(default_factory=dict)

    def by_kind(self) -> dict[str, list[Seen]]:
        kinds: dict[str, list[Seen]] = defaultdict(list)
        for seen in self.by_pid.values():
            kinds[seen.kind].append(seen)
        return dict(sorted(kinds.items()))


class Sampler:
    """Samples the marked processes in a thread until stopped; ``memory`` off samples only
    CPU time (reading smaps costs the machine more than the figures are worth when timing)."""

    def __init__(self, tag: str, interval: float, memory: bool = True):
        self.tag, self.interval, self.memory = tag, interval, memory
        self.sampled = Sampled()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampled:
        self._thread.start()
        return self.sampled

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        total_rss = total_pss = 0
        processes = marked_processes(self.tag)
        for pid, identity in processes.items():
            if processes.get(parent_of(pid)) == identity:
                continue  # forked, not yet exec'd or named: a copy of its parent
            try:
                cpu = cpu_seconds(pid)
                rss, pss = memory_kib(pid) if self.memory else (0, 0)
            except (OSError, KeyError, IndexError):
                continue  # exited meanwhile
            total_rss += rss
            total_pss += pss
            seen = self.sampled.by_pid.setdefault(pid, Seen())
            seen.kind = kind_of(*identity)
            seen.rss, seen.pss = max(seen.rss, rss), max(seen.pss, pss)
            seen.cpu = max(seen.cpu, cpu)
        self.sampled.peak_rss = max(self.sampled.peak_rss, total_rss)
        self.sampled.peak_pss = max(self.sampled.peak_pss, total_pss)

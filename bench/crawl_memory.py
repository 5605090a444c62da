"""Peak memory of a whole three-source crawl, every process of it, and of a no-change rerun.

    python -m bench.crawl_memory [--workers 0] [--interval 0.05]

Runs `newsmon crawl` (every source) against the loopback fixture sites with politeness off,
then runs it again (nothing new: no page to extract). While each runs, samples every process
of the crawl (the CLI, one `scrapy crawl` per source, their extraction workers; found by a
marker in their environment, so reparented orphans count too) and prints the peak of the sum
over all processes, both RSS (shared pages counted in every process) and PSS (shared pages
split between the processes sharing them: the fair sum), and the peak per kind of process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tests.siteserver import origin_map_args, serve_sites

MARKER = "NEWSMON_BENCH_MARK"


def kind_of(cmdline: str) -> str:
    if "pipelines.workers import main" in cmdline:
        return "extraction worker"
    if "scrapy crawl" in cmdline:
        return "scrapy crawl (one per source)"
    return "newsmon crawl (the CLI)"


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0])
    return values["Rss"], values["Pss"]


def marked_processes(tag: str) -> dict[int, str]:
    """pid -> command line of every live process carrying ``MARKER=tag``."""
    needle = f"{MARKER}={tag}".encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes():
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found[int(proc.name)] = cmdline
        except OSError:
            continue
    return found


@dataclass
class Sampled:
    peak_rss: int = 0  # KiB, sum over the processes alive at one instant
    peak_pss: int = 0
    # pid -> (kind, peak RSS, peak PSS); the kind as last seen, as a child's command line
    # is its parent's until it execs.
    by_pid: dict[int, tuple[str, int, int]] = field(default_factory=dict)


def sample(tag: str, interval: float, stop: threading.Event, into: Sampled) -> None:
    while not stop.is_set():
        total_rss = total_pss = 0
        for pid, cmdline in marked_processes(tag).items():
            try:
                rss, pss = memory_kib(pid)
            except (OSError, KeyError):
                continue  # exited meanwhile
            total_rss += rss
            total_pss += pss
            _, old_rss, old_pss = into.by_pid.get(pid, ("", 0, 0))
            into.by_pid[pid] = (kind_of(cmdline), max(old_rss, rss), max(old_pss, pss))
        into.peak_rss = max(into.peak_rss, total_rss)
        into.peak_pss = max(into.peak_pss, total_pss)
        stop.wait(interval)


def crawl(db: Path, origins: list[str], workers: int, interval: float) -> tuple[Sampled, float]:
    tag = uuid.uuid4().hex
    command = [
        sys.executable,
        "-m",
        "scheduler",
        "crawl",
        "--db",
        str(db),
        *origins,
        "-s",
        "DOWNLOAD_DELAY=0",
        "-s",
        "AUTOTHROTTLE_ENABLED=false",
    ]
    if workers:
        command += ["-s", f"NEWSMON_EXTRACT_WORKERS={workers}"]
    sampled, stop = Sampled(), threading.Event()
    sampler = threading.Thread(target=sample, args=(tag, interval, stop, sampled))
    started = time.perf_counter()
    sampler.start()
    result = subprocess.run(
        command, env={**os.environ, MARKER: tag}, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    if result.returncode not in (0, 1):  # 1: a source failed, which still measures
        sys.exit(f"crawl failed:\n{result.stderr}")
    return sampled, seconds


def report(title: str, sampled: Sampled, seconds: float) -> None:
    print(f"{title} ({seconds:.1f} s)")
    print(
        f"  peak, all processes together:  RSS {sampled.peak_rss / 1024:.0f} MiB, "
        f"PSS {sampled.peak_pss / 1024:.0f} MiB"
    )
    by_kind = defaultdict(list)
    for kind, rss, pss in sampled.by_pid.values():
        by_kind[kind].append((rss, pss))
    for kind, peaks in sorted(by_kind.items()):
        rss_mib = max(r for r, _ in peaks) / 1024
        pss_mib = max(p for _, p in peaks) / 1024
        print(
            f"  {kind:31} {len(peaks)} process(es), each at most "
            f"RSS {rss_mib:.0f} / PSS {pss_mib:.0f}"
        )
    if "extraction worker" not in by_kind:
        print("  extraction workers started:     none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=0, help="NEWSMON_EXTRACT_WORKERS")
    parser.add_argument("--interval", type=float, default=0.05, help="sampling interval (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_sites() as sites:
        db = Path(tmp) / "news.db"
        origins = origin_map_args(sites)
        first = crawl(db, origins, args.workers, args.interval)
        rerun = crawl(db, origins, args.workers, args.interval)
    report("three-source crawl of the fixture sites", *first)
    report("the same crawl again, nothing new", *rerun)
    print(f"cores: {os.cpu_count()}; sampled every {args.interval * 1000:.0f} ms")


if __name__ == "__main__":
    main()

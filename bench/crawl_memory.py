"""Peak memory of a whole three-source crawl, every process of it, and of a no-change rerun.

    python -m bench.crawl_memory [--workers 0] [--interval 0.05] [--source NAME ...]

Runs `newsmon crawl` (every source, or those named) against the loopback fixture sites with
politeness off, then runs it again (nothing new: no page to extract). While each runs, samples every
process of the crawl (the CLI, one `scrapy crawl` per source, their extraction workers; found by a
marker in their environment, so reparented orphans count too) and prints the peak of the sum over
all processes, both RSS (shared pages counted in every process) and PSS (shared pages split between
the processes sharing them: the fair sum), and the peak per kind of process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.processes import MARKER, WORKER, Sampled, Sampler
from tests.siteserver import origin_map_args, serve_sites


def crawl(
    db: Path, sources: list[str], origins: list[str], workers: int, interval: float
) -> tuple[Sampled, float]:
    tag = uuid.uuid4().hex
    command = [
        sys.executable,
        "-m",
        "scheduler",
        "crawl",
        *sources,
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
    started = time.perf_counter()
    with Sampler(tag, interval) as sampled:
        result = subprocess.run(
            command, env={**os.environ, MARKER: tag}, capture_output=True, text=True, check=False
        )
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):  # 1: a source failed, which still measures
        sys.exit(f"crawl failed:\n{result.stderr}")
    return sampled, seconds


def report(title: str, sampled: Sampled, seconds: float) -> None:
    print(f"{title} ({seconds:.1f} s)")
    print(
        f"  peak, all processes together:  RSS {sampled.peak_rss / 1024:.0f} MiB, "
        f"PSS {sampled.peak_pss / 1024:.0f} MiB"
    )
    by_kind = sampled.by_kind()
    for kind, seen in by_kind.items():
        rss_mib = max(s.rss for s in seen) / 1024
        pss_mib = max(s.pss for s in seen) / 1024
        print(
            f"  {kind:31} {len(seen)} process(es), each at most "
            f"RSS {rss_mib:.0f} / PSS {pss_mib:.0f}"
        )
    if WORKER not in by_kind:
        print("  extraction workers started:     none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=0, help="NEWSMON_EXTRACT_WORKERS")
    parser.add_argument("--interval", type=float, default=0.05, help="sampling interval (s)")
    parser.add_argument(
        "--source", action="append", default=[], help="crawl only this source (repeatable)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_sites() as sites:
        db = Path(tmp) / "news.db"
        origins = origin_map_args(sites)
        first = crawl(db, args.source, origins, args.workers, args.interval)
        rerun = crawl(db, args.source, origins, args.workers, args.interval)
    crawled = ", ".join(args.source) or "every source"
    report(f"crawl of the fixture sites ({crawled})", *first)
    report("the same crawl again, nothing new", *rerun)
    print(f"cores: {os.cpu_count()}; sampled every {args.interval * 1000:.0f} ms")


if __name__ == "__main__":
    main()

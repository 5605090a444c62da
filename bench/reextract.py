"""Re-extraction speed: `newsmon reextract` over an archive of N articles crawled on loopback.

    python -m bench.reextract [--pages 300] [--workers 0]

Crawls N pages (bench.crawl_throughput's: the real captured article pages, each copy made a
distinct article) into a fresh archive, then times `newsmon reextract` over it twice, each
the whole command with its start-up: once as stored (every reading the same: the cost of a
check), once after every stored title was made stale (every article corrected: row,
version, full-text index, story). Prints milliseconds a page beside Trafilatura alone on the
same pages in this process. The pages are read in the default worker processes (two on two
cores): the figure says how long an archive of years takes to catch up.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import sqlite_utils

from bench import timed_crawl, timed_run
from bench.crawl_throughput import SOURCES, crawl_command, make_pages, served, trafilatura_alone


def timed_reextract(db: Path, sources: Path, workers: int) -> tuple[float, str]:
    """Wall seconds of one `newsmon reextract` and its summary line."""
    command = [sys.executable, "-m", "scheduler", "reextract", "--db", str(db)]
    command += ["-s", "NEWSMON_RELEVANCE_FILTER=false"]  # as the archive was crawled
    if workers:
        command += ["-s", f"NEWSMON_EXTRACT_WORKERS={workers}"]
    seconds, output = timed_run(command, sources)
    return seconds, output.splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=0, help="NEWSMON_EXTRACT_WORKERS")
    args = parser.parse_args()
    pages = make_pages(args.pages)
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as work:
        sources, db = Path(work) / "sources.toml", Path(work) / "bench.db"
        sources.write_text(SOURCES)
        with served(pages) as (origin, _):
            _, run = timed_crawl(crawl_command(db, origin, 8, args.workers), sources, db)
        print(f"archive: {run['stored']} articles stored by the crawl")
        alone = 1000 / trafilatura_alone(pages)[0]
        seconds, summary = timed_reextract(db, sources, args.workers)
        print(
            f"as stored:   {seconds:.1f} s, {seconds * 1000 / args.pages:.1f} ms a page; {summary}"
        )
        with sqlite_utils.Database(db).conn as conn:
            conn.execute("update articles set title = title || ' (stale)'")
        seconds, summary = timed_reextract(db, sources, args.workers)
        print(
            f"all stale:   {seconds:.1f} s, {seconds * 1000 / args.pages:.1f} ms a page; {summary}"
        )
        print(f"Trafilatura alone: {alone:.1f} ms a page")


if __name__ == "__main__":
    main()

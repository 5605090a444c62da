"""How fast a backfill reads archive sitemaps, and the memory one chunk takes.

    python -m bench.backfill_sitemaps [--repeat 3] [--since 2011] [--until 2011]

Reads RFE/RL's real archive chunks (tests/fixtures/real/rferl/sitemaps/*_8_*.xml.gz, gzip,
about 20,000 URLs each) exactly as the spider does (crawler.discovery.parse_sitemap, then
crawler.backfill's window and slug selection) and prints URLs considered per second, the
slug matches per chunk, and the peak Python heap (tracemalloc) and resident memory while
reading one chunk. Network time is not included: at the default politeness a chunk download
is one request among thousands of article fetches.

It also prints the estimate README's "History" section quotes: the article fetches of a
year of RFE/RL at a 2 s delay, from the slug-match counts of the real chunks.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from pathlib import Path

from crawler.backfill import BackfillPlan
from crawler.discovery import parse_sitemap

CHUNKS = sorted(
    (Path(__file__).parent.parent / "tests/fixtures/real/rferl/sitemaps").glob(
        "rferl_sitemap_8_[0-9]*.xml.gz"
    )
)
DOWNLOAD_DELAY = 2.0


class Counter:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + count


def read_chunk(body: bytes, plan: BackfillPlan, stats: Counter) -> int:
    sitemap = parse_sitemap(body)
    return sum(1 for _ in plan.select(sitemap.links, stats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--since", default="2011")
    parser.add_argument("--until", default="2011")
    args = parser.parse_args()
    plan = BackfillPlan.build(since=args.since, until=args.until)
    bodies = {chunk.name: chunk.read_bytes() for chunk in CHUNKS}

    urls, seconds, cpu = 0, 0.0, 0.0
    for _ in range(args.repeat):
        for body in bodies.values():
            stats = Counter()
            started, cpu_started = time.perf_counter(), time.process_time()
            read_chunk(body, plan, stats)
            seconds += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            urls += stats.values.get("newsmon/backfill/considered", 0)
    print(f"chunks: {', '.join(bodies)} ({sum(map(len, bodies.values())) / 2**20:.1f} MiB gzip)")
    print(f"URLs considered: {urls} in {seconds:.2f} s = {urls / seconds:,.0f} URLs/s")
    # On a shared machine the wall-clock rate mostly measures the other processes.
    print(f"CPU time: {cpu:.2f} s = {urls / cpu:,.0f} URLs per CPU-second")

    largest = max(bodies.values(), key=len)
    tracemalloc.start()
    read_chunk(largest, plan, Counter())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak Python heap reading one chunk: {peak / 2**20:.1f} MiB; process max RSS {rss:.0f} MiB"
    )

    selected = 0
    in_window = 0
    for name, body in bodies.items():
        stats = Counter()
        matches = read_chunk(body, plan, stats)
        window = stats.values.get("newsmon/backfill/in_window", 0)
        selected += matches
        in_window += window
        print(f"{name}: {matches} slug matches of {window} URLs in {args.since}..{args.until}")
    hours = selected * DOWNLOAD_DELAY / 3600
    all_hours = in_window * DOWNLOAD_DELAY / 3600
    print(
        f"window {args.since}..{args.until} in these chunks: {selected} slug matches x "
        f"{DOWNLOAD_DELAY:.0f} s = {hours:.1f} h of fetching; --all-urls: {in_window} URLs = "
        f"{all_hours:.1f} h"
    )


if __name__ == "__main__":
    main()

"""A scheduled rerun where nothing changed, against starting Scrapy with an empty spider.

    python -m bench.nochange [--repeat 3] [--source NAME ...]

Serves the fixture sites on loopback, crawls every source (or those named) once (no live
window, so every captured page is stored), then reruns `newsmon crawl` of them with nothing
changed, and runs `scrapy runspider` of a spider that requests nothing (no project: Scrapy
alone), alternately, ``--repeat`` times each. Prints the median wall and CPU seconds (every process
of each, from RUSAGE_CHILDREN) of both, their ratio, what the reruns requested (feeds,
sitemaps and robots.txt only, or article pages too) and whether any extraction worker
started. Wall time on a shared machine varies with its load: the two are run in turns.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.processes import MARKER, WORKER, Sampler
from crawler.sources import load_sources
from tests.siteserver import Site, origin_map_args, serve_sites

EMPTY_SPIDER = """
import scrapy


class Empty(scrapy.Spider):
    name = "empty"

    async def start(self):
        return
        yield
"""


def timed(command: list[str], cwd: Path, tag: str = "") -> tuple[float, float, bool]:
    """(wall seconds, CPU seconds of every process, whether an extraction worker ran)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**os.environ, MARKER: tag or uuid.uuid4().hex}
    with Sampler(env[MARKER], interval=0.05, memory=False) as sampled:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode not in (0, 1):  # 1: a source failed or was blocked, as measured
        sys.exit(f"{' '.join(command[:4])} failed:\n{result.stderr.decode()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, WORKER in sampled.by_kind()


def article_requests(sites: dict[str, Site]) -> list[str]:
    """The requests the sites received for article pages (not feeds, sitemaps, robots.txt)."""
    sources = load_sources().values()
    return [
        url
        for host, site in sites.items()
        for url in (f"https://{host}{path}" for path in site.requests)
        if any(host in s.domains and s.is_article_url(url) for s in sources)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--source", action="append", default=[], help="crawl only this source (repeatable)"
    )
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp, serve_sites() as sites:
        empty = Path(tmp) / "empty.py"
        empty.write_text(EMPTY_SPIDER)
        crawl = [sys.executable, "-m", "scheduler", "crawl", *args.source]
        crawl += ["--db", str(Path(tmp) / "news.db")]
        crawl += [*origin_map_args(sites), "-s", "DOWNLOAD_DELAY=0"]
        crawl += ["-s", "AUTOTHROTTLE_ENABLED=false", "-s", "NEWSMON_LIVE_DAYS=0"]
        first = timed(crawl, root)
        stored_requests = len(article_requests(sites))
        scrapy_alone = [sys.executable, "-m", "scrapy", "runspider", str(empty)]
        reruns, empties, workers, articles = [], [], False, 0
        for _ in range(args.repeat):
            for site in sites.values():
                site.requests.clear()
            wall, cpu, worker = timed(crawl, root)
            reruns.append((wall, cpu))
            workers |= worker
            articles += len(article_requests(sites))
            empties.append(timed(scrapy_alone, Path(tmp))[:2])
    rerun_wall, rerun_cpu = (statistics.median(x) for x in zip(*reruns, strict=True))
    empty_wall, empty_cpu = (statistics.median(x) for x in zip(*empties, strict=True))
    print(f"first crawl:                  {first[0]:.1f} s, {stored_requests} article pages")
    print(
        f"no-change rerun, {', '.join(args.source) or 'all sources'}: {rerun_wall:.1f} s wall, "
        f"{rerun_cpu:.1f} s CPU "
        f"(median of {args.repeat})"
    )
    print(f"scrapy, an empty spider:      {empty_wall:.1f} s wall, {empty_cpu:.1f} s CPU")
    print(
        f"  ratio rerun / empty spider: {rerun_wall / empty_wall:.2f}x wall, "
        f"{rerun_cpu / empty_cpu:.2f}x CPU"
    )
    print(f"article pages requested by the reruns: {articles} (feeds and sitemaps only: 0)")
    print(f"extraction workers started by the reruns: {'yes' if workers else 'none'}")
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

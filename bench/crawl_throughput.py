"""End-to-end crawl throughput: `newsmon crawl` over N article pages served on loopback.

    python -m bench.crawl_throughput [--pages 300] [--concurrency 8] [--workers 0]

Serves N pages (the real captured article pages, each copy made unique by one sentence)
behind a sitemap, crawls them with politeness delays off, and prints pages/s for the whole
crawl (discovery, download, extraction in worker processes, relevance, dedupe, SQLite) beside
Trafilatura alone on the same pages in this one process, and the crawl's peak memory.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import trafilatura

from bench import timed_crawl
from tests.siteserver import FIXTURES, Route, Site

HOST = "bench.newsmon.test"
SOURCES = """
[[source]]
name = "bench"
publisher = "newsmon benchmark"
domains = ["bench.newsmon.test"]
article_patterns = ['^https://bench\\.newsmon\\.test/article/\\d+$']
discovery = [{ kind = "sitemap", url = "https://bench.newsmon.test/sitemap.xml" }]
"""


def make_pages(count: int) -> list[bytes]:
    templates = sorted((FIXTURES / "real").glob("*/pages/*.html"))
    pages = []
    for i in range(count):
        html = templates[i % len(templates)].read_text(encoding="utf-8", errors="replace")
        # One unique sentence per copy, so every page is a distinct article to store.
        html = re.sub(r"<p([ >])", rf"<p\1Benchmark copy {i}. ", html)
        pages.append(html.encode("utf-8"))
    return pages


def serve(pages: list[bytes]) -> Site:
    urls = "".join(f"<url><loc>https://{HOST}/article/{i}</loc></url>" for i in range(len(pages)))
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    ).encode()
    routes = {"/sitemap.xml": Route(body=sitemap, content_type="application/xml")}
    routes |= {f"/article/{i}": Route(body=page) for i, page in enumerate(pages)}
    return Site(HOST, routes).start()


def trafilatura_alone(pages: list[bytes]) -> float:
    started = time.perf_counter()
    for page in pages:
        trafilatura.extract(page.decode("utf-8"), with_metadata=True)
    return len(pages) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0, help="NEWSMON_EXTRACT_WORKERS")
    args = parser.parse_args()
    pages = make_pages(args.pages)
    site = serve(pages)
    with tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "sources.toml"
        sources.write_text(SOURCES)
        db = Path(tmp) / "bench.db"
        command = [
            sys.executable,
            "-m",
            "scheduler",
            "crawl",
            "bench",
            "--db",
            str(db),
            "--origin-map",
            f"https://{HOST}={site.origin}",
            "-s",
            "DOWNLOAD_DELAY=0",
            "-s",
            "AUTOTHROTTLE_ENABLED=false",
            "-s",
            f"CONCURRENT_REQUESTS_PER_DOMAIN={args.concurrency}",
            "-s",
            f"CONCURRENT_REQUESTS={args.concurrency}",
            "-s",
            "NEWSMON_RELEVANCE_FILTER=false",
            "-s",
            "ROBOTSTXT_OBEY=false",
            "-s",
            f"NEWSMON_EXTRACT_WORKERS={args.workers}",
        ]
        try:
            seconds, run = timed_crawl(command, sources, db)
        finally:
            site.stop()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    alone = trafilatura_alone(pages)
    print(f"pages served:               {len(pages)} ({sum(map(len, pages)) / 2**20:.0f} MiB)")
    print(
        f"articles stored:            {run['stored']} (duplicates {run['duplicates']},"
        f" other rejections {run['rejected'] - run['duplicates']}, errors {run['errors']})"
    )
    print(
        f"newsmon crawl, end to end:  {len(pages) / seconds:.1f} pages/s ({seconds:.1f} s,"
        f" including ~2 s of process start-up)"
    )
    print(f"trafilatura alone, 1 proc:  {alone:.1f} pages/s")
    print(f"crawl peak memory (RSS):    {peak_mb:.0f} MiB (largest process of the crawl)")
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()

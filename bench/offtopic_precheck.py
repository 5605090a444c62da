"""Off-topic pages are cheap: the relevance pre-check against Trafilatura alone.

    python -m bench.offtopic_precheck [--pages 300] [--concurrency 8] [--no-crawl]

The feed: real captured article pages that name no Libya term once extracted (the usual case
for a licensee's Africa or world feed), each copy made unique by one sentence. Prints pages/s
for (1) Trafilatura alone (``bare_extraction``, one process, pages in memory), (2) the pre-check
alone in one process, falling back to Trafilatura for a page it cannot rule out, as the crawl
does, and (3) `newsmon crawl` end to end over the feed served on loopback, relevance filter on
(start-up included), with its pre-check counts from the run's stats.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import trafilatura

from bench import timed_crawl
from pipelines.extract import extract_page
from pipelines.precheck import page_may_be_relevant
from pipelines.relevance import compile_terms, score
from tests.siteserver import FIXTURES, Route, Site

HOST = "offtopic.newsmon.test"
SOURCES = """
[[source]]
name = "offtopic"
publisher = "newsmon benchmark"
domains = ["offtopic.newsmon.test"]
article_patterns = ['^https://offtopic\\.newsmon\\.test/article/\\d+$']
discovery = [{ kind = "sitemap", url = "https://offtopic.newsmon.test/sitemap.xml" }]
"""


def off_topic_templates() -> list[str]:
    """Captured pages whose extraction names no relevance term."""
    terms = compile_terms()
    templates = []
    for path in sorted((FIXTURES / "real").rglob("*.html")):
        page = path.read_text(encoding="utf-8", errors="replace")
        extracted = extract_page(page, "https://example.org/a")
        if extracted and not score(extracted.title, extracted.text, terms).matched:
            templates.append(page)
    return templates


def make_pages(count: int) -> list[str]:
    templates = off_topic_templates()
    return [
        re.sub(r"<p([ >])", rf"<p\1Benchmark copy {i}. ", templates[i % len(templates)], count=1)
        for i in range(count)
    ]


def rate(pages: list[str], judge: object) -> float:
    started = time.perf_counter()
    for page in pages:
        judge(page)  # type: ignore[operator]
    return len(pages) / (time.perf_counter() - started)


def crawl(pages: list[str], concurrency: int) -> tuple[float, dict[str, int]]:
    urls = "".join(f"<url><loc>https://{HOST}/article/{i}</loc></url>" for i in range(len(pages)))
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    ).encode()
    routes = {"/sitemap.xml": Route(body=sitemap, content_type="application/xml")}
    routes |= {f"/article/{i}": Route(body=page.encode()) for i, page in enumerate(pages)}
    site = Site(HOST, routes).start()
    with tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "sources.toml"
        sources.write_text(SOURCES)
        db = Path(tmp) / "bench.db"
        settings = {
            "DOWNLOAD_DELAY": "0",
            "AUTOTHROTTLE_ENABLED": "false",
            "CONCURRENT_REQUESTS_PER_DOMAIN": str(concurrency),
            "CONCURRENT_REQUESTS": str(concurrency),
            "ROBOTSTXT_OBEY": "false",
        }
        command = [sys.executable, "-m", "scheduler", "crawl", "offtopic", "--db", str(db)]
        command += ["--origin-map", f"https://{HOST}={site.origin}"]
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        try:
            seconds, run = timed_crawl(command, sources, db)
        finally:
            site.stop()
        counts = {k: run[k] for k in ("pages", "stored", "irrelevant", "errors") if k in run}
        log = Path(run.get("log_path") or "")
        if log.is_file():  # Scrapy's closing stats: how many pages the pre-check judged
            for name in ("prechecked", "precheck_rejected"):
                found = re.search(rf"'newsmon/relevance/{name}': (\d+)", log.read_text())
                counts[name] = int(found[1]) if found else 0
    return len(pages) / seconds, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-crawl", action="store_true", help="in-process figures only")
    args = parser.parse_args()
    pages = make_pages(args.pages)
    terms = compile_terms()
    passed = sum(page_may_be_relevant(page, terms) for page in pages)

    def precheck_then_trafilatura(page: str) -> None:
        if page_may_be_relevant(page, terms):
            trafilatura.bare_extraction(page, with_metadata=True)

    alone = rate(pages, lambda page: trafilatura.bare_extraction(page, with_metadata=True))
    checked = rate(pages, precheck_then_trafilatura)
    size = sum(map(len, pages)) / 2**20
    print(f"off-topic pages:              {len(pages)} ({size:.0f} MiB)")
    print(f"ruled out by the pre-check:   {len(pages) - passed} (the rest go to Trafilatura)")
    print(f"trafilatura alone, 1 process: {alone:.1f} pages/s")
    print(f"pre-check, then Trafilatura where not ruled out, 1 process: {checked:.1f} pages/s")
    print(f"  ratio:                      {checked / alone:.1f}x")
    if not args.no_crawl:
        crawl_rate, counts = crawl(pages, args.concurrency)
        print(f"newsmon crawl, end to end:    {crawl_rate:.1f} pages/s (start-up included)")
        print(f"  ratio to trafilatura alone: {crawl_rate / alone:.1f}x")
        print(f"  run:                        {json.dumps(counts, sort_keys=True)}")
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""End-to-end crawl throughput: `newsmon crawl` over N article pages served on loopback.

    python -m bench.crawl_throughput [--pages 600] [--concurrency 8] [--workers 0]
                                     [--relevance-filter]

Serves N pages (the real captured article pages, each copy made a distinct article by one
word of its text numbered) behind a sitemap, crawls them with politeness delays off and the
relevance filter off, and prints pages/s for the whole crawl (process start-up, discovery,
download, extraction in worker processes, dedupe, stories, SQLite) beside Trafilatura alone
(``bare_extraction``, one process, the same pages in memory) measured in the same run just
before and just after the crawl, their ratio, and the CPU seconds each kind of process spent:
the CLI, the crawl's reactor, its extraction workers, and the loopback server (its own
process here, so that its share is seen). Figures on a shared machine vary from run to run:
compare the ratio, measured within one run, and repeat.

``--relevance-filter`` turns the filter on: none of the captured pages names a Libya term, so
every page is then judged by the pre-check in the extraction workers, without extraction (the
case of a licensee's world feed; ``bench.offtopic_precheck`` compares it with Trafilatura).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from multiprocessing.connection import Connection
from pathlib import Path

import trafilatura

from bench import timed_crawl
from bench.processes import CRAWL, MARKER, WORKER, Sampler, cpu_seconds
from pipelines.extraction import extract_page
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
WORD = re.compile(r"[^\W\d_]{7,}")


@cache  # extracting the twelve pages is ~2.5 s of CPU; bench.scale asks more than once
def templates() -> tuple[tuple[str, str], ...]:
    """(page, word): each real captured article page and a word of its article text, found
    in the page, whose every occurrence a copy numbers to make a distinct article (a sentence
    added to <p> elements would not do: some pages' text is not in <p>)."""
    found = []
    for path in sorted((FIXTURES / "real").glob("*/pages/*.html")):
        page = path.read_text(encoding="utf-8", errors="replace")
        extracted = extract_page(page, f"https://{HOST}/article/0")
        text = extracted.text if extracted else ""
        word = next((w for w in WORD.findall(text) if re.search(rf"\b{w}\b", page)), None)
        if word is not None:
            found.append((page, word))
    return tuple(found)


def make_pages(count: int) -> list[bytes]:
    pages = []
    sources = templates()
    for i in range(count):
        page, word = sources[i % len(sources)]
        pages.append(re.sub(rf"\b{word}\b", f"{word}{i}", page).encode("utf-8"))
    return pages


def site_routes(pages: list[bytes]) -> dict[str, Route]:
    urls = "".join(f"<url><loc>https://{HOST}/article/{i}</loc></url>" for i in range(len(pages)))
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    ).encode()
    routes = {"/sitemap.xml": Route(body=sitemap, content_type="application/xml")}
    return routes | {f"/article/{i}": Route(body=page) for i, page in enumerate(pages)}


def _serve(routes: dict[str, Route], conn: Connection) -> None:
    site = Site(HOST, routes).start()
    conn.send(site.origin)
    conn.recv()  # until told to stop
    conn.send(cpu_seconds())
    site.stop()


@contextmanager
def served(pages: list[bytes]) -> Iterator[tuple[str, Connection]]:
    """The pages served by their own process: (origin, pipe); send on the pipe, then
    ``recv()`` gives the server's CPU seconds."""
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(site_routes(pages), theirs), daemon=True
    )
    process.start()
    try:
        yield ours.recv(), ours
    finally:
        process.kill()
        process.join()


def trafilatura_alone(pages: list[bytes]) -> tuple[float, float]:
    """Trafilatura with its metadata in this one process: (pages/s, CPU seconds a page)."""
    started, cpu = time.perf_counter(), time.process_time()
    for page in pages:
        trafilatura.bare_extraction(page.decode("utf-8"), with_metadata=True)
    return len(pages) / (time.perf_counter() - started), (time.process_time() - cpu) / len(pages)


def crawl_command(
    db: Path, origin: str, concurrency: int, workers: int, relevance_filter: bool = False
) -> list[str]:
    settings = {
        "DOWNLOAD_DELAY": "0",
        "AUTOTHROTTLE_ENABLED": "false",
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(concurrency),
        "CONCURRENT_REQUESTS": str(concurrency),
        "NEWSMON_RELEVANCE_FILTER": str(relevance_filter).lower(),
        "ROBOTSTXT_OBEY": "false",
    }
    if workers:
        settings["NEWSMON_EXTRACT_WORKERS"] = str(workers)
    command = [sys.executable, "-m", "scheduler", "crawl", "bench", "--db", str(db)]
    command += ["--origin-map", f"https://{HOST}={origin}"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    return command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0, help="NEWSMON_EXTRACT_WORKERS")
    parser.add_argument(
        "--relevance-filter",
        action="store_true",
        help="filter on: every page (none names a Libya term) is judged by the pre-check",
    )
    args = parser.parse_args()
    pages = make_pages(args.pages)
    before = trafilatura_alone(pages)
    tag = uuid.uuid4().hex
    os.environ[MARKER] = tag  # the crawl's processes inherit it: the sampler finds them
    with tempfile.TemporaryDirectory() as tmp, served(pages) as (origin, server):
        sources = Path(tmp) / "sources.toml"
        sources.write_text(SOURCES)
        db = Path(tmp) / "bench.db"
        command = crawl_command(db, origin, args.concurrency, args.workers, args.relevance_filter)
        with Sampler(tag, interval=0.1, memory=False) as sampled:
            seconds, run = timed_crawl(command, sources, db)
        server.send("stop")
        server_cpu = server.recv()
    del os.environ[MARKER]
    after = trafilatura_alone(pages)
    alone = (before[0] + after[0]) / 2
    alone_cpu = (before[1] + after[1]) / 2
    crawl_rate = len(pages) / seconds
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"pages served:               {len(pages)} ({sum(map(len, pages)) / 2**20:.0f} MiB)")
    print(
        f"articles stored:            {run['stored']} (duplicates {run['duplicates']},"
        f" other rejections {run['rejected'] - run['duplicates']}, errors {run['errors']})"
    )
    print(
        f"newsmon crawl, end to end:  {crawl_rate:.1f} pages/s ({seconds:.1f} s, start-up included)"
    )
    print(
        f"trafilatura alone, 1 proc:  {alone:.1f} pages/s (before {before[0]:.1f}, after "
        f"{after[0]:.1f}), {alone_cpu * 1000:.0f} ms of CPU a page"
    )
    print(f"  ratio crawl / alone:      {crawl_rate / alone:.2f}x")
    print("CPU seconds by process (sampled every 0.1 s):")
    for kind, seen in sampled.by_kind().items():
        total = sum(s.cpu for s in seen)
        per_page = total / len(pages) * 1000
        print(f"  {kind:30} {total:6.1f} s in {len(seen)} process(es), {per_page:.0f} ms a page")
    print(f"  {'loopback server':30} {server_cpu:6.1f} s")
    # Every waited-for descendant, the server's process included: it is taken off.
    crawl_cpu = children.ru_utime + children.ru_stime - server_cpu
    cores = os.cpu_count() or 1
    label = "crawl, every process (exact)"
    print(f"  {label:30} {crawl_cpu:6.1f} s (wall x cores: {seconds * cores:.1f} s)")
    # On a loaded machine wall time says little: the ceiling the CPU seconds allow on idle
    # cores (waits such as fsync are not in it: an idle machine measures the real rate).
    reactor = sum(s.cpu for s in sampled.by_kind().get(CRAWL, [])) / len(pages)
    workers = sampled.by_kind().get(WORKER, [])
    bound = min(cores / (crawl_cpu / len(pages)), 1 / reactor if reactor else float("inf"))
    if workers:
        bound = min(bound, len(workers) / (sum(s.cpu for s in workers) / len(pages)))
    print(
        f"CPU-bound ceiling on {cores} idle cores: {bound:.1f} pages/s, "
        f"{bound * alone_cpu:.2f}x Trafilatura alone's {1 / alone_cpu:.1f} (from CPU seconds)"
    )
    print(f"cores: {cores}, load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

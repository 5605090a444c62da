"""What a rerun costs: requests, 304s and bodies fetched again when nothing or one page changed.

    python -m bench.recheck_cost [--pages 20]

Serves N article pages (the real captured pages, each made unique by one sentence) behind a
sitemap whose entries carry a recent ``lastmod``, crawls them once, then reruns the crawl:
(1) with nothing changed, (2) with one page's text and ``lastmod`` changed, (3) with every
``lastmod`` moved but no text changed (a site regenerating its sitemap). Prints, per rerun,
the wall time, requests, 304s, bodies fetched again, and new versions stored. Run it from
another checkout's root (``PYTHONPATH=. python path/to/recheck_cost.py``) to compare.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


def page(template: Path, i: int, edition: int) -> bytes:
    html = template.read_text(encoding="utf-8", errors="replace")
    return re.sub(r"<p([ >])", rf"<p\1Benchmark copy {i}, edition {edition}. ", html).encode()


def sitemap(lastmods: list[str]) -> Route:
    urls = "".join(
        f"<url><loc>https://{HOST}/article/{i}</loc><lastmod>{lastmod}</lastmod></url>"
        for i, lastmod in enumerate(lastmods)
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )
    return Route(body=body.encode(), content_type="application/xml")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def crawl(site: Site, db: Path, sources: Path) -> tuple[float, dict[str, Any]]:
    site.requests.clear()
    command = [
        sys.executable, "-m", "scheduler", "crawl", "bench", "--db", str(db),
        "--origin-map", f"https://{HOST}={site.origin}",
        "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=false",
        "-s", "ROBOTSTXT_OBEY=false", "-s", "NEWSMON_RELEVANCE_FILTER=false",
    ]  # fmt: skip
    return timed_crawl(command, sources, db)


def report(label: str, seconds: float, run: dict[str, Any], site: Site) -> None:
    articles = sum(p.startswith("/article/") for p in site.requests)
    print(
        f"{label:<34} {seconds:6.1f} s  requests {run['requests']:>3}  article requests "
        f"{articles:>3}  304s {run.get('not_modified') or 0:>3}  bodies again "
        f"{run.get('refetched') or 0:>3}  updated {run.get('updated') or 0:>2}  "
        f"stored {run['stored']:>3}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=20)
    args = parser.parse_args()
    templates = sorted((FIXTURES / "real").glob("*/pages/*.html"))
    n = args.pages
    published = datetime.now(UTC) - timedelta(hours=3)
    lastmods = [stamp(published)] * n
    routes = {"/sitemap.xml": sitemap(lastmods)}
    routes |= {
        f"/article/{i}": Route(body=page(templates[i % len(templates)], i, 1)) for i in range(n)
    }
    site = Site(HOST, routes).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sources = Path(tmp) / "sources.toml"
            sources.write_text(SOURCES)
            db = Path(tmp) / "bench.db"
            report(f"first crawl ({n} pages)", *crawl(site, db, sources), site)
            report("rerun, nothing changed", *crawl(site, db, sources), site)
            site.routes["/article/0"] = Route(body=page(templates[0], 0, 2))
            lastmods[0] = stamp(datetime.now(UTC))
            site.routes["/sitemap.xml"] = sitemap(lastmods)
            report(f"rerun, 1 of {n} changed", *crawl(site, db, sources), site)
            site.routes["/sitemap.xml"] = sitemap([stamp(datetime.now(UTC))] * n)
            report("rerun, every lastmod moved", *crawl(site, db, sources), site)
    finally:
        site.stop()
    print(f"cores: {os.cpu_count()}; figures from one run on a shared machine")


if __name__ == "__main__":
    main()

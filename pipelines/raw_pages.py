"""The raw page kept beside each article (the ``pages`` table), as gzip any tool reads.

Compressed by zlib-ng at level 5: ~2.5 ms for a 230 KiB page, where zlib at level 6 took
~5 ms, the largest single cost of storing an article (docs/PERFORMANCE.md), for pages 1.7%
larger. ISA-L (``isal``) at its level 3 is a little faster still (~2.2 ms) but stores 11%
more, which over a ten-year archive is gigabytes. The output is a standard gzip stream:
``gzip.decompress`` and ``zcat`` read it as before.
"""

from __future__ import annotations

import sqlite_utils
from zlib_ng import gzip_ng

from crawler.items import Article

LEVEL = 5  # zlib-ng's 6 stores no less (17.4% of the HTML) for ~20% more time


def compressed(html: bytes) -> bytes:
    return gzip_ng.compress(html, LEVEL, mtime=0)


def save_page(db: sqlite_utils.Database, url: str, article: Article) -> None:
    """Keep (or replace) the page ``article`` was extracted from, stored under ``url``."""
    html = article.html.encode("utf-8")
    db.table("pages").upsert(
        {
            "url": url,
            "fetched": article.fetched,
            "final_url": article.final_url or None,
            "encoding": article.encoding,
            "size": len(html),
            "html_gz": compressed(html),
        },
        pk="url",
    )

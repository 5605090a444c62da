"""The raw page kept beside each article (the ``pages`` table), as gzip any tool reads.

Compressed by ISA-L (``isal``) at level 3: ~1.4 ms for a 230 KiB page, where zlib at level 6
took ~5.7 ms, the largest single cost of storing an article (docs/PERFORMANCE.md), for
pages ~11% larger (19.1% of the HTML instead of 17.1%). The output is a standard gzip
stream: ``gzip.decompress``, ``zcat`` and SQLite's readers of the column see no difference.
"""

from __future__ import annotations

import sqlite_utils
from isal import igzip

from crawler.items import Article

LEVEL = 3  # ISA-L's highest; its levels 0-2 are faster still but compress less


def save_page(db: sqlite_utils.Database, url: str, article: Article) -> None:
    """Keep (or replace) the page ``article`` was extracted from, stored under ``url``."""
    html = article.html.encode("utf-8")
    db.table("pages").upsert(
        {
            "url": url,
            "fetched": article.fetched,
            "encoding": article.encoding,
            "size": len(html),
            "html_gz": igzip.compress(html, LEVEL, mtime=0),
        },
        pk="url",
    )

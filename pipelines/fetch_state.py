"""The ``fetch_state`` table: what the last fetch of an article page answered.

Its rows are made by ``pipelines.freshness.fetch_state_of`` as a response arrives and written
here by whichever transaction records the page's outcome (the store's, a revision's, a
rejection's). Apart from the crawl's Scrapy-bound modules, so that ``pipelines.versions``
(read by the review's Datasette plugin too) can write it without loading Scrapy.
"""

from __future__ import annotations

import sqlite_utils

from crawler.items import FetchState


def write_fetch_state(db: sqlite_utils.Database, state: FetchState | None) -> None:
    """Remember ``state``, inside the caller's transaction: the one that records the page's
    outcome (the store's, a revision's or a rejection's), so a page costs one commit."""
    if state is None:
        return
    db.execute(
        """insert into fetch_state (key, etag, last_modified, lastmod, checked)
           values (?, ?, ?, ?, ?)
           on conflict(key) do update set etag = excluded.etag,
             last_modified = excluded.last_modified, lastmod = excluded.lastmod,
             checked = excluded.checked""",
        [state.key, state.etag, state.last_modified, state.lastmod, state.checked],
    )

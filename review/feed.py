"""The Atom feed of new articles: the saved query ``feed`` rendered at ``/<db>/feed.atom``.

datasette-atom would render it, but it cannot carry what a reader of a news feed expects
(each entry's publication time, a summary, categories for the source, site and agency) and
it fails on an empty feed (``max()`` of no rows), which a filter such as ``?source=afp``
gives routinely. So the feed is built here with feedgen, the library datasette-atom itself
uses: no XML is written by hand. Everything stored is put in as text, never as HTML.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from datasette.utils.asgi import Response
from feedgen.feed import FeedGenerator

# Columns a query needs to be rendered as a feed; the saved query `feed` returns them all.
REQUIRED = {"id", "url", "title", "published", "updated"}
SUMMARY_CHARS = 400


def can_render(columns: list[str]) -> bool:
    return set(columns) >= REQUIRED


def render(
    datasette: Any,
    request: Any,
    columns: list[str],
    rows: list[Any],
    database: str,
    query_name: str | None,
) -> Response:
    """An Atom document for ``rows``, newest first; an empty feed is still a valid feed."""
    if not can_render(columns):
        return Response.text(
            "This query cannot be read as a feed: it needs the columns "
            + ", ".join(sorted(REQUIRED)),
            status=400,
        )
    feed = FeedGenerator()
    feed.id(request.url)
    feed.link(href=request.url, rel="self")
    feed.link(href=datasette.absolute_url(request, datasette.urls.database(database)))
    feed.title(_title(datasette, database, query_name, request.args.get("source")))
    feed.generator("newsmon")
    entries = [dict(zip(columns, row, strict=False)) for row in rows]
    for entry in reversed(entries):  # feedgen prepends: the newest ends up first
        _add_entry(feed, entry)
    updated = [_when(e["updated"]) for e in entries if e["updated"]]
    feed.updated(max(updated) if updated else datetime.now(UTC))
    return Response(
        feed.atom_str(pretty=True),
        content_type="application/atom+xml; charset=utf-8",
    )


def _title(datasette: Any, database: str, query_name: str | None, source: str | None) -> str:
    title = "newsmon: new Libya articles"
    if query_name:
        queries = (datasette.metadata(database=database) or {}).get("queries", {})
        title = queries.get(query_name, {}).get("title", title)
    return f"{title} ({source})" if source else title


def _add_entry(feed: FeedGenerator, row: dict[str, Any]) -> None:
    entry = feed.add_entry()
    entry.id(row["url"])  # the public URL is the article's identity in the archive
    # Atom requires a title; a page whose title could not be read still gets its entry.
    entry.title(row["title"] or f"(no title) {row['url']}")
    entry.link(href=row["url"])
    entry.updated(_when(row["updated"]))
    if row.get("published"):
        entry.published(_when(row["published"]))
    # Atom requires an author on every entry of a feed that has none of its own: without a
    # byline, the agency credited, else the site that published it, stands as author.
    fallback = row.get("agency") or row.get("site") or urlsplit(row["url"]).hostname or "unknown"
    for name in _authors(row.get("authors")) or [fallback]:
        entry.author({"name": name})
    for scheme in ("source", "site", "agency"):
        for term in (row.get(scheme) or "").split(", "):
            if term:
                entry.category(term=term, scheme=f"newsmon:{scheme}", label=f"{scheme}: {term}")
    if summary := _summary(row):
        entry.summary(summary, type="text")


def _summary(row: dict[str, Any]) -> str:
    text = " ".join(str(row.get("summary") or "").split())
    if len(text) <= SUMMARY_CHARS:
        return text
    return text[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"


def _authors(value: Any) -> list[str]:
    try:
        names = json.loads(value) if value else []
    except ValueError:
        return []
    return [str(n) for n in names if n] if isinstance(names, list) else []


def _when(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

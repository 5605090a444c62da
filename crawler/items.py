"""What a spider yields and what the pipelines keep.

The spider only discovers and fetches: it yields a ``Page`` per fetched article page and a
``FetchFailure`` per article page it could not get. ``ExtractPipeline`` turns a Page into an
``Article``; the later pipelines only ever see Articles (and failures, which they pass on).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FetchState:
    """What the fetch of an article page answered (pipelines/freshness.py): the validators
    for the next conditional request and the discovery date that led to it. It travels with
    the page and is written in the transaction that records the page's outcome, so a page
    costs one commit, and a crash leaves both or neither."""

    key: str
    etag: str | None
    last_modified: str | None
    lastmod: str | None  # the discovery entry's date
    checked: str  # when the response arrived, ISO 8601 UTC


@dataclass
class Page:
    source: str
    url: str  # the canonical public URL that was requested
    key: str  # dedupe key (crawler.urls.article_key)
    final_url: str  # public URL after redirects
    status: int
    html: str
    encoding: str
    fetched: str  # ISO 8601 UTC
    discovered_via: str  # discovery kind
    hint_title: str | None = None  # from the news sitemap or feed
    hint_published: str | None = None
    fetch_state: FetchState | None = None


@dataclass
class Article:
    source: str
    url: str  # canonical public URL
    key: str
    requested_url: str
    requested_key: str
    title: str
    text: str
    published: str | None
    modified: str | None
    authors: list[str]
    language: str
    description: str | None
    site: str  # host it was fetched from
    agency: str | None
    fetched: str
    discovered_via: str
    html: str = field(repr=False)
    encoding: str = "utf-8"
    relevance: float = 0.0
    matched_terms: dict[str, int] = field(default_factory=dict)
    relevance_reason: str = ""
    content_hash: str = ""
    credit: list[str] = field(default_factory=list)  # evidence for `agency` (pipelines.credit)
    fetch_state: FetchState | None = None  # the page's, written with the article
    final_url: str = ""  # public URL after redirects: where the page was read (kept in pages)


@dataclass
class FetchFailure:
    """An article page that could not be fetched this run; it will be tried again unless
    ``permanent`` (404, 410)."""

    source: str
    url: str
    key: str
    reason: str
    status: int | None = None
    permanent: bool = False

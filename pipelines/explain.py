"""What newsmon would make of one saved page, and why: the crawl's judgement without a crawl.

``explain_page`` runs the same steps as the item pipelines (extraction, credit, the licensee
rule, relevance), in the same order, on HTML a user saved, with no database and no network.
It is how a user finds out why a page was not kept, and how a new template is checked
before a source declares it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from lxml import etree, html

from crawler.sources import SiteQuirks, Source, load_sites
from crawler.urls import canonicalize_url, host_of
from pipelines.credit import Credit, attribute
from pipelines.extraction import Extracted, extract_page
from pipelines.metadata import jsonld_text, read_metadata
from pipelines.relevance import compile_terms, score

if TYPE_CHECKING:  # only a type here: a worker reading pages again loads no Scrapy
    from scrapy.settings import BaseSettings


@dataclass
class Explanation:
    url: str | None
    source: str | None
    site: str | None
    role: str  # "own site", "licensee", "generic rules"
    extracted: Extracted | None
    page_credit: Credit  # what the page itself credits
    credit: Credit  # what would be stored (the source's rules applied)
    relevance: dict[str, Any] = field(default_factory=dict)
    decision: str = ""
    reason: str = ""

    def as_json(self, file: str) -> dict[str, Any]:
        e = self.extracted
        return {
            "file": file,
            "url": self.url,
            "source": self.source,
            "site": self.site,
            "rules": self.role,
            "title": e.title if e else None,
            "text": e.text if e else None,
            "published": e.published if e else None,
            "modified": e.modified if e else None,
            "authors": e.authors if e else [],
            "language": e.language if e else None,
            "description": e.description if e else None,
            "agency": self.credit.agency,
            "credit": list(self.credit.evidence),
            "page_credit": list(self.page_credit.evidence),
            "relevance": self.relevance,
            "decision": self.decision,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Rules:
    """What a crawl judges a page by, read from its settings (``explain_page``'s keywords)."""

    quirks: dict[str, SiteQuirks]
    terms: dict[str, re.Pattern[str]]
    threshold: float
    min_chars: int
    relevance_filter: bool

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Rules:
        """Raises SourceError or ValueError on a bad declaration or setting."""
        return cls(
            quirks=load_sites(settings.get("NEWSMON_SOURCES")),
            terms=compile_terms(settings.get("NEWSMON_RELEVANCE_TERMS")),
            threshold=settings.getfloat("NEWSMON_RELEVANCE_MIN_SCORE"),
            min_chars=settings.getint("NEWSMON_MIN_TEXT_CHARS"),
            relevance_filter=settings.getbool("NEWSMON_RELEVANCE_FILTER"),
        )

    def as_kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def canonical_url(page_html: str) -> str | None:
    """The page's own public URL (rel=canonical, og:url or JSON-LD url), canonicalised."""
    try:
        meta = read_metadata(html.fromstring(page_html))
    except (etree.ParserError, ValueError):
        return None
    url = meta.canonical or meta.first("og:url") or jsonld_text(meta.jsonld.get("url"))
    return canonicalize_url(url) if url and url.startswith(("http://", "https://")) else None


def source_for(url: str | None, sources: dict[str, Source]) -> Source | None:
    """The source that reads ``url``'s host: its own site first, then a licensee."""
    host = host_of(url) if url else ""
    if not host:
        return None
    own = [s for s in sources.values() if host in s.domains and host not in s.licensee_domains]
    licensed = [s for s in sources.values() if host in s.licensee_domains]
    return next(iter(own + licensed), None)


def explain_page(
    page_html: str,
    url: str | None,
    source: Source | None,
    *,
    quirks: dict[str, SiteQuirks],
    terms: dict[str, re.Pattern[str]],
    threshold: float,
    min_chars: int,
    relevance_filter: bool = True,
    hint_title: str | None = None,
) -> Explanation:
    """The decision the crawl would take on ``page_html`` fetched from ``url`` for ``source``
    (None: generic rules), with every intermediate finding. ``hint_title`` is the feed's
    title, taken when the page names none."""
    url = url or canonical_url(page_html)
    host = host_of(url) if url else ""
    extracted = extract_page(
        page_html,
        url or "",
        hint_title=hint_title,
        quirks=quirks.get(host),
        default_language=source.language if source else "en",
    )
    role = "generic rules"
    if source is not None:
        role = "licensee" if host in source.licensee_domains else "own site"
    page_credit = extracted.credit if extracted else Credit()
    credit = attribute(page_credit, url or "", source) if source and url else page_credit
    result = Explanation(
        url=url,
        source=source.name if source else None,
        site=host or None,
        role=role,
        extracted=extracted,
        page_credit=page_credit,
        credit=credit,
    )
    # Always the same keys, so that a reader of `extract --json` never meets an empty one.
    result.relevance = {"score": 0.0, "matched_terms": {}, "relevant": False, "reason": "no text"}
    if extracted is not None:
        relevance = score(extracted.title, extracted.text, terms)
        result.relevance = {
            "score": relevance.score,
            "matched_terms": relevance.matched,
            "relevant": relevance.is_relevant(threshold),
            "reason": relevance.reason,
        }
    result.decision, result.reason = _decide(result, source, threshold, min_chars, relevance_filter)
    return result


def _decide(
    result: Explanation,
    source: Source | None,
    threshold: float,
    min_chars: int,
    relevance_filter: bool,
) -> tuple[str, str]:
    """The pipelines' checks, in the order the crawl makes them."""
    url, host, extracted, relevance = result.url, result.site, result.extracted, result.relevance
    if source is not None and url and host not in source.domains:
        return (
            "off_site",
            f"{host} is not one of {source.name}'s sites ({', '.join(source.domains)})",
        )
    if source is not None and url and not source.is_article_url(canonicalize_url(url)):
        return (
            "not_article_url",
            f"{url} matches none of {source.name}'s article patterns: never fetched",
        )
    if extracted is None or len(extracted.text) < min_chars:
        chars = len(extracted.text) if extracted else 0
        return "no_text", f"no article text ({chars} characters; at least {min_chars} needed)"
    if result.role == "licensee" and source is not None and result.credit.agency is None:
        found = result.page_credit.agency
        return "no_agency_credit", (
            f"{host} is a licensee and the page does not credit {source.agency}"
            + (f" (it credits {found})" if found else " (no credit found)")
        )
    if not relevance["relevant"]:
        why = f"score {relevance['score']} < {threshold:g}, {relevance['reason']}"
        if relevance_filter:
            return "irrelevant", f"not about Libya ({why})"
        return "store", f"stored with the relevance filter off ({why})"
    return "store", f"about Libya (score {relevance['score']}, {relevance['reason']})"

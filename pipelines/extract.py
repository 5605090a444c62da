"""Page -> Article: Trafilatura for the text, structured metadata for everything else.

Extraction is CPU-bound Python (about 20 ms a page), so it runs in worker processes
(pipelines/workers.py): the reactor stays responsive, both cores work, and a page that hangs
or kills its worker fails alone. ``extract_page`` is a pure function of the page, which is
also what the extraction-quality tests call.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import trafilatura
from lxml import etree, html
from scrapy.crawler import Crawler

from crawler.dates import day_first_for, parse_date, zone_of
from crawler.items import Article, Page
from crawler.sources import SiteQuirks, Source, load_sites, load_sources
from crawler.urls import article_key, article_url, host_of
from pipelines import Rejected
from pipelines.credit import Credit, attribute, read_credit
from pipelines.metadata import PageMetadata, jsonld_people, jsonld_text, read_metadata, split_names
from pipelines.precheck import PreCheck
from pipelines.workers import WorkerFailed, WorkerPool, WorkerTimedOut, default_workers

logger = logging.getLogger(__name__)

# Lines that are page furniture, not article text, whatever the site.
_FURNITURE = re.compile(
    r"^(?:[-•]\s*)?(?:tweet(?: this)?|share(?: this)?|link this|digg this|email|print|"
    r"reprints?|comments?|advertisement|read more|related (?:coverage|stories|content)|"
    r"our standards: the thomson reuters trust principles\.?|"
    r"latest update\s*:.*|date created\s*:.*|\d+ min read)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    published: str | None
    modified: str | None
    authors: list[str]
    language: str
    description: str | None
    canonical: str | None
    credit: Credit = field(default_factory=Credit)  # wire credit read from the page


def extract_page(
    page_html: str,
    url: str,
    *,
    hint_title: str | None = None,
    hint_published: str | None = None,
    quirks: SiteQuirks | None = None,
    default_language: str = "en",
) -> Extracted | None:
    """The article on a page, or None when it has no article text. Never raises on bad HTML."""
    try:
        tree = html.fromstring(page_html)
    except (etree.ParserError, ValueError):
        return None
    meta = read_metadata(tree)
    ld = meta.jsonld
    title = (
        jsonld_text(ld.get("headline"))
        or meta.first("og:title", "twitter:title")
        or jsonld_text(ld.get("name"))
        or _html_title(tree)
        or hint_title
    )
    if not title:
        return None
    title = " ".join(title.split())
    text = _text(page_html, url, tree, quirks, title)
    if not text:
        return None
    authors, _ = _authors(meta, tree, quirks)
    # 01/02/2024 is January in en-US and February in en-GB: the page's locale decides.
    day_first = day_first_for(meta.first("og:locale") or meta.lang)
    modified = parse_date(
        jsonld_text(ld.get("dateModified"))
        or meta.first("article:modified_time", "og:updated_time", "og:article:modified_time"),
        day_first=day_first,
    )
    published = _published(meta, hint_published, day_first) or _quirk_date(tree, quirks)
    return Extracted(
        title=title,
        text=text,
        published=published,
        modified=modified,
        authors=authors,
        language=_language(meta, default_language),
        description=jsonld_text(ld.get("description"))
        or meta.first("og:description", "description"),
        canonical=meta.canonical or meta.first("og:url") or jsonld_text(ld.get("url")),
        credit=read_credit(tree, meta, text),
    )


def _text(
    page_html: str, url: str, tree: html.HtmlElement, quirks: SiteQuirks | None, title: str
) -> str:
    paragraphs: list[str] = []
    if quirks and quirks.text_selectors:
        for selector in quirks.text_selectors:
            for element in tree.cssselect(selector):
                blocks = element.xpath(".//p|.//li") or [element]
                paragraphs.extend(" ".join(b.text_content().split()) for b in blocks)
    if not paragraphs:
        extracted = trafilatura.extract(
            page_html,
            url=url,
            include_comments=False,
            include_tables=False,
            include_images=False,
            # Trafilatura's deduplication remembers paragraphs across pages in the worker and
            # then cuts them: wire copy sharing paragraphs came out different by crawl order.
            deduplicate=False,
            with_metadata=False,
        )
        paragraphs = [" ".join(line.split()) for line in (extracted or "").splitlines()]
    drop = quirks.drop_text if quirks else ()
    kept = [
        p
        for p in paragraphs
        if p
        and not _FURNITURE.match(p)
        and not any(r.search(p) for r in drop)
        and p.casefold() != title.casefold()
    ]
    kept = _trim_leading_fragments(kept)
    if quirks and quirks.end_at:
        ends = [i for i, p in enumerate(kept) if any(r.search(p) for r in quirks.end_at)]
        kept = kept[: ends[-1] + 1] if ends else kept
    return "\n\n".join(dict.fromkeys(kept))


def _trim_leading_fragments(paragraphs: list[str]) -> list[str]:
    """Drop dateline-only lines ("MUMBAI") and similar stubs before the first sentence."""
    start = 0
    while start < len(paragraphs) - 1:
        line = paragraphs[start]
        if len(line) >= 60 or line.rstrip().endswith((".", '"', "”", "»", ":")):
            break
        start += 1
    return paragraphs[start:]


def _html_title(tree: html.HtmlElement) -> str | None:
    node = tree.find(".//title")
    return " ".join(node.text_content().split()) if node is not None else None


def _authors(
    meta: PageMetadata, tree: html.HtmlElement, quirks: SiteQuirks | None
) -> tuple[list[str], list[str]]:
    """(people, organisations). Reuters 2023 JSON-LD has only ``byline``; its
    ``article:author`` meta lists the same people, comma-separated."""
    has_jsonld_author = bool(meta.jsonld.get("author"))
    people, organisations = jsonld_people(meta.jsonld.get("author"))
    if quirks and quirks.author_selectors:
        selected = [
            " ".join(node.text_content().split())
            for selector in quirks.author_selectors
            for node in tree.cssselect(selector)
        ]
        if selected:
            people = selected
    if not people and not has_jsonld_author:  # an organisation author is a deliberate answer
        for value in meta.all("article:author", "og:article:author", "author", "sailthru.author"):
            people.extend(split_names(value))
    return list(dict.fromkeys(p for p in people if p)), organisations


def _published(meta: PageMetadata, hint: str | None, day_first: bool | None) -> str | None:
    raw = jsonld_text(meta.jsonld.get("datePublished")) or meta.first(
        "article:published_time",
        "og:article:published_time",
        "datepublished",
        "date",
        "dc.date.issued",
        "pubdate",
    )
    # AFP Fact Check writes "2023-09-14 10:32" with no zone, but its og:updated_time carries
    # the site's offset: read the bare value in that offset rather than guess UTC.
    zone = zone_of(meta.first("og:updated_time", "article:modified_time"))
    return parse_date(raw, default_tz=zone, day_first=day_first) or hint or None


# "Tuesday 14 May 2024", "May 14, 2024", "2024-05-14": a date written in a byline box.
_WRITTEN_DATE = re.compile(
    r"\b\d{1,2} [A-Z][a-z]+ \d{4}\b|\b[A-Z][a-z]+ \d{1,2}, \d{4}\b|\b\d{4}-\d{2}-\d{2}\b"
)


def _quirk_date(tree: html.HtmlElement, quirks: SiteQuirks | None) -> str | None:
    """The date a site writes only in its byline box (Ahram Online), when it declares where."""
    for selector in quirks.date_selectors if quirks else ():
        for element in tree.cssselect(selector):
            if match := _WRITTEN_DATE.search(" ".join(element.text_content().split())):
                return parse_date(match.group(0))
    return None


def _language(meta: PageMetadata, default: str) -> str:
    raw = (
        jsonld_text(meta.jsonld.get("inLanguage"))
        or meta.lang
        or meta.first("og:locale", "content-language", "language")
        or default
    )
    code = re.split(r"[-_]", raw.strip().lower())[0]
    return code if re.fullmatch(r"[a-z]{2}", code) else default


def adopted_url(page: Page, canonical: str | None, source: Source) -> str:
    """The URL an article is stored under. A page's claims about its own URL (rel=canonical,
    og:url, JSON-LD url, then where a redirect led) count only when they name an article URL
    of the source: a home page, a section, another site or a mirror is not this article's
    URL, and then the link that was followed stands."""
    for claim in (canonical, page.final_url):
        if claim:
            url = article_url(claim, source)
            if host_of(url) in source.domains and source.is_article_url(url):
                return url
    return page.url


def content_hash(text: str) -> str:
    """sha256 of the whitespace-normalised text: the same story, byte for byte, once."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


class ExtractPipeline:
    def __init__(self, crawler: Crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.sources: dict[str, Source] = load_sources(settings.get("NEWSMON_SOURCES"))
        self.sites = load_sites(settings.get("NEWSMON_SOURCES"))
        self.min_chars = settings.getint("NEWSMON_MIN_TEXT_CHARS")
        self.precheck = PreCheck.from_settings(settings)
        self.workers = WorkerPool(
            settings.getint("NEWSMON_EXTRACT_WORKERS") or default_workers(),
            settings.getfloat("NEWSMON_EXTRACT_TIMEOUT"),
            preload=[__name__],  # imported before the first page's time limit starts
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExtractPipeline:
        return cls(crawler)

    def close_spider(self) -> None:
        self.workers.close()

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Page):
            return item
        source = self.sources[item.source]
        stats = self.crawler.stats
        assert stats is not None
        self.precheck.check(item, stats)  # a page naming no Libya term is not worth extracting
        extraction = self.workers.run(
            extract_page,
            item.html,
            item.final_url,
            hint_title=item.hint_title,
            hint_published=item.hint_published,
            quirks=self.sites.get(host_of(item.final_url)),
            default_language=source.language,
        )
        try:
            extracted = await extraction
        except WorkerFailed as exc:
            raise self.failed(item, exc) from None
        if extracted is None or len(extracted.text) < self.min_chars:
            stats.inc_value("newsmon/rejected/no_text")
            raise Rejected("no_text", f"no article text on {item.url}")
        article = self.to_article(item, extracted, source)
        if article.agency is None and article.site in source.licensee_domains:
            stats.inc_value("newsmon/rejected/no_agency_credit")
            raise Rejected("no_agency_credit", f"{item.url} does not credit {source.agency}")
        return article

    def failed(self, page: Page, exc: WorkerFailed) -> Rejected:
        """Count an extraction that hung or killed its worker; the page is tried again in a
        later run (store.RETRIED_OUTCOMES), a bounded number of times."""
        stats = self.crawler.stats
        assert stats is not None
        timed_out = isinstance(exc, WorkerTimedOut)
        stats.inc_value("newsmon/extract_timeouts" if timed_out else "newsmon/extract_crashes")
        message = f"extraction of {page.url} failed: {exc}"
        if stats.get_value("newsmon/first_error") is None:
            stats.set_value("newsmon/first_error", message)
        logger.warning(message)
        return Rejected("extract_failed", message)

    def to_article(self, page: Page, extracted: Extracted, source: Source) -> Article:
        url = adopted_url(page, extracted.canonical, source)
        site = host_of(page.final_url)
        credit = attribute(extracted.credit, page.final_url, source)
        return Article(
            source=page.source,
            url=url,
            key=article_key(url, source),
            requested_url=page.url,
            requested_key=page.key,
            title=extracted.title,
            text=extracted.text,
            published=extracted.published or page.hint_published,
            modified=extracted.modified,
            authors=extracted.authors,
            language=extracted.language,
            description=extracted.description,
            site=site,
            agency=credit.agency,
            credit=list(credit.evidence),
            fetched=page.fetched,
            discovered_via=page.discovered_via,
            html=page.html,
            encoding=page.encoding,
            content_hash=content_hash(extracted.text),
        )

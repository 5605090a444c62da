"""Page -> Extracted: Trafilatura for the text, structured metadata for everything else.

This is what the extraction workers (pipelines/workers.py) run, so it imports neither Scrapy
nor anything that does: a worker that loaded Scrapy would cost ~28 MiB and ~0.6 s of CPU
more to start, for nothing (docs/PERFORMANCE.md). Trafilatura is imported on first use, so
the crawl process, which imports this module for its types, never loads it; workers preload
it before their first page. ``extract_page`` is a pure function of the page, which is also
what the extraction-quality tests call.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from lxml import etree, html

from crawler.dates import day_first_for, parse_date, zone_of
from crawler.sources import SiteQuirks
from pipelines.credit import Credit, combine, markup_credit, text_credit
from pipelines.metadata import PageMetadata, jsonld_people, jsonld_text, read_metadata, split_names

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
        or _without_site_suffix(meta.first("og:title", "twitter:title"), quirks)
        or jsonld_text(ld.get("name"))
        or _without_site_suffix(_html_title(tree), quirks)
        or hint_title
    )
    if not title:
        return None
    title = " ".join(title.split())
    # Everything read from the tree is read before the text, which Trafilatura may prune:
    # 2.3 copies a tree it is given first, earlier 2.x releases pruned the caller's (a copy
    # of our own for it cost ~1.6 ms a page).
    authors, _ = _authors(meta, tree, quirks)
    # 01/02/2024 is January in en-US and February in en-GB: the page's locale decides.
    day_first = day_first_for(meta.first("og:locale") or meta.lang)
    modified = parse_date(
        jsonld_text(ld.get("dateModified"))
        or meta.first("article:modified_time", "og:updated_time", "og:article:modified_time"),
        day_first=day_first,
    )
    published = _published(meta, hint_published, day_first) or _quirk_date(tree, quirks)
    markup = markup_credit(tree, meta)
    text = _text(url, tree, quirks, title)
    if not text:
        return None
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
        credit=combine(markup, text_credit(text)),
    )


def _text(url: str, tree: html.HtmlElement, quirks: SiteQuirks | None, title: str) -> str:
    paragraphs: list[str] = []
    if quirks and quirks.text_selectors:
        for selector in quirks.text_selectors:
            for element in tree.cssselect(selector):
                blocks = element.xpath(".//p|.//li") or [element]
                paragraphs.extend(" ".join(b.text_content().split()) for b in blocks)
    if not paragraphs:
        import trafilatura  # preloaded by the workers; never loaded by the crawl process

        extracted = trafilatura.extract(
            # The page as parsed already (Trafilatura would parse it again, ~9 ms on a 230 KiB
            # page); nothing reads the tree after this.
            tree,
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


def _without_site_suffix(title: str | None, quirks: SiteQuirks | None) -> str | None:
    """A page title without what the site appends to every headline there (Ahram's
    " - Region - World"); a headline declared as such (JSON-LD) is never cut."""
    if not title:
        return title
    title = " ".join(title.split())
    for pattern in quirks.title_drop if quirks else ():
        if (match := pattern.search(title)) and match.start() > 0:
            title = title[: match.start()]
    return title


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


def content_hash(text: str) -> str:
    """sha256 of the whitespace-normalised text: the same story, byte for byte, once."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()

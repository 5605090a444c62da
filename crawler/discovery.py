"""Read article links out of feeds, sitemaps and listing pages.

Scrapy's SitemapSpider drops the Google News fields (``news:title``,
``news:publication_date``); these parsers keep them as hints for extraction. All parsers
are pure functions over bytes, so each format is unit-tested on the real captures.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from urllib.parse import urljoin

from lxml import etree, html

from crawler.dates import parse_date

MAX_XML_BYTES = 50 * 2**20  # a gzip bomb stops here


class DiscoveryError(ValueError):
    """A feed, sitemap or listing page that cannot be read."""


@dataclass(frozen=True)
class Link:
    url: str
    title: str | None = None
    published: str | None = None  # UTC ISO 8601
    lastmod: str | None = None


@dataclass(frozen=True)
class Sitemap:
    links: tuple[Link, ...]  # article candidates (urlset)
    children: tuple[Link, ...]  # child sitemaps (sitemapindex)


def gunzip_if_needed(body: bytes) -> bytes:
    """Sitemaps are often served as .xml.gz files (not Content-Encoding), so the body is gzip.

    A truncated archive is an error, not a shorter sitemap: Scrapy's own gunzip returns what
    it could read, which would silently drop the rest of the entries.
    """
    if body[:2] != b"\x1f\x8b":
        return body
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, MAX_XML_BYTES + 1)
    except zlib.error as exc:
        raise DiscoveryError(f"corrupt gzip body: {exc}") from None
    if len(data) > MAX_XML_BYTES:
        raise DiscoveryError(f"gzip body expands beyond {MAX_XML_BYTES // 2**20} MiB")
    if not decompressor.eof:
        raise DiscoveryError("truncated gzip body")
    return data


def _xml_root(body: bytes) -> etree._Element:
    body = gunzip_if_needed(body).strip()
    if not body:
        raise DiscoveryError("empty document")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        # Feeds in the wild are often slightly broken; take what a recovering parser finds.
        recovering = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
        try:
            root = etree.fromstring(body, parser=recovering)
        except etree.XMLSyntaxError:
            root = None
        if root is None or not len(root):
            raise DiscoveryError(f"not well-formed XML: {exc}") from None
    return root


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child_text(element: etree._Element, *names: str) -> str | None:
    """Text of the first descendant whose local name is one of ``names`` (any namespace)."""
    for node in element.iter():
        if _local(node.tag) in names and node.text and node.text.strip():
            return str(node.text).strip()
    return None


def _texts(element: etree._Element) -> dict[str, str]:
    """The first non-empty text of each local name among ``element``'s descendants, in one
    pass: an archive sitemap has 20,000 entries, so this is the backfill's inner loop."""
    found: dict[str, str] = {}
    for node in element.iter():
        tag, text = node.tag, node.text
        if isinstance(tag, str) and text and text.strip():
            found.setdefault(tag.rpartition("}")[2], str(text).strip())
    return found


def parse_sitemap(body: bytes) -> Sitemap:
    """A sitemap, news sitemap or sitemap index, gzipped or not."""
    root = _xml_root(body)
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise DiscoveryError(f"not a sitemap (root element <{kind or root.tag}>)")
    entries = []
    for entry in root:
        if _local(entry.tag) not in ("url", "sitemap"):
            continue
        fields = _texts(entry)
        loc = fields.get("loc")
        if not loc:
            continue
        title = fields.get("title")  # news:title
        entries.append(
            Link(
                url=loc,
                title=" ".join(title.split()) if title else None,
                published=parse_date(fields.get("publication_date")),
                lastmod=parse_date(fields.get("lastmod")),
            )
        )
    if kind == "sitemapindex":
        return Sitemap(links=(), children=tuple(entries))
    return Sitemap(links=tuple(entries), children=())


def parse_feed(body: bytes) -> tuple[Link, ...]:
    """Items of an RSS 2.0, RSS 1.0 or Atom feed."""
    root = _xml_root(body)
    kind = _local(root.tag)
    if kind not in ("rss", "RDF", "feed"):
        raise DiscoveryError(f"not an RSS or Atom feed (root element <{kind or root.tag}>)")
    links = []
    for item in root.iter():
        if _local(item.tag) not in ("item", "entry"):
            continue
        url = _item_url(item)
        if not url:
            continue
        title = _child_text(item, "title")
        published = _child_text(item, "pubDate", "published", "date", "updated")
        links.append(
            Link(
                url=url,
                title=" ".join(title.split()) if title else None,
                published=parse_date(published),
            )
        )
    return tuple(links)


def _item_url(item: etree._Element) -> str | None:
    # FeedBurner wraps links in its own redirector and keeps the real one in origLink.
    orig = _child_text(item, "origLink")
    if orig:
        return orig
    for node in item:
        if _local(node.tag) != "link":
            continue
        href = node.get("href")
        if href and node.get("rel", "alternate") == "alternate":
            return href.strip()
        if node.text and node.text.strip():
            return str(node.text).strip()
    guid = item.find("guid")
    if guid is not None and guid.text and guid.get("isPermaLink", "true") == "true":
        return str(guid.text).strip()
    return None


def parse_listing(body: str, base_url: str) -> tuple[Link, ...]:
    """Every link on an HTML listing page, absolute; the spider keeps the article ones."""
    if not body.strip():
        raise DiscoveryError("empty listing page")
    try:
        tree = html.fromstring(body)
    except (etree.ParserError, ValueError) as exc:
        raise DiscoveryError(f"unreadable HTML: {exc}") from None
    seen: dict[str, Link] = {}
    for anchor in tree.iter("a"):
        href = (anchor.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:")):
            continue
        url = urljoin(base_url, href)
        seen.setdefault(url, Link(url=url))  # anchor text ("Read more") is no title hint
    return tuple(seen.values())

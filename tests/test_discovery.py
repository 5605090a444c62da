"""crawler/discovery.py on the real sitemap and feed captures, and on broken input."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from lxml import etree

from crawler.discovery import DiscoveryError, parse_feed, parse_listing, parse_sitemap

REAL = Path(__file__).parent / "fixtures/real"
RFERL_SITEMAPS = REAL / "rferl/sitemaps"
REUTERS_FEED = REAL / "reuters/feeds/reuters_rss_worldNews_2018-01-30.xml"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"


def _news_entries() -> list[tuple[str, str]]:
    """(loc, publication_date) of every <url> in the news sitemap, read independently."""
    root = etree.parse(str(RFERL_SITEMAPS / "rferl_sitemap_8_news_2025-05.xml")).getroot()
    ns = {"s": SITEMAP_NS, "n": NEWS_NS}
    return [
        (url.findtext("s:loc", namespaces=ns), url.findtext(".//n:publication_date", namespaces=ns))
        for url in root.findall("s:url", ns)
    ]


def test_news_sitemap_gives_every_entry_with_title_and_published():
    sitemap = parse_sitemap((RFERL_SITEMAPS / "rferl_sitemap_8_news_2025-05.xml").read_bytes())
    expected = _news_entries()
    assert sitemap.children == ()
    assert [link.url for link in sitemap.links] == [loc for loc, _ in expected]
    assert len(sitemap.links) >= 5
    for link in sitemap.links:
        assert link.title and link.title == link.title.strip()
        assert link.published and ISO_Z.match(link.published)


def test_news_sitemap_first_entry_is_read_exactly():
    sitemap = parse_sitemap((RFERL_SITEMAPS / "rferl_sitemap_8_news_2025-05.xml").read_bytes())
    first = sitemap.links[0]
    assert first.url == (
        "https://www.rferl.org/a/majlis-russian-chinese-influence-central-asia/33423647.html"
    )
    # The capture has a trailing space inside <news:title>.
    assert first.title == "Central Asia's New Position In Global Politics"
    assert first.published == "2025-05-25T10:55:00Z"


def test_gzipped_archive_chunk_gives_twenty_thousand_links_including_libya_stories():
    body = (RFERL_SITEMAPS / "rferl_sitemap_8_6_2025-05.xml.gz").read_bytes()
    assert body[:2] == b"\x1f\x8b"
    sitemap = parse_sitemap(body)
    assert len(sitemap.links) == 20000
    assert sitemap.children == ()
    urls = {link.url for link in sitemap.links}
    assert "https://www.rferl.org/a/icc_prosecutor_in_libya/24552510.html" in urls
    assert "https://www.rferl.org/a/us_president_meets_with_libya_pm/24508566.html" in urls
    assert sum("libya" in url for url in urls) >= 10


def test_sitemap_index_gives_children_and_no_links():
    sitemap = parse_sitemap((RFERL_SITEMAPS / "rferl_sitemap_index_2025-05.xml").read_bytes())
    assert sitemap.links == ()
    assert len(sitemap.children) >= 2
    first = sitemap.children[0]
    assert first.url == "https://www.rferl.org/sitemap_8_1.xml.gz"
    assert first.lastmod == "2025-04-20T17:38:23Z"
    assert all(child.url.startswith("https://www.rferl.org/") for child in sitemap.children)


def test_reuters_feedburner_feed_gives_the_orig_links_with_dates():
    links = parse_feed(REUTERS_FEED.read_bytes())
    raw = REUTERS_FEED.read_text(encoding="utf-8")
    orig = [u.replace("&amp;", "&") for u in re.findall(r"<feedburner:origLink>([^<]+)<", raw)]
    assert len(links) == len(orig) == 10
    assert [link.url for link in links] == orig
    for link in links:
        assert link.url.startswith("http://www.reuters.com/article/")
        assert "feedproxy" not in link.url
        assert link.title
        assert link.published and ISO_Z.match(link.published)
    # <pubDate>Tue, 30 Jan 2018 12:29:57 -0500</pubDate> is the second item's.
    assert "2018-01-30T17:29:57Z" in {link.published for link in links}


LISTING = """<html><body>
<a href="/world/africa/libya-story-2023-04-26/">Libya story</a>
<a href="https://www.reuters.com/world/africa/other-2023-04-27/">Other</a>
<a href="relative/page">Relative</a>
<a href="mailto:desk@reuters.com">Mail</a>
<a href="javascript:void(0)">JS</a>
<a href="#top">Top</a>
<a>No href</a>
<a href="/world/africa/libya-story-2023-04-26/">Same story again</a>
</body></html>"""


def test_listing_links_are_absolute_and_mailto_javascript_are_skipped():
    links = parse_listing(LISTING, "https://www.reuters.com/world/africa/")
    assert [link.url for link in links] == [
        "https://www.reuters.com/world/africa/libya-story-2023-04-26/",
        "https://www.reuters.com/world/africa/other-2023-04-27/",
        "https://www.reuters.com/world/africa/relative/page",
    ]
    assert all(link.title is None for link in links)


def test_empty_listing_page_is_an_error():
    with pytest.raises(DiscoveryError):
        parse_listing("  \n ", "https://www.reuters.com/")


def test_html_given_to_parse_sitemap_is_an_error():
    page = b"<!DOCTYPE html><html><head><title>x</title></head><body><p>Hi</p></body></html>"
    with pytest.raises(DiscoveryError):
        parse_sitemap(page)


@pytest.mark.parametrize(
    "body", [b"", b"   \n", gzip.compress(b"", mtime=0)], ids=["empty", "blank", "gzipped-empty"]
)
def test_empty_body_is_an_error(body):
    with pytest.raises(DiscoveryError, match="empty"):
        parse_sitemap(body)


def test_gzip_cut_inside_its_header_is_an_error():
    body = (RFERL_SITEMAPS / "rferl_sitemap_8_6_2025-05.xml.gz").read_bytes()
    with pytest.raises(DiscoveryError, match=r"truncated gzip|corrupt gzip"):
        parse_sitemap(body[:20])


def test_corrupt_gzip_is_an_error():
    body = bytearray((RFERL_SITEMAPS / "rferl_sitemap_8_6_2025-05.xml.gz").read_bytes())
    body[5000:5010] = b"\xff" * 10
    with pytest.raises(DiscoveryError, match="corrupt gzip"):
        parse_sitemap(bytes(body))


def test_truncated_gzip_is_an_error():
    body = (RFERL_SITEMAPS / "rferl_sitemap_8_6_2025-05.xml.gz").read_bytes()
    with pytest.raises(DiscoveryError):
        parse_sitemap(body[: len(body) // 2])


def test_xml_with_a_wrong_root_element_is_not_a_sitemap():
    with pytest.raises(DiscoveryError, match="not a sitemap"):
        parse_sitemap(b"<?xml version='1.0'?><rss><channel><item/></channel></rss>")


def test_a_sitemap_is_not_a_feed():
    body = (RFERL_SITEMAPS / "rferl_sitemap_8_news_2025-05.xml").read_bytes()
    with pytest.raises(DiscoveryError, match="not an RSS or Atom feed"):
        parse_feed(body)


@pytest.mark.parametrize("body", [b"hello", b"<a", b"<!-- only a comment -->"])
def test_non_xml_is_an_error(body):
    with pytest.raises(DiscoveryError, match="not well-formed XML"):
        parse_sitemap(body)


@pytest.mark.parametrize(
    "body",
    [b"\x00", b"\x00\x01 not xml <<<", gzip.compress(b"\x00", mtime=0)],
    ids=["nul", "binary", "gzipped-nul"],
)
def test_binary_garbage_is_a_discovery_error(body):
    with pytest.raises(DiscoveryError):
        parse_sitemap(body)


def test_broken_sitemap_still_yields_the_entries_before_the_break():
    body = (
        f'<?xml version="1.0"?><urlset xmlns="{SITEMAP_NS}">'
        "<url><loc>https://www.rferl.org/a/one/1.html</loc></url>"
        "<url><loc>https://www.rferl.org/a/two/2.html</loc></url>"
        "<url><loc>https://www.rferl.org/a/three/3.html</loc>"
        "<url><loc>https://www.rferl.org/a/four/4.html"
    ).encode()
    urls = [link.url for link in parse_sitemap(body).links]
    assert urls[:3] == [
        "https://www.rferl.org/a/one/1.html",
        "https://www.rferl.org/a/two/2.html",
        "https://www.rferl.org/a/three/3.html",
    ]


def test_broken_feed_still_yields_the_items_before_the_break():
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        b"<item><title>One</title><link>https://www.france24.com/en/20230915-a</link></item>"
        b"<item><title>Two</title><link>https://www.france24.com/en/20230916-b</link></item>"
        b"<item><title>Three <b>unclosed</title>"
    )
    links = parse_feed(body)
    assert [link.url for link in links][:2] == [
        "https://www.france24.com/en/20230915-a",
        "https://www.france24.com/en/20230916-b",
    ]
    assert [link.title for link in links][:2] == ["One", "Two"]


def test_atom_entry_link_href_is_used():
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title> A  title </title>'
        b'<link rel="alternate" href="https://factcheck.afp.com/doc.afp.com.ABC123"/>'
        b"<updated>2023-09-14T10:32:00+02:00</updated></entry></feed>"
    )
    (link,) = parse_feed(body)
    assert link.url == "https://factcheck.afp.com/doc.afp.com.ABC123"
    assert link.title == "A title"
    assert link.published == "2023-09-14T08:32:00Z"

"""crawler/urls.py: canonical article URLs and dedupe keys."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crawler.sources import load_sources
from crawler.urls import article_key, article_url, canonicalize_url


@pytest.fixture(scope="module")
def sources():
    return load_sources()


def test_http_becomes_https():
    assert canonicalize_url("http://www.rferl.org/a/x/1.html") == "https://www.rferl.org/a/x/1.html"


def test_host_is_lower_cased_but_path_is_not():
    assert canonicalize_url("https://WWW.RFERL.Org/a/Some-Slug/1.html") == (
        "https://www.rferl.org/a/Some-Slug/1.html"
    )


@pytest.mark.parametrize(
    "url",
    ["http://www.reuters.com:80/world/", "https://www.reuters.com:443/world/"],
)
def test_default_ports_are_dropped(url):
    assert canonicalize_url(url) == "https://www.reuters.com/world/"


def test_non_default_port_is_kept():
    assert canonicalize_url("http://127.0.0.1:8080/a/1.html") == "https://127.0.0.1:8080/a/1.html"


def test_fragment_is_dropped():
    assert canonicalize_url("https://www.rferl.org/a/x/1.html#comments") == (
        "https://www.rferl.org/a/x/1.html"
    )


@pytest.mark.parametrize(
    "param",
    [
        "utm_source=twitter",
        "utm_medium=social",
        "UTM_Campaign=x",
        "fbclid=IwAR0abc",
        "gclid=Cj0KCQ",
        "xtor=RSS-1",
        "feedType=RSS",
        "feedName=worldNews",
        "outputType=xml",
    ],
)
def test_tracking_parameters_are_stripped(param):
    assert canonicalize_url(f"https://www.france24.com/en/africa/20230915-x?{param}") == (
        "https://www.france24.com/en/africa/20230915-x"
    )


def test_other_query_parameters_are_kept_and_sorted():
    url = "https://example.com/p?z=1&utm_source=a&b=2&a=3&fbclid=q"
    assert canonicalize_url(url) == "https://example.com/p?a=3&b=2&z=1"


def test_reuters_feed_link_loses_feedburner_parameters():
    url = (
        "http://www.reuters.com/article/us-northkorea-missiles-usa/u-s-general-idUSKBN1FJ23Z"
        "?feedType=RSS&feedName=worldNews"
    )
    assert canonicalize_url(url) == (
        "https://www.reuters.com/article/us-northkorea-missiles-usa/u-s-general-idUSKBN1FJ23Z"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/news/story/amp", "https://example.com/news/story"),
        ("https://example.com/news/story/amp/", "https://example.com/news/story/"),
    ],
)
def test_trailing_amp_path_segment_is_removed(url, expected):
    assert canonicalize_url(url) == expected


def test_amp_inside_a_word_is_not_removed():
    assert canonicalize_url("https://example.com/news/champ") == "https://example.com/news/champ"


def test_empty_path_becomes_slash():
    assert canonicalize_url("https://www.reuters.com") == "https://www.reuters.com/"


def test_non_http_urls_are_returned_unchanged():
    assert canonicalize_url(" mailto:desk@rferl.org ") == "mailto:desk@rferl.org"


RFERL_ID = "31003211"
RFERL_CANONICAL = (
    "https://www.rferl.org/a/un-security-council-libya-russia-foreign-fighters/31003211.html"
)


@pytest.mark.parametrize(
    "url",
    [
        RFERL_CANONICAL,
        "https://www.rferl.org/a/31003211.html",
        "https://www.rferl.org/amp/un-security-council-libya-russia-foreign-fighters/31003211.html",
        "http://WWW.rferl.org/a/un-security-council-libya-russia-foreign-fighters/31003211.html"
        "?utm_source=x#top",
    ],
)
def test_rferl_url_forms_share_the_article_id_key(sources, url):
    assert article_key(url, sources["rferl"]) == f"rferl:{RFERL_ID}"


def test_rferl_amp_url_is_rewritten_to_the_article_url(sources):
    amp = (
        "https://www.rferl.org/amp/un-security-council-libya-russia-foreign-fighters/31003211.html"
    )
    assert article_url(amp, sources["rferl"]) == RFERL_CANONICAL


def test_rferl_section_url_has_no_id_so_its_key_is_the_url(sources):
    assert article_key("https://www.rferl.org/z/650", sources["rferl"]) == (
        "https://www.rferl.org/z/650"
    )


def test_reuters_key_is_the_canonical_url(sources):
    url = (
        "http://www.reuters.com/world/africa/libya-synthetic-oil-blockade-haftar-2023-04-26/"
        "?utm_source=rss#x"
    )
    expected = (
        "https://www.reuters.com/world/africa/libya-synthetic-oil-blockade-haftar-2023-04-26/"
    )
    assert article_key(url, sources["reuters"]) == expected


# --- properties ---------------------------------------------------------------------------

_PATH_TEXT = st.text(max_size=30)
_KEYS = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["utm_source", "utm_medium", "UTM_x", "fbclid", "xtor", "a", "id", "amp"]),
)
_HOSTS = st.sampled_from(["www.rferl.org", "WWW.Reuters.COM", "example.com", "127.0.0.1:8080"])


@st.composite
def http_urls(draw, encoded=False):
    """http(s) URLs with arbitrary text in path, query and fragment; ``encoded``: the path
    segments percent-encoded, as URLs in feeds and sitemaps are."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP"]))
    host = draw(_HOSTS)
    segments = draw(st.lists(_PATH_TEXT, max_size=4))
    path = "/".join(quote(s, safe="") if encoded else s for s in segments)
    pairs = draw(st.lists(st.tuples(_KEYS, st.text(max_size=10)), max_size=4))
    query = "&".join(f"{k}={v}" for k, v in pairs)
    fragment = draw(st.text(max_size=5))
    url = f"{scheme}://{host}/{path}"
    if draw(st.booleans()):
        url += "/amp"
    if query:
        url += "?" + query
    if fragment:
        url += "#" + fragment
    return url


@settings(max_examples=300, deadline=None)
@given(http_urls(encoded=True))
def test_canonicalize_url_is_idempotent_on_encoded_urls(url):
    once = canonicalize_url(url)
    assert canonicalize_url(once) == once


@example("https://www.rferl.org/a/x/1.html #comments")
@settings(max_examples=300, deadline=None)
@given(http_urls())
def test_canonicalize_url_is_idempotent(url):
    once = canonicalize_url(url)
    assert canonicalize_url(once) == once


def test_rferl_link_with_a_space_before_the_fragment_keeps_its_id_key(sources):
    url = "https://www.rferl.org/a/x/31003211.html #comments"
    assert article_key(url, sources["rferl"]) == "rferl:31003211"


@settings(max_examples=300, deadline=None)
@given(st.one_of(http_urls(), http_urls(encoded=True)))
def test_canonical_url_never_has_utm_parameters(url):
    assert not re.search(r"[?&]utm_", canonicalize_url(url), re.IGNORECASE)


@settings(max_examples=200, deadline=None)
@given(
    slug=st.one_of(st.none(), st.from_regex(r"[a-z0-9][a-z0-9-]{0,40}", fullmatch=True)),
    article_id=st.integers(min_value=1, max_value=10**10),
    amp=st.booleans(),
    tracking=st.booleans(),
)
def test_rferl_article_ids_are_kept(sources, slug, article_id, amp, tracking):
    section = "amp" if amp and slug else "a"
    url = f"https://www.rferl.org/{section}/{slug + '/' if slug else ''}{article_id}.html"
    if tracking:
        url += "?utm_source=feed&fbclid=1"
    assert article_key(url, sources["rferl"]) == f"rferl:{article_id}"

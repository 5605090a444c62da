"""The relevance pre-check: a page naming no relevance term anywhere is judged irrelevant
without extraction, and no page the full pipeline would keep is ever lost that way."""

from __future__ import annotations

import asyncio
import html as html_lib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html
from scrapy.utils.test import get_crawler

from crawler.items import Page
from crawler.sources import SiteQuirks, load_sites
from pipelines import Rejected, precheck
from pipelines.explain import canonical_url
from pipelines.extract import ExtractPipeline, extract_page
from pipelines.precheck import PreCheck, page_may_be_relevant
from pipelines.relevance import compile_terms, score_all
from tests.wire_stories import LAYOUTS, load_stories, story_html

FIXTURES = Path(__file__).parent / "fixtures"
TERMS = compile_terms()
# Every captured or synthetic page: real licensee and agency pages (mostly not about Libya),
# the wire-credit set (one BBC story about Libya) and the synthetic Libya and passing-mention
# pages of the offline demo.
PAGES = sorted((FIXTURES / "real").rglob("*.html")) + sorted(
    (FIXTURES / "synthetic").rglob("*.html")
)
QUIRKS = [None, *load_sites().values()]


def quirks_for(page_html: str) -> list[SiteQuirks | None]:
    """The rules a crawl could extract this page with: the generic ones, and the selectors of
    the site the page says it belongs to (every site's when it names none)."""
    url = canonical_url(page_html)
    own = [q for q in QUIRKS[1:] if q and url and urlsplit(url).hostname in q.hosts]
    return [None, *own] if url else QUIRKS


def names_a_term(page_html: str, url: str, *, every_quirk: bool) -> bool:
    """Does any extraction of the page (generic, or with its site's selectors) name a term?"""
    for quirks in quirks_for(page_html) if every_quirk else [None]:
        extracted = extract_page(page_html, url, quirks=quirks)
        if extracted and score_all(extracted.title, extracted.text, TERMS).matched:
            return True
    return False


def test_no_captured_page_the_precheck_rejects_names_a_term_once_extracted():
    rejected = 0
    for path in PAGES:
        page_html = path.read_text(encoding="utf-8", errors="replace")
        if not page_may_be_relevant(page_html, TERMS):
            rejected += 1
            assert not names_a_term(page_html, "https://example.org/a", every_quirk=True), path
    # Most of these pages are not about Libya: the pre-check must actually spare their
    # extraction, not pass everything.
    assert rejected >= len(PAGES) // 2


@pytest.mark.parametrize("layout", LAYOUTS)
def test_no_wire_story_the_precheck_rejects_names_a_term_and_every_kept_story_passes(layout):
    rejected = 0
    for story in load_stories():
        page_html = story_html(story, layout)
        if not page_may_be_relevant(page_html, TERMS):
            rejected += 1
            assert not story.about_libya, story.id
            assert not names_a_term(page_html, "https://www.reuters.com/a", every_quirk=False)
    assert rejected >= 250  # of 289 stories, 14 name a Libya term


def test_synthetic_libya_pages_all_pass_the_precheck():
    libya = [p for p in PAGES if "libya" in p.name or "wagner" in p.name]
    assert len(libya) >= 6
    for path in libya:
        assert page_may_be_relevant(path.read_text(encoding="utf-8"), TERMS), path


def page(body: str, head: str = "") -> str:
    return f"<html><head><title>Markets</title>{head}</head><body><p>{body}</p></body></html>"


@pytest.mark.parametrize(
    ("head", "body"),
    [
        ("", "Oil from Libya."),
        ("", "OIL FROM LIBYA."),
        ("", "Oil from Lib<b>ya</b>."),  # a word split by inline markup
        ("", "Oil from Lib&shy;ya."),
        ("", "Oil from &#76;ibya."),  # numeric entity
        ("", "Forces of the Government of National<br>\nAccord advanced."),
        ("", "Forces of the Government   of National Accord advanced."),
        ("", "Ras&nbsp;Lanuf terminal"),
        ("", "اشتباكات في &#1591;&#1585;&#1575;&#1576;&#1604;&#1587;"),  # طرابلس as entities
        ('<meta name="description" content="Oil from Libya">', "Oil."),
        ('<meta property="og:title" content="Talks in Tripoli">', "Talks."),
        (
            '<script type="application/ld+json">{"headline": "\\u0644\\u064a\\u0628\\u064a\\u0627"}'
            "</script>",
            "Talks.",
        ),  # ليبيا, JSON-escaped
        ("", "Fighting in Misurata and Sebha"),
        ("", "Field Marshal Hifter"),
        ("", "the LNA said"),
        ("", "LİBYA'DA ÇATIŞMA"),  # Turkish capitals: the regex takes İ for i
        ("", "Government of National\u00a0Accord"),  # a no-break space character
    ],
)
def test_a_term_anywhere_in_the_page_passes_the_precheck(head, body):
    assert page_may_be_relevant(page(body, head), TERMS)


@pytest.mark.parametrize(
    "body",
    [
        "Stocks rose in London and Paris.",
        "The gna of the signal",  # the acronym is case-sensitive
        "A government of national reconciliation was formed in Pretoria.",
        "<script>var tags = 'libya,haftar';</script>Stocks rose.",  # script code is never text
        "<style>.libya { color: red }</style>Stocks rose.",
    ],
)
def test_a_page_without_any_term_outside_code_fails_the_precheck(body):
    assert not page_may_be_relevant(page(body), TERMS)


def test_a_feed_title_naming_libya_passes_a_page_that_does_not():
    assert not page_may_be_relevant(page("Stocks rose."), TERMS)
    assert page_may_be_relevant(page("Stocks rose."), TERMS, "Libya oil output")


def test_a_term_the_precheck_cannot_reduce_to_text_passes_every_page():
    assert page_may_be_relevant(page("Stocks rose."), compile_terms([r"[A-Z]\w{4}\b"]))
    assert not page_may_be_relevant(page("Stocks rose."), compile_terms([r"\w+ crisis"]))
    assert not page_may_be_relevant(page("Stocks rose."), compile_terms([r"Sudan\w*"]))
    assert page_may_be_relevant(page("Sudanese refugees"), compile_terms([r"Sudan\w*"]))
    ras = compile_terms([r"\bRas\s+Lanuf\b"])
    assert page_may_be_relevant(page("Ras<br>\n  Lanuf"), ras)
    assert not page_may_be_relevant(page("Ras Tanura; Lanuf"), ras)


def test_case_sensitive_and_anchored_terms_are_looked_for_as_they_match():
    terms = compile_terms([r"(?-i:\bUNSMIL\b)", r"^Sahel$"])
    assert page_may_be_relevant(page("The UNSMIL envoy"), terms)
    assert not page_may_be_relevant(page("the unsmil envoy"), terms)
    assert page_may_be_relevant(page("Sahel"), terms)


_WORDS = st.sampled_from(
    ["Libya", "Tripoli", "Lebanon", "oil", "talks", "Haftar", "ليبيا", "the", "Ras Lanuf", ","]
)
_MARKUP = st.sampled_from(
    ["", " ", "<b>", "</b>", "<br>", "\n", "&nbsp;", "<i class='x'>", "&amp;"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_WORDS, _MARKUP, st.booleans()), max_size=12))
def test_whatever_the_markup_text_naming_a_term_passes_the_precheck(parts):
    chunks = []
    for word, markup, split in parts:
        if split and len(word) > 2:  # markup inside the word
            word = word[:2] + markup + word[2:]
        chunks.append(word + markup)
    page_html = page(" ".join(chunks))
    text = " ".join(lxml_html.fromstring(page_html).text_content().split())
    if any(p.search(text) for p in TERMS.values()):
        assert page_may_be_relevant(page_html, TERMS), text


def article_page(body: str) -> Page:
    return Page(
        source="afp",
        url="https://www.france24.com/en/africa/x",
        key="afp:x",
        final_url="https://www.france24.com/en/africa/x",
        status=200,
        html=page(html_lib.escape(body)),
        encoding="utf-8",
        fetched="2026-01-01T00:00:00Z",
        discovered_via="rss",
    )


def test_the_extract_pipeline_judges_a_page_naming_no_term_without_extracting_it(monkeypatch):
    crawler = get_crawler(settings_dict={})
    pipeline = ExtractPipeline(crawler)

    async def in_this_process(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)  # what the worker runs, run here

    def no_extraction(*args: object, **kwargs: object) -> None:
        raise AssertionError("extracted a page that names no term")

    pipeline.workers.run = in_this_process  # type: ignore[method-assign]
    monkeypatch.setattr(precheck, "extract_page", no_extraction)
    with pytest.raises(Rejected) as rejected:
        asyncio.run(pipeline.process_item(article_page("Stocks rose in Nairobi.")))
    assert rejected.value.outcome == "irrelevant"
    assert "pre-checked" in str(rejected.value)
    assert crawler.stats is not None
    assert crawler.stats.get_value("newsmon/relevance/prechecked") == 1
    assert crawler.stats.get_value("newsmon/relevance/precheck_rejected") == 1
    assert crawler.stats.get_value("newsmon/rejected/irrelevant") == 1


def test_a_page_naming_a_term_goes_on_to_extraction():
    crawler = get_crawler(settings_dict={})
    pipeline = ExtractPipeline(crawler)

    class ReachedThePool(Exception):
        pass

    async def run(*args: object, **kwargs: object) -> None:
        raise ReachedThePool

    pipeline.workers.run = run  # type: ignore[method-assign]
    with pytest.raises(ReachedThePool):
        asyncio.run(pipeline.process_item(article_page("Clashes in Tripoli.")))
    assert crawler.stats is not None
    assert crawler.stats.get_value("newsmon/relevance/prechecked") == 1
    assert crawler.stats.get_value("newsmon/relevance/precheck_rejected") is None


@pytest.mark.parametrize(
    "overrides",
    [{"NEWSMON_RELEVANCE_FILTER": False}, {"NEWSMON_RELEVANCE_MIN_SCORE": 0}],
)
def test_no_precheck_when_every_page_would_be_kept(overrides):
    assert PreCheck.from_settings(get_crawler(settings_dict=overrides).settings).terms is None
    assert PreCheck.from_settings(get_crawler(settings_dict={}).settings).terms is not None

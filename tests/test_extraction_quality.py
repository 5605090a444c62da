"""newsmon's extraction on every real captured page with a reference, relevance filter off:
title, publication time, authors, and the text's first and last sentences."""

from __future__ import annotations

import pytest

from crawler.sources import load_sites
from crawler.urls import host_of
from pipelines.extract import extract_page
from tests.gold import CASES, GoldCase, checks


@pytest.mark.parametrize("case", CASES, ids=[c.page.rsplit("/", 1)[-1][:-5] for c in CASES])
def test_extraction_matches_the_reference(case: GoldCase) -> None:
    extracted = extract_page(case.html, case.url, quirks=load_sites().get(host_of(case.url)))
    assert extracted is not None
    results = checks(case, extracted.title, extracted.published, extracted.authors, extracted.text)
    failed = [name for name, ok in results.items() if ok is False]
    assert not failed, (
        f"{failed}: {extracted.title!r} {extracted.published} "
        f"{extracted.authors} {extracted.text[:150]!r} ... {extracted.text[-150:]!r}"
    )

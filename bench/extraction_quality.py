"""Extraction quality on the real captured pages: newsmon against plain Trafilatura.

    python -m bench.extraction_quality

For every page with a reference, runs the checks of tests/gold.py (title, publication time,
authors, first and last sentence, snippets) on newsmon's ``extract_page`` and on plain
``trafilatura.bare_extraction(with_metadata=True)``, and prints what each gets right.
"""

from __future__ import annotations

import trafilatura

from crawler.dates import parse_date
from crawler.sources import load_sites
from crawler.urls import host_of
from pipelines.extract import extract_page
from tests.gold import CASES, checks


def plain_trafilatura(html: str, url: str) -> tuple[str | None, str | None, list[str], str]:
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if doc is None:
        return None, None, [], ""
    authors = [a.strip() for a in (doc.author or "").split(";") if a.strip()]
    return doc.title, parse_date(doc.date), authors, doc.text or ""


def main() -> None:
    sites = load_sites()
    totals = {"newsmon": [0, 0], "trafilatura": [0, 0]}
    print(f"{'page':<52} {'newsmon':>9} {'trafilatura':>12}  checks newsmon passes alone")
    for case in CASES:
        ours = extract_page(case.html, case.url, quirks=sites.get(host_of(case.url)))
        assert ours is not None
        mine = checks(case, ours.title, ours.published, ours.authors, ours.text)
        theirs = checks(case, *plain_trafilatura(case.html, case.url))
        row = []
        for name, results in (("newsmon", mine), ("trafilatura", theirs)):
            scored = [ok for ok in results.values() if ok is not None]
            totals[name][0] += sum(scored)
            totals[name][1] += len(scored)
            row.append(f"{sum(scored)}/{len(scored)}")
        only = [k for k, ok in mine.items() if ok and not theirs.get(k)]
        print(
            f"{case.page.rsplit('/', 1)[-1][:-5]:<52} {row[0]:>9} {row[1]:>12}  {', '.join(only)}"
        )
    for name, (passed, total) in totals.items():
        print(f"{name}: {passed}/{total} checks ({100 * passed / total:.0f}%)")


if __name__ == "__main__":
    main()

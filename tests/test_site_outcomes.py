"""Per-site outcomes of a run: a blocked home site is told apart from a dead source."""

from __future__ import annotations

from pipelines.site_outcomes import copy_elsewhere
from scheduler.status import sites_summary

BLOCKED = {"responses": 0, "pages": 0, "stored": 0, "blocked": "HTTP 401 Unauthorized"}


def test_copy_read_on_other_sites_is_said_with_its_counts():
    sites = {
        "www.reuters.com": BLOCKED,
        "english.ahram.org.eg": {"responses": 4, "pages": 3, "stored": 1, "blocked": None},
    }
    assert copy_elsewhere(sites, "Reuters") == (
        "Reuters copy read on 1 other site (english.ahram.org.eg: 3 pages, 1 stored)"
    )


def test_nothing_is_added_without_a_block_or_without_pages_elsewhere():
    ok = {"responses": 2, "pages": 1, "stored": 1, "blocked": None}
    listing_only = {"responses": 1, "pages": 0, "stored": 0, "blocked": None}
    assert copy_elsewhere({"a.org": ok, "b.org": ok}, "AFP") == ""
    assert copy_elsewhere({"www.reuters.com": BLOCKED, "b.org": listing_only}, "Reuters") == ""


def test_status_shows_each_site_only_for_sources_read_on_several():
    one = {"www.rferl.org": {"responses": 3, "pages": 2, "stored": 1, "blocked": None}}
    assert sites_summary(one) == ""
    two = {**one, "www.reuters.com": BLOCKED}
    assert sites_summary(two) == " [www.reuters.com blocked; www.rferl.org 2 pages, 1 stored]"

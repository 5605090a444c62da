"""News changes (issue #8): a page that changes gets a new version, an unchanged one costs a
304, a stub that grows is judged again, a shared canonical never merges two stories, and a
live crawl reads only the recent part of a source.

Each test runs the real `newsmon crawl rferl` twice against a loopback www.rferl.org whose
pages are built from the synthetic RFE/RL page's structure, with dates relative to now.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.items import Article
from pipelines.freshness import Known
from pipelines.store import Archive
from pipelines.versions import paragraph_diff, record_revision
from tests.conftest import WORKER, open_db, run_newsmon
from tests.siteserver import FIXTURES, REVISED_STORY, Route, Site, publish_revision

TEMPLATE = (
    FIXTURES / "synthetic/rferl/rferl_2020-12-20_wagner-libya-sirte-jufra_synthetic.html"
).read_text(encoding="utf-8")
TEMPLATE_URL = (
    "https://www.rferl.org/a/wagner-libya-sirte-jufra-mercenaries-synthetic/31010001.html"
)
TEMPLATE_TITLE = (
    "Wagner Fighters Dig In Around Libya&#39;s Sirte And Al-Jufra Despite Cease-Fire Deal"
)
LIBYA = [
    "Fighters loyal to rival Libyan governments clashed in Tripoli overnight, officials said, "
    "in the worst violence in the Libyan capital this year.",
    "The health ministry in Tripoli said at least 12 people were killed in the fighting between "
    "armed groups around the city's airport.",
    "The UN mission in Libya called for an immediate cease-fire and urged all sides to protect "
    "civilians caught in the fighting.",
]
NOT_LIBYA = [
    "Heavy snow closed schools across the region on Tuesday and cut power to thousands of "
    "homes, local officials said in a statement issued in the morning.",
    "Forecasters expect more snow later in the week, and road crews have been working through "
    "the night to keep the main highways open for traffic.",
]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(**delta: float) -> str:
    return iso(datetime.now(UTC) - timedelta(**delta))


def article_page(
    path: str,
    title: str,
    paragraphs: list[str],
    *,
    canonical: str | None = None,
    published: str = "2020-12-20 10:15:00Z",
) -> bytes:
    """The synthetic RFE/RL page with another URL, headline, date and text."""
    page = TEMPLATE.replace(TEMPLATE_URL, canonical or f"https://www.rferl.org{path}")
    page = page.replace(TEMPLATE_TITLE, html.escape(title)).replace(
        "Wagner Fighters Dig In Around Libya\\u0027s Sirte And Al-Jufra Despite Cease-Fire Deal",
        title,
    )
    page = page.replace("2020-12-20 10:15:00Z", published)
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    page = re.sub(
        r"(<div class=\"wsw\">\n)(?:<p>.*</p>\n)+", lambda m: m.group(1) + body + "\n", page
    )
    return page.encode("utf-8")


def sitemap(entries: list[tuple[str, str]]) -> Route:
    """The latest-articles sitemap: (path, lastmod) per article."""
    urls = "".join(
        f"<url><loc>https://www.rferl.org{path}</loc><lastmod>{lastmod}</lastmod></url>"
        for path, lastmod in entries
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )
    return Route(body=body.encode(), content_type="application/xml")


class RferlSite:
    """A loopback www.rferl.org whose pages and latest sitemap a test rewrites between runs."""

    def __init__(self, tmp_path: Path):
        robots = (FIXTURES / "synthetic/rferl/rferl_robots_synthetic.txt").read_bytes()
        self.site = Site(
            "www.rferl.org",
            {
                "/robots.txt": Route(body=robots, content_type="text/plain"),
                "/sitemap_8_news.xml.gz": sitemap([]),
                "/sitemap_8_latest.xml.gz": sitemap([]),
            },
        ).start()
        self.db_path = tmp_path / "news.db"
        self.lastmod: dict[str, str] = {}

    def publish(self, path: str, page: bytes, lastmod: str | None = None) -> None:
        self.site.routes[path] = Route(body=page)
        self.lastmod[path] = lastmod or ago(minutes=1)
        self.site.routes["/sitemap_8_latest.xml.gz"] = sitemap(list(self.lastmod.items()))

    def crawl(self, *settings: str) -> dict:
        self.site.requests.clear()
        self.site.not_modified.clear()
        result = run_newsmon(
            "crawl",
            "rferl",
            "--db",
            str(self.db_path),
            "-s",
            "DOWNLOAD_DELAY=0",
            "-s",
            "AUTOTHROTTLE_ENABLED=false",
            *WORKER,
            *[arg for setting in settings for arg in ("-s", setting)],
            "--origin-map",
            f"https://www.rferl.org={self.site.origin}",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        db = open_db(self.db_path)
        return db.execute_returning_dicts("select * from crawl_runs order by id desc limit 1")[0]

    def article_requests(self) -> list[str]:
        return [p for p in self.site.requests if p.startswith("/a/")]

    @property
    def db(self):
        return open_db(self.db_path)


@pytest.fixture
def rferl(tmp_path):
    site = RferlSite(tmp_path)
    yield site
    site.site.stop()


STORY = "/a/libya-tripoli-clashes/33000001.html"
URL = "https://www.rferl.org" + STORY


def test_updated_page_becomes_version_2_and_the_diff_shows_the_change(rferl):
    rferl.publish(STORY, article_page(STORY, "Clashes in Tripoli", LIBYA), ago(hours=2))
    first = rferl.crawl()
    assert first["stored"] == 1
    revised = [LIBYA[0], LIBYA[1].replace("at least 12", "at least 27"), LIBYA[2]]
    rferl.publish(STORY, article_page(STORY, "Clashes in Tripoli kill 27", revised), ago(seconds=0))

    second = rferl.crawl()

    assert rferl.article_requests() == [STORY]
    assert (second["updated"], second["refetched"], second["stored"]) == (1, 1, 0)
    (row,) = rferl.db.query("select * from articles")
    assert row["title"] == "Clashes in Tripoli kill 27" and "at least 27" in row["text"]
    assert row["modified"] and row["last_seen"] >= row["first_seen"]
    versions = list(rferl.db.query("select * from article_versions order by version"))
    assert [(v["article_id"], v["version"]) for v in versions] == [(row["id"], 1), (row["id"], 2)]
    # Each names the run that fetched it; the article, the run that first stored it.
    assert [row["run"], *(v["run"] for v in versions)] == [first["id"], first["id"], second["id"]]
    assert "at least 12" in versions[0]["text"] and versions[1]["text"] == row["text"]
    assert versions[0]["content_hash"] != versions[1]["content_hash"]
    changes = paragraph_diff(versions[0]["text"], versions[1]["text"])
    assert [c.kind for c in changes] == ["same", "changed", "same"]
    assert ("removed", "12") in changes[1].words and ("added", "27") in changes[1].words
    # The full-text index follows the newest text.
    hits = rferl.db.execute("select rowid from articles_fts where articles_fts match '27'")
    assert [h[0] for h in hits] == [row["id"]]


def test_unchanged_page_costs_a_304_and_only_moves_last_seen(rferl):
    rferl.publish(STORY, article_page(STORY, "Clashes in Tripoli", LIBYA), ago(hours=2))
    rferl.crawl()
    (before,) = rferl.db.query("select last_seen from seen_urls where key = 'rferl:33000001'")

    no_change = rferl.crawl()
    assert rferl.article_requests() == []  # nothing says the page changed: not asked
    assert (no_change["not_modified"], no_change["refetched"]) == (0, 0)

    rferl.publish(STORY, article_page(STORY, "Clashes in Tripoli", LIBYA), ago(seconds=0))
    touched = rferl.crawl()  # the sitemap says it changed; the page says it did not

    assert rferl.site.not_modified == [STORY]
    assert (touched["not_modified"], touched["refetched"], touched["updated"]) == (1, 0, 0)
    assert rferl.db.table("article_versions").count == 1
    (after,) = rferl.db.query("select last_seen from seen_urls where key = 'rferl:33000001'")
    assert after["last_seen"] > before["last_seen"]
    assert touched["status"] == "ok"


def test_an_update_in_the_second_the_page_was_fetched_in_is_fetched_again_once(rferl):
    rferl.publish(STORY, article_page(STORY, "Clashes in Tripoli", LIBYA), ago(hours=2))
    rferl.crawl()
    (seen,) = rferl.db.query("select last_seen from seen_urls where key = 'rferl:33000001'")
    revised = [LIBYA[0], LIBYA[1].replace("at least 12", "at least 27"), LIBYA[2]]
    # The sitemap's lastmod names the very second of our fetch: the update may be after it.
    page = article_page(STORY, "Clashes in Tripoli kill 27", revised)
    rferl.publish(STORY, page, seen["last_seen"])

    second = rferl.crawl()
    assert rferl.article_requests() == [STORY]
    assert (second["updated"], second["refetched"]) == (1, 1)
    (row,) = rferl.db.query("select title from articles")
    assert row["title"] == "Clashes in Tripoli kill 27"
    # Once: the fetch moved last_seen on and kept the entry's date (the unit test below).
    (state,) = rferl.db.query("select lastmod from fetch_state where key = 'rferl:33000001'")
    assert state["lastmod"] == seen["last_seen"]
    (after,) = rferl.db.query("select last_seen from seen_urls where key = 'rferl:33000001'")
    assert after["last_seen"] > seen["last_seen"]


@pytest.mark.parametrize(
    ("link_date", "lastmod", "changed"),
    [
        ("2026-11-30T12:00:08Z", "2026-11-30T11:00:00Z", True),  # after we judged it
        ("2026-11-30T12:00:04Z", "2026-11-30T11:00:00Z", False),  # before the fetch
        ("2026-11-30T12:00:05Z", "2026-11-30T11:00:00Z", True),  # in the fetch's second
        ("2026-11-30T12:00:06Z", "2026-11-30T11:00:00Z", True),  # while it was judged
        ("2026-11-30T12:00:05Z", "2026-11-30T12:00:05Z", False),  # the entry we fetched from
        ("2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z", False),  # a future date, seen
        ("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z", True),  # a later future date
    ],
)
def test_a_discovery_date_counts_as_a_change_only_if_it_may_be_after_our_fetch(
    link_date: str, lastmod: str, changed: bool
) -> None:
    known = Known(
        outcome="stored",
        attempts=1,
        first_seen="2026-11-30T10:00:00Z",
        last_seen="2026-11-30T12:00:07Z",  # written once the page was extracted and stored
        published=None,
        original_stored=True,
        etag='"v1"',
        last_modified=None,
        lastmod=lastmod,
        checked="2026-11-30T12:00:05Z",  # when the response arrived
    )
    assert known.changed_since_fetch(link_date) is changed


def test_a_page_whose_refetch_keeps_failing_is_not_asked_again_each_run() -> None:
    """A failed fetch moves last_seen but leaves the validators (and checked) of the page
    we judged: a date after that judging but before the failure is not a change again."""
    known = Known(
        outcome="stored",
        attempts=1,
        first_seen="2026-11-30T10:00:00Z",
        last_seen="2026-11-30T18:00:00Z",  # a failed refetch, hours after the fetch
        published=None,
        original_stored=True,
        etag='"v1"',
        last_modified=None,
        lastmod="2026-11-30T11:00:00Z",
        checked="2026-11-30T12:00:05Z",
    )
    assert not known.changed_since_fetch("2026-11-30T12:00:06Z")
    assert not known.changed_since_fetch("2026-11-30T17:00:00Z")
    assert known.changed_since_fetch("2026-11-30T18:00:01Z")


def test_recent_article_is_rechecked_within_the_budget(rferl):
    published = ago(hours=1).replace("T", " ")
    page = article_page(STORY, "Clashes in Tripoli", LIBYA, published=published)
    rferl.publish(STORY, page, ago(hours=1))
    rferl.crawl()
    soon_after = rferl.crawl()
    assert rferl.article_requests() == [] and soon_after["not_modified"] == 0  # just checked
    # Fifty minutes pass: the last check, ten minutes after publication, is now old.
    checked = ago(minutes=50)
    db = rferl.db
    with db.conn:
        db.execute("update seen_urls set last_seen = ?", [checked])
        db.execute("update fetch_state set checked = ?", [checked])

    without_budget = rferl.crawl("NEWSMON_RECHECK_BUDGET=0")
    assert rferl.article_requests() == [] and without_budget["not_modified"] == 0
    rechecked = rferl.crawl()

    assert rferl.site.not_modified == [STORY]  # young, so asked again, conditionally
    assert rechecked["not_modified"] == 1


def test_stub_that_becomes_a_libya_story_is_judged_again_and_stored(rferl):
    rferl.publish(STORY, article_page(STORY, "Snow closes schools", NOT_LIBYA), ago(hours=3))
    first = rferl.crawl()
    assert first["irrelevant"] == 1 and first["stored"] == 0
    rferl.publish(STORY, article_page(STORY, "Clashes in Tripoli", LIBYA), ago(seconds=0))
    second = rferl.crawl()

    assert second["stored"] == 1
    (row,) = rferl.db.query("select outcome, attempts from seen_urls where key = 'rferl:33000001'")
    assert (row["outcome"], row["attempts"]) == ("stored", 1)  # attempts: of this outcome


def test_a_revision_brings_its_agency_with_the_evidence_for_it(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path / "news.db"))
    first = Article(
        source="afp", url="https://www.france24.com/en/libya-1", key="afp:libya-1",
        requested_url="https://www.france24.com/en/libya-1", requested_key="afp:libya-1",
        title="Clashes in Tripoli", text=LIBYA[0], published=None, modified=None, authors=[],
        language="en", description=None, site="www.france24.com", agency="AFP",
        credit=["byline: AFP"], fetched=ago(hours=1), discovered_via="rss", html="<p>x</p>",
        content_hash="v1",
    )  # fmt: skip
    assert archive.store_article(first)
    revised = replace(
        first,
        text=LIBYA[0] + " (Reuters) contributed.",
        content_hash="v2",
        agency="AFP, Reuters",
        credit=["byline: AFP", "text: (Reuters)"],
        language="fr",
        fetched=ago(seconds=0),
    )
    assert record_revision(archive.db, 1, revised).changed
    (row,) = archive.db.query("select agency, credit, language from articles")
    assert row["agency"] == "AFP, Reuters"
    assert json.loads(row["credit"]) == ["byline: AFP", "text: (Reuters)"]
    assert row["language"] == "fr"


@pytest.mark.parametrize("order", ["a_first", "b_first"])
def test_pages_sharing_a_bogus_canonical_are_both_stored_under_their_own_urls(rferl, order):
    a, b = "/a/libya-story-one/33000011.html", "/a/libya-story-two/33000012.html"
    pages = {
        a: article_page(a, "Clashes in Tripoli", LIBYA, canonical="https://www.rferl.org/"),
        b: article_page(
            b,
            "Talks in Libya",
            [p.replace("Tripoli", "Benghazi") for p in LIBYA],
            canonical="https://www.rferl.org/",
        ),
    }
    for path in [a, b] if order == "a_first" else [b, a]:
        rferl.publish(path, pages[path], ago(hours=1))

    run = rferl.crawl()

    stored = {r["url"] for r in rferl.db.query("select url from articles")}
    assert stored == {"https://www.rferl.org" + a, "https://www.rferl.org" + b}
    assert run["duplicates"] == 0


@pytest.mark.parametrize("order", ["a_first", "b_first"])
def test_different_stories_claiming_one_article_url_are_never_merged(rferl, order):
    a, b = "/a/libya-story-one/33000011.html", "/a/libya-story-two/33000012.html"
    claimed = "https://www.rferl.org/a/libya-story-hub/33000010.html"
    pages = {
        a: article_page(a, "Clashes in Tripoli", LIBYA, canonical=claimed),
        b: article_page(
            b,
            "Talks in Libya",
            [p.replace("Tripoli", "Benghazi") for p in LIBYA],
            canonical=claimed,
        ),
    }
    for path in [a, b] if order == "a_first" else [b, a]:
        rferl.publish(path, pages[path], ago(hours=1))

    rferl.crawl()

    titles = {r["title"] for r in rferl.db.query("select title from articles")}
    assert titles == {"Clashes in Tripoli", "Talks in Libya"}
    assert rferl.db.table("duplicates").count == 0


def test_duplicates_table_names_the_followed_link_and_the_original_stays_stored(rferl):
    a, b = "/a/libya-story-one/33000011.html", "/a/libya-story-copy/33000012.html"
    rferl.publish(a, article_page(a, "Clashes in Tripoli", LIBYA), ago(hours=2))
    rferl.crawl()
    # The same story under another link, claiming the first one's URL.
    rferl.publish(
        b,
        article_page(b, "Clashes in Tripoli", LIBYA, canonical="https://www.rferl.org" + a),
        ago(hours=1),
    )

    run = rferl.crawl()

    assert run["duplicates"] == 1
    (dup,) = rferl.db.query("select * from duplicates")
    assert dup["url"] == "https://www.rferl.org" + b  # the link followed
    assert dup["duplicate_of"] == "https://www.rferl.org" + a
    outcomes = {
        r["key"]: (r["outcome"], r["article_id"]) for r in rferl.db.query("select * from seen_urls")
    }
    (original,) = rferl.db.query("select id from articles")
    assert outcomes == {"rferl:33000011": ("stored", original["id"]),
                        "rferl:33000012": ("duplicate", original["id"])}  # fmt: skip
    assert dup["duplicate_of_id"] == original["id"]  # the same article by key


def test_first_run_reads_only_the_live_window(rferl):
    recent, old = "/a/libya-recent/33000021.html", "/a/libya-old/33000022.html"
    rferl.publish(recent, article_page(recent, "Clashes in Tripoli", LIBYA), ago(days=2))
    rferl.publish(old, article_page(old, "Talks in Libya", LIBYA[::-1]), ago(days=30))

    rferl.crawl()

    assert rferl.article_requests() == [recent]
    rferl.crawl("NEWSMON_LIVE_DAYS=0")  # no window for this run: the old entry too
    assert rferl.article_requests() == [old]


def test_offline_demo_update_shows_as_version_2(demo_crawl, sites, crawl, tmp_path):
    """The README's walk-through: crawl the demo sites, publish the revision, crawl again."""
    assert demo_crawl.copy(tmp_path) == crawl.db_path  # the first crawl, as the README's
    publish_revision(sites["www.rferl.org"])

    again = crawl()

    assert again.returncode == 0, again.stderr
    assert "updated" in again.stdout.splitlines()[0]
    db = open_db(crawl.db_path)
    (row,) = db.query(
        "select a.text, count(v.id) as versions from articles a "
        "join article_versions v on v.article_id = a.id where a.url like ? group by a.id",
        ["%" + REVISED_STORY],
    )
    assert row["versions"] == 2 and "more than 1,000 Wagner contractors" in row["text"]
    (run,) = db.query("select * from crawl_runs where source = 'rferl' order by id desc limit 1")
    assert (run["updated"], run["refetched"]) == (1, 1)


def test_duplicate_of_an_article_never_stored_is_not_final(tmp_path):
    archive = Archive.open(str(tmp_path / "news.db"))
    lost = "https://www.rferl.org/a/lost/1.html"  # its write failed: no articles row
    archive.record_outcome(
        "rferl",
        [("rferl:2", "https://www.rferl.org/a/copy/2.html")],
        "duplicate",
        "same text",
        duplicate_of=lost,
    )
    assert "rferl:2" not in archive.settled_keys()
    archive.close()

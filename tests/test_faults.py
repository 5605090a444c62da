"""Fault injection: every way a site, a feed or a page can go wrong, in one crawl.

A loopback server answers each case's URL with one fault. Each case has its own host (all
mapped to the one server), so a block or a Retry-After on one case cannot hide another.
For every case: the run completes, the fault is counted in the run's record and logged with
its URL, nothing corrupt and no block page is stored, a transient fault is tried again next
run and a permanent one is not. All pages here are synthetic (a small article template).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FAST, open_db, run_newsmon
from tests.siteserver import FIXTURES, Route, Site

LIBYA_TEXT = [
    "Rival armed groups clashed in Tripoli overnight, residents said, in the worst fighting "
    "in the Libyan capital for months.",
    "The UN mission in Libya called for calm and urged the Government of National Unity and "
    "its rivals to return to talks.",
    "Forces loyal to Khalifa Haftar in the east said they were watching the situation.",
    "Flights at Mitiga airport were suspended and schools in several districts closed.",
]


def article(
    title: str = "Clashes shake Tripoli as rival groups fight",
    *,
    head: str = "",
    paragraphs: list[str] | None = None,
    charset: str = "utf-8",
    case: str = "",
) -> str:
    # Each case's text is its own, or dedupe would (rightly) keep only the first copy.
    lines = paragraphs or [*LIBYA_TEXT, f"This report is fault case {case or title}."]
    body = "".join(f"<p>{p}</p>" for p in lines)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="{charset}"><title>{title}</title>'
        f'<meta property="og:title" content="{title}">{head}</head><body>'
        f'<nav><a href="/">Home</a> <a href="/world">World</a></nav>'
        f"<article><h1>{title}</h1>{body}</article>"
        f"<footer>Copyright newsmon fault fixtures (synthetic)</footer></body></html>"
    )


def html(text: str, **headers: str) -> Route:
    return Route(body=text.encode("utf-8"), headers=headers)


@dataclass
class Case:
    name: str
    routes: list[Route]  # answered in turn; the last one repeats
    stored: bool = False
    outcome: str | None = "failed"  # seen_urls outcome after the first run (None: no row)
    refetched: bool = True  # asked again on the next run (transient)


BLOCK_PAGE = (FIXTURES / "synthetic/reuters/reuters_block_datadome_synthetic.html").read_bytes()
FRENCH = article(
    "Libye : affrontements à Tripoli",
    charset="utf-8",
    paragraphs=[
        "Des combats ont éclaté à Tripoli, la capitale libyenne, a déclaré à l’AFP un "
        "habitant « très inquiet ». La Libye reste divisée.",
        "Les écoles de plusieurs quartiers sont fermées et l’aéroport de Mitiga a "
        "suspendu ses vols jusqu’à nouvel ordre.",
        "La mission de l’ONU en Libye a appelé au calme et à la reprise du dialogue.",
    ],
)
ARABIC = article(
    "اشتباكات في طرابلس",
    charset="",
    paragraphs=[
        "اندلعت اشتباكات عنيفة في طرابلس عاصمة ليبيا بين مجموعات مسلحة، وقال سكان إن "
        "القتال هو الأعنف منذ أشهر في العاصمة الليبية.",
        "وأغلقت المدارس في عدة أحياء وعلقت الرحلات في مطار معيتيقة الدولي حتى إشعار آخر.",
        "ودعت بعثة الأمم المتحدة في ليبيا جميع الأطراف إلى التهدئة والعودة إلى الحوار.",
    ],
).replace('<meta charset="">', "")

CASES = [
    Case(
        "control", [html(article(case="control"))], stored=True, outcome="stored", refetched=False
    ),
    Case(
        "retry-after",
        [
            Route(429, b"slow down", "text/plain", {"Retry-After": "2"}),
            html(article(case="retry-after")),
        ],
        stored=True,
        outcome="stored",
        refetched=False,
    ),
    Case("retry-after-too-long", [Route(429, b"", "text/plain", {"Retry-After": "3600"})]),
    Case("status-503", [Route(503, b"unavailable", "text/plain")]),
    Case("status-500", [Route(500, b"error", "text/plain")]),
    Case("block-401", [Route(401, BLOCK_PAGE, headers={"x-datadome": "protected"})]),
    Case("forbidden-403", [Route(403, b"<html>Forbidden</html>")]),
    Case("no-answer", [Route(fault="hang")]),
    Case("reset-mid-body", [Route(body=article().encode() * 3, fault="reset")]),
    # Scrapy keeps what a truncated gzip stream gave: a page with no text, retried up to 3 runs.
    Case(
        "truncated-gzip",
        [Route(body=gzip.compress(article().encode())[:300], headers={"Content-Encoding": "gzip"})],
        outcome="no_text",
    ),
    Case(
        "redirect-loop",
        [Route(302, b"", headers={"Location": "/redirect-loop"})],
        outcome="gone",
        refetched=False,
    ),
    Case(
        "redirect-offsite",
        [Route(302, b"", headers={"Location": "https://www.example.com/x"})],
        outcome="gone",
        refetched=False,
    ),
    Case(
        "too-big",
        [html(article(case="too-big") + "<!--" + "x" * 300_000 + "-->")],
        outcome="gone",
        refetched=False,
    ),
    Case(
        "pdf",
        [Route(body=b"%PDF-1.4 fake", content_type="application/pdf")],
        outcome="gone",
        refetched=False,
    ),
    Case(
        "image",
        [Route(body=b"\x89PNG\r\n\x1a\n", content_type="image/png")],
        outcome="gone",
        refetched=False,
    ),
    Case(
        "cp1252-declared-utf8",
        [Route(body=FRENCH.encode("cp1252"))],
        stored=True,
        outcome="stored",
        refetched=False,
    ),
    Case(
        "windows-1256-no-charset",
        [Route(body=ARABIC.encode("cp1256"), content_type="text/html")],
        stored=True,
        outcome="stored",
        refetched=False,
    ),
    Case(
        "no-text",
        # A Libya term in the menu, so the relevance pre-check lets it through to extraction.
        [html("<html><head><title>Menu</title></head><body><nav>Home Libya</nav></body></html>")],
        outcome="no_text",
    ),
    Case(
        "invalid-json-ld",
        [
            html(
                article(
                    case="invalid-json-ld",
                    head='<script type="application/ld+json">{"headline": '
                    '"broken",, }</script><meta property='
                    '"article:published_time" content="2024-05-01T10:00:00Z">',
                )
            )
        ],
        stored=True,
        outcome="stored",
        refetched=False,
    ),
    Case(
        "garbage-dates",
        [
            html(
                article(
                    "Clashes shake Tripoli again",
                    head='<script type="application/ld+json">{"@type": "NewsArticle", "headline": '
                    '"Clashes shake Tripoli again", "datePublished": "2999-01-01T00:00:00Z"}</script>'
                    '<meta property="article:modified_time" content="yesterday-ish">',
                    paragraphs=[p + " (later report)" for p in LIBYA_TEXT],
                )
            )
        ],
        stored=True,
        outcome="stored",
        refetched=False,
    ),
]
DISCOVERY_FAULTS = {
    "bad-xml": Route(body=b"<urlset><url><loc>https://control", content_type="application/xml"),
    "html-not-xml": html("<html><body>Not a feed</body></html>"),
    "empty": Route(body=b"", content_type="application/rss+xml"),
    "feed-redirect-loop": Route(302, b"", headers={"Location": "/feed"}),
}


def host(case: str) -> str:
    return f"{case}.faults.test"


def url(case: str) -> str:
    return f"https://{host(case)}/{case}"


def declarations(path: Path) -> Path:
    sitemap_host = "www.faults.test"
    domains = [sitemap_host, *(host(c.name) for c in CASES), *(host(n) for n in DISCOVERY_FAULTS)]
    discovery = [f'{{ kind = "sitemap", url = "https://{sitemap_host}/sitemap.xml" }}']
    discovery += [f'{{ kind = "rss", url = "https://{host(n)}/feed" }}' for n in DISCOVERY_FAULTS]
    path.write_text(
        '[[source]]\nname = "faults"\npublisher = "Fault fixtures"\n'
        f"domains = {json.dumps(domains)}\n"
        "article_patterns = ['^https://[a-z0-9-]+\\.faults\\.test/[a-z0-9-]+$']\n"
        f"discovery = [{', '.join(discovery)}]\n"
    )
    return path


class FaultSite:
    """One loopback server answering every fault host, each case by its own path."""

    def __init__(self) -> None:
        self.served: dict[str, int] = {}
        urls = "".join(f"<url><loc>{url(c.name)}</loc></url>" for c in CASES)
        sitemap = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        self.routes = {"/sitemap.xml": Route(body=sitemap.encode(), content_type="application/xml")}
        self.site = Site("faults", {}, self.answer).start()

    def answer(self, path: str) -> Route | None:
        if path in self.routes:
            return self.routes[path]
        name = path.strip("/")
        if path == "/feed":
            return None  # discovery faults are answered per host below
        for case in CASES:
            if case.name == name:
                turn = self.served.get(name, 0)
                self.served[name] = turn + 1
                return case.routes[min(turn, len(case.routes) - 1)]
        return None

    def origin_map(self) -> list[str]:
        args = ["--origin-map", f"https://www.faults.test={self.site.origin}"]
        for case in CASES:
            args += ["--origin-map", f"https://{host(case.name)}={self.site.origin}"]
        return args


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("faults")
    sources = declarations(tmp / "sources.toml")
    db_path = tmp / "news.db"
    faults = FaultSite()
    feeds = {
        name: Site(host(name), {"/feed": route}).start() for name, route in DISCOVERY_FAULTS.items()
    }
    feed_map = [
        arg
        for name, site in feeds.items()
        for arg in ("--origin-map", f"https://{host(name)}={site.origin}")
    ]

    def crawl():
        return run_newsmon(
            "crawl",
            "faults",
            "--db",
            str(db_path),
            *FAST,
            *faults.origin_map(),
            *feed_map,
            "-s",
            "DOWNLOAD_TIMEOUT=2",
            "-s",
            "DOWNLOAD_MAXSIZE=200000",
            "-s",
            "RETRY_TIMES=1",
            env={"NEWSMON_SOURCES": str(sources)},
            timeout=180,
        )

    first = crawl()
    first_requests = list(faults.site.requests)
    first_times = list(faults.site.times)
    faults.site.requests.clear()
    second = crawl()
    yield {
        "db": open_db(db_path),
        "first": first,
        "second": second,
        "first_requests": first_requests,
        "second_requests": list(faults.site.requests),
        "times": first_times,
        "feeds": feeds,
    }
    faults.site.stop()
    for site in feeds.values():
        site.stop()


def outcomes(db) -> dict[str, dict]:
    return {row["url"]: row for row in db.query("select * from seen_urls")}


def test_the_run_completes_and_records_every_fault(fault_run) -> None:
    first = fault_run["first"]
    assert "Traceback" not in first.stdout + first.stderr
    db = fault_run["db"]
    (run, _) = list(db.query("select * from crawl_runs order by id"))
    assert run["finished"] and run["status"] == "partial"
    failing = [
        c for c in CASES if c.outcome in ("failed", "gone") and c.name not in ("pdf", "image")
    ]
    assert run["errors"] >= len(failing) + len(DISCOVERY_FAULTS)
    assert run["stored"] == sum(c.stored for c in CASES)
    log = Path(run["log_path"]).read_text()
    for case in failing:
        assert log.count(f"Could not fetch {url(case.name)}") == 1, case.name
    for name in DISCOVERY_FAULTS:
        assert f"https://{host(name)}/feed" in log


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_fault_has_the_right_outcome(fault_run, case: Case) -> None:
    db = fault_run["db"]
    stored = {row["url"] for row in db.query("select url from articles")}
    assert (url(case.name) in stored) is case.stored
    seen = outcomes(db).get(url(case.name))
    if case.outcome is None:
        assert seen is None
    else:
        assert seen is not None and seen["outcome"] in (case.outcome, "stored")
        assert seen["outcome"] == case.outcome or case.stored


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_transient_faults_are_retried_next_run_and_permanent_ones_are_not(
    fault_run, case: Case
) -> None:
    asked_again = f"/{case.name}" in fault_run["second_requests"]
    assert asked_again is case.refetched


def test_no_block_page_or_garbage_is_stored(fault_run) -> None:
    db = fault_run["db"]
    for row in db.query("select title, text, published, authors from articles"):
        assert "captcha" not in row["text"].lower()
        assert "\ufffd" not in row["text"]
        assert row["published"] is None or row["published"] < "2100"
        assert json.loads(row["authors"]) == []


def test_retry_after_is_honoured_before_asking_again(fault_run) -> None:
    times = [t for path, t in fault_run["times"] if path == "/retry-after"]
    assert len(times) == 2
    assert times[1] - times[0] >= 2.0
    too_long = [p for p in fault_run["first_requests"] if p == "/retry-after-too-long"]
    assert len(too_long) == 1  # one answer asking for an hour: the run stops asking


def test_wrong_or_missing_charsets_are_decoded_correctly(fault_run) -> None:
    db = fault_run["db"]
    texts = {row["url"]: row for row in db.query("select url, text, title from articles")}
    french = texts[url("cp1252-declared-utf8")]
    assert "éclaté à Tripoli" in french["text"] and "« très inquiet »" in french["text"]
    arabic = texts[url("windows-1256-no-charset")]
    assert "اشتباكات عنيفة في طرابلس" in arabic["text"]
    assert arabic["title"] == "اشتباكات في طرابلس"


def test_invalid_json_ld_and_garbage_dates_fall_back_cleanly(fault_run) -> None:
    db = fault_run["db"]
    rows = {row["url"]: row for row in db.query("select * from articles")}
    broken = rows[url("invalid-json-ld")]
    assert broken["title"] == "Clashes shake Tripoli as rival groups fight"
    assert broken["published"] == "2024-05-01T10:00:00Z"
    garbage = rows[url("garbage-dates")]
    assert garbage["published"] is None
    assert garbage["modified"] is None


def test_off_site_redirects_and_unreadable_feeds_are_counted(fault_run) -> None:
    log = Path(next(fault_run["db"].query("select log_path from crawl_runs"))["log_path"])
    text = log.read_text()
    assert "'newsmon/redirected_offsite': 1" in text
    assert f"'newsmon/discovery_errors': {len(DISCOVERY_FAULTS)}" in text
    offsite = outcomes(fault_run["db"])[url("redirect-offsite")]
    assert offsite["outcome"] == "gone"
    assert "redirected to www.example.com" in offsite["reason"]


def test_the_second_run_stores_nothing_twice(fault_run) -> None:
    db = fault_run["db"]
    runs = list(db.query("select stored, finished from crawl_runs order by id"))
    assert runs[1]["finished"] and runs[1]["stored"] == 0
    assert db.table("articles").count == sum(c.stored for c in CASES)

"""Requests go only where a source says: a hostile sitemap cannot send the crawler elsewhere.

One synthetic source on www.hostile.test whose sitemap index lists, beside one real child,
an internal server (a cloud metadata address on loopback), a local file, another host that
the origin map would happily reach, a non-HTTP scheme, and itself. Only the real child and
its article may be fetched; the rest is refused, counted and logged once per place.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FAST, open_db, run_newsmon
from tests.siteserver import Route, Site

ARTICLE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Clashes in Tripoli'
    "</title></head><body><article><h1>Clashes in Tripoli</h1>"
    + "".join(
        f"<p>Rival armed groups clashed in Tripoli, Libya, on day {n}, residents said, and the "
        "UN mission in Libya called for calm between the rival governments.</p>"
        for n in range(6)
    )
    + "</article></body></html>"
)


def sitemap_index(children: list[str]) -> bytes:
    entries = "".join(f"<sitemap><loc>{c}</loc></sitemap>" for c in children)
    return (
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{entries}</sitemapindex>"
    ).encode()


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("offsite")
    secret = tmp / "secret.txt"
    secret.write_text("TOPSECRET-local-file\n")
    internal = Site("internal", {}, lambda path: Route(body=b"TOPSECRET-metadata")).start()
    hostile = Site("www.hostile.test", {}).start()
    urlset = (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>https://www.hostile.test/news/clashes-in-tripoli</loc></url>"
        f"<url><loc>{internal.origin}/news/internal-article</loc></url>"
        "</urlset>"
    ).encode()
    hostile.routes = {
        "/sitemap.xml": Route(
            body=sitemap_index(
                [
                    "https://www.hostile.test/sitemap-news.xml",
                    f"{internal.origin}/latest/meta-data/",
                    f"file://{secret}",
                    "https://other.test/sitemap.xml",
                    "ftp://www.hostile.test/sitemap.xml",
                    "https://www.hostile.test/sitemap.xml",  # itself: fetched once
                ]
            ),
            content_type="application/xml",
        ),
        "/sitemap-news.xml": Route(body=urlset, content_type="application/xml"),
        "/news/clashes-in-tripoli": Route(body=ARTICLE.encode()),
    }
    sources = tmp / "sources.toml"
    sources.write_text(
        '[[source]]\nname = "hostile"\npublisher = "Hostile fixtures (synthetic)"\n'
        'domains = ["www.hostile.test"]\n'
        "article_patterns = ['^https://www\\.hostile\\.test/news/']\n"
        'discovery = [{ kind = "sitemap_index", url = "https://www.hostile.test/sitemap.xml" }]\n'
    )
    db_path = tmp / "news.db"
    result = run_newsmon(
        "crawl",
        "hostile",
        "--db",
        str(db_path),
        *FAST,
        "--origin-map",
        f"https://www.hostile.test={hostile.origin}",
        # The other host is reachable through the map: only the source's domains stop it.
        "--origin-map",
        f"https://other.test={internal.origin}",
        env={"NEWSMON_SOURCES": str(sources)},
    )
    db = open_db(db_path)
    (run,) = list(db.query("select * from crawl_runs"))
    yield {
        "result": result,
        "db": db,
        "run": run,
        "log": Path(run["log_path"]).read_text(),
        "internal": list(internal.requests),
        "hostile": list(hostile.requests),
    }
    internal.stop()
    hostile.stop()


def test_a_sitemap_index_cannot_send_the_crawler_to_another_host_or_a_file(hostile_run) -> None:
    assert hostile_run["result"].returncode == 0, hostile_run["result"].stderr
    assert hostile_run["internal"] == []  # not even its robots.txt
    everything = hostile_run["log"] + json.dumps(hostile_run["run"]) + hostile_run["result"].stderr
    assert "TOPSECRET" not in everything
    assert hostile_run["db"].table("articles").count == 1


def test_refused_urls_are_counted_and_logged_once_per_place(hostile_run) -> None:
    log = hostile_run["log"]
    # 4 off-site children (internal, file, other.test, ftp) and 1 off-site article link.
    assert "'newsmon/refused_offsite': 4" in log
    assert "'newsmon/links_offsite': 1" in log
    for place in ("file://", "ftp://www.hostile.test", "https://other.test", "127.0.0.1"):
        refusals = [line for line in log.splitlines() if "Refused sitemap child" in line]
        assert sum(place in line for line in refusals) == 1, place


def test_a_sitemap_listing_itself_is_fetched_once(hostile_run) -> None:
    requested = hostile_run["hostile"]
    assert requested.count("/sitemap.xml") == 1
    assert requested.count("/sitemap-news.xml") == 1
    assert requested.count("/news/clashes-in-tripoli") == 1


def test_no_download_handler_but_http_is_enabled() -> None:
    from scrapy.settings import Settings

    from crawler import settings as newsmon_settings

    settings = Settings()
    settings.setmodule(newsmon_settings)
    handlers = {**settings.getdict("DOWNLOAD_HANDLERS_BASE"), **settings["DOWNLOAD_HANDLERS"]}
    assert {scheme for scheme, handler in handlers.items() if handler} == {"http", "https"}


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://www.hostile.test/a", True),
        ("http://WWW.HOSTILE.TEST:8080/a", True),
        ("https://evil.www.hostile.test/a", False),
        ("https://www.hostile.test.evil.com/a", False),
        ("file:///etc/hostname", False),
        ("data:text/plain,x", False),
        ("s3://www.hostile.test/a", False),
        ("https://www.hostile.test:99999/a", False),
        ("//www.hostile.test/a", False),
    ],
)
def test_only_http_urls_on_the_declared_hosts_are_on_the_source(url: str, allowed: bool) -> None:
    from crawler.offsite import on_domains

    assert on_domains(url, ["www.hostile.test"]) is allowed

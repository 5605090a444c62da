"""Politeness as documented: robots.txt Crawl-delay per site, a delay without random jitter."""

from __future__ import annotations

import pytest
from scrapy.robotstxt import ProtegoRobotParser
from scrapy.settings import Settings

from crawler import settings as newsmon_settings
from crawler.handler import longer_crawl_delay
from tests.conftest import FAST, run_newsmon
from tests.siteserver import FIXTURES, Route, Site

CRAWL_DELAY = 2.0
PAGE = b"<html><body><p>Tripoli, Libya.</p></body></html>"


def newsmon_settings_with(**overrides: object) -> Settings:
    settings = Settings()
    settings.setmodule(newsmon_settings)
    settings.update(overrides)
    return settings


def test_the_delay_is_a_floor_without_scrapys_default_jitter() -> None:
    settings = Settings()
    settings.setmodule(newsmon_settings)
    assert settings.getfloat("DOWNLOAD_DELAY") == 2.0
    assert settings.getfloat("DOWNLOAD_DELAY_JITTER") == 0.0


def afp_robots() -> ProtegoRobotParser:
    body = (FIXTURES / "real/afp/robots/afp_robots_2019-07.txt").read_bytes()
    return ProtegoRobotParser(body, None)


def test_afps_real_robots_txt_asks_for_ten_seconds_and_gets_them() -> None:
    assert longer_crawl_delay(afp_robots(), newsmon_settings_with()) == 10.0


def test_a_crawl_delay_shorter_than_the_configured_delay_changes_nothing() -> None:
    assert longer_crawl_delay(afp_robots(), newsmon_settings_with(DOWNLOAD_DELAY=20.0)) is None


@pytest.fixture(scope="module")
def polite_run(tmp_path_factory: pytest.TempPathFactory):
    """One crawl of two sites: one whose robots.txt asks for a Crawl-delay, one that does not."""
    tmp = tmp_path_factory.mktemp("politeness")
    slugs = [f"libya-story-{n}" for n in range(4)]
    urls = "".join(
        f"<url><loc>https://{host}/news/{slug}</loc></url>"
        for host in ("www.slow.test", "www.quick.test")
        for slug in slugs
    )
    sitemap = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    pages = {f"/news/{slug}": Route(body=PAGE) for slug in slugs}
    robots = f"User-agent: *\nCrawl-delay: {CRAWL_DELAY}\nDisallow: /private/\n".encode()
    slow = Site(
        "www.slow.test",
        {
            "/robots.txt": Route(body=robots, content_type="text/plain"),
            "/sitemap.xml": Route(body=sitemap.encode(), content_type="application/xml"),
            **pages,
        },
    ).start()
    quick = Site("www.quick.test", dict(pages)).start()
    sources = tmp / "sources.toml"
    sources.write_text(
        '[[source]]\nname = "polite"\npublisher = "Politeness fixtures (synthetic)"\n'
        'domains = ["www.slow.test", "www.quick.test"]\n'
        "article_patterns = ['/news/']\n"
        'discovery = [{ kind = "sitemap", url = "https://www.slow.test/sitemap.xml" }]\n'
    )
    result = run_newsmon(
        "crawl",
        "polite",
        "--db",
        str(tmp / "news.db"),
        *FAST,
        "--origin-map",
        f"https://www.slow.test={slow.origin}",
        "--origin-map",
        f"https://www.quick.test={quick.origin}",
        env={"NEWSMON_SOURCES": str(sources)},
    )
    yield result, list(slow.times), list(quick.times)
    slow.stop()
    quick.stop()


def span(times: list[tuple[str, float]]) -> float:
    """Seconds from the first request to the last, as the site saw them. (Single gaps are
    not compared: on a loaded machine the server may note one arrival late.)"""
    return times[-1][1] - times[0][1]


def test_a_sites_robots_crawl_delay_spaces_every_request_to_it(polite_run) -> None:
    result, slow, _ = polite_run
    assert result.returncode == 0, result.stderr
    assert [path for path, _ in slow][:2] == ["/robots.txt", "/sitemap.xml"]
    assert len(slow) == 6  # robots.txt, the sitemap, 4 articles
    assert span(slow) >= 5 * CRAWL_DELAY - 0.1, slow


def test_a_crawl_delay_applies_to_its_own_site_only(polite_run) -> None:
    _, _, quick = polite_run
    assert len(quick) == 5  # its robots.txt (a 404: no rules) and 4 articles
    assert span(quick) < 4 * CRAWL_DELAY, quick

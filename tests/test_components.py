"""Components newsmon turns off are not loaded, and a run that turns one on gets it."""

from __future__ import annotations

import pytest
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.utils.conf import build_component_list

from crawler.components import OPTIONAL

COOKIES = "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"
REMOTE_CONTROL = "scrapy.extensions.remote_control.RemoteControl"


def components(**overrides: str) -> set[str]:
    """Every downloader middleware and extension a crawl with these ``-s`` values loads, as
    Scrapy's crawler works them out (add-ons applied after every override)."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict(overrides, priority="cmdline")
    crawler = Crawler(Spider, settings)
    crawler.addons.load_settings(crawler.settings)
    return {
        *build_component_list(crawler.settings.getwithbase("DOWNLOADER_MIDDLEWARES")),
        *build_component_list(crawler.settings.getwithbase("EXTENSIONS")),
    }


def test_components_that_are_off_are_not_even_listed() -> None:
    loaded = components()
    assert COOKIES not in loaded and REMOTE_CONTROL not in loaded
    assert "scrapy.downloadermiddlewares.retry.RetryMiddleware" in loaded  # the rest are there


@pytest.mark.parametrize(("switch", "component"), [(s, c) for s, (_, c) in OPTIONAL.items()])
def test_a_run_that_turns_a_component_on_gets_it(switch: str, component: str) -> None:
    assert component in components(**{switch: "true"})

"""Scrapy's spider loader, plus one spider per source declaration.

A source declared in NEWSMON_SOURCES without code still gets a spider, so ``scrapy list``
and ``scrapy crawl <name>`` work for it; a spider class in crawler/spiders/ whose
``source_name`` matches a declaration takes precedence.
"""

from __future__ import annotations

from typing import Any

from scrapy.settings import BaseSettings
from scrapy.spiderloader import SpiderLoader

from crawler.sources import load_sources
from crawler.spiders.source import make_spider_class


class SourceSpiderLoader(SpiderLoader):
    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        for name, source in load_sources(settings.get("NEWSMON_SOURCES")).items():
            if name not in self._spiders:
                self._spiders[name] = make_spider_class(source)

    @classmethod
    def from_settings(cls, settings: BaseSettings, **kwargs: Any) -> SourceSpiderLoader:
        return cls(settings)

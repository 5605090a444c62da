"""Scrapy components newsmon turns off are not even imported, unless a run turns them on.

Scrapy imports every component its base lists name, a disabled one too, and two that newsmon
turns off are costly: the cookies middleware loads tldextract, the remote-control extension
aiohttp's web server, half a crawl process's start-up (docs/PERFORMANCE.md). So
``crawler/settings.py`` leaves them out of the base lists, and the ``OptionalComponents``
add-on puts one back when a run turns it on (``-s COOKIES_ENABLED=true``): add-ons see the
settings once every override is in, which the settings module cannot.
"""

from __future__ import annotations

from typing import Any

from crawler.scrapy_defaults import scrapy_default_settings

# The setting that turns a component on: (the base list that names it, the component).
OPTIONAL = {
    "COOKIES_ENABLED": (
        "DOWNLOADER_MIDDLEWARES_BASE",
        "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
    ),
    "REMOTE_CONTROL_ENABLED": ("EXTENSIONS_BASE", "scrapy.extensions.remote_control.RemoteControl"),
}


def base_without_optional(base: str) -> dict[str, int]:
    """Scrapy's default ``base`` list without the optional components it names."""
    optional = {component for name, component in OPTIONAL.values() if name == base}
    default: dict[str, int] = scrapy_default_settings()[base]
    return {component: order for component, order in default.items() if component not in optional}


class OptionalComponents:
    """A Scrapy add-on (``ADDONS``): each optional component a run turns on goes back into
    its base list, at Scrapy's own order."""

    def update_settings(self, settings: Any) -> None:
        for switch, (base, component) in OPTIONAL.items():
            if not settings.getbool(switch):
                continue
            listed = settings.getdict(base)
            if component not in listed:
                order = scrapy_default_settings()[base][component]
                listed[component] = order
                settings.set(base, listed, priority=settings.getpriority(base))

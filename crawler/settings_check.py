"""Check ``-s NAME=VALUE`` overrides before a crawl starts.

A mistyped value (``DOWNLOAD_DELAY=abc``) would otherwise surface deep inside the crawl as a
ValueError, after a run row was written, and under ``newsmon schedule`` every run would fail
and back off; a misspelt name (``DOWNLAOD_DELAY``) would be ignored without a word.

The known names and their types are not a hand-kept list: they are newsmon's own settings
module (``crawler/settings.py``, so a new ``NEWSMON_*`` setting is known as soon as it is
declared there) plus Scrapy's ``default_settings``, and each value's expected type is that of
its default. A name neither declares may still be read by a third-party extension, so an
unknown name is a warning (with the closest known name), never an error.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
from types import ModuleType
from typing import TYPE_CHECKING, Any

from crawler import settings as project_settings
from crawler.scrapy_defaults import scrapy_default_settings

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class SettingError(ValueError):
    """A setting's value cannot be what its default says it is; the message is for users."""


def _declared(module: ModuleType) -> dict[str, Any]:
    return {name: getattr(module, name) for name in dir(module) if name.isupper()}


def known_settings() -> dict[str, Any]:
    """Every setting newsmon or Scrapy declares, with the default that is in effect."""
    return {**scrapy_default_settings(), **_declared(project_settings)}


def _expected(default: Any) -> tuple[str, Any] | None:
    """(description, parser) for a default's type; None where any string will do."""
    if isinstance(default, bool):  # before int: bool is an int
        return "true or false (or 1/0)", _parse_bool
    if isinstance(default, int | float):
        return "a number", _parse_number
    if isinstance(default, dict):
        return "a JSON object", _parse_json_object
    return None


def _parse_bool(value: str) -> None:
    # What Scrapy's Settings.getbool accepts.
    if value not in {"True", "true", "False", "false"}:
        int(value)


def _parse_number(value: str) -> None:
    # Scrapy reads numeric settings with getint or getfloat; which one a component uses is
    # not declared anywhere, so any finite number passes here.
    if not math.isfinite(float(value)):
        raise ValueError(value)


def _parse_json_object(value: str) -> None:
    if not isinstance(json.loads(value), dict):
        raise ValueError(value)


def check_value(name: str, value: str, known: dict[str, Any]) -> None:
    """Raise SettingError when ``value`` (as given on a command line) cannot be read as the
    type of ``name``'s default."""
    expected = _expected(known.get(name))
    if expected is None:
        return
    description, parse = expected
    try:
        parse(value.strip())
    except (ValueError, TypeError):
        raise SettingError(f"-s {name}={value!r}: expected {description}") from None


def suggestion(name: str, known: dict[str, Any]) -> str | None:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.8)
    return close[0] if close else None


def unknown_warning(name: str, known: dict[str, Any]) -> str:
    closest = suggestion(name, known)
    hint = f"did you mean {closest}? " if closest else ""
    return (
        f"-s {name}: not a newsmon or Scrapy setting ({hint}it is used only if an add-on reads it)"
    )


def check_settings(overrides: dict[str, str]) -> list[str]:
    """Check command-line overrides: raise SettingError for the first bad value; return a
    warning for each unknown name."""
    known = known_settings()
    warnings = []
    for name, value in overrides.items():
        if name in known:
            check_value(name, value, known)
        else:
            warnings.append(unknown_warning(name, known))
    return warnings


class SettingsCheck:
    """The same check inside the crawl process, for ``scrapy crawl -s``: a bad value stops
    the crawl before its spider opens (so no run is recorded), an unknown name is logged."""

    def __init__(self, crawler: Crawler):
        from scrapy.settings import SETTINGS_PRIORITIES  # loaded already: this is a crawl

        settings = crawler.settings
        from_command_line = {
            name: value
            for name, value in settings.items()
            if isinstance(value, str)
            and settings.getpriority(name) == SETTINGS_PRIORITIES["cmdline"]
        }
        for warning in check_settings(from_command_line):
            logger.warning(warning)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SettingsCheck:
        return cls(crawler)

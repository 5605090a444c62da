"""The origin map: fetch a public origin from another one (a mirror, a replay, a test server)
while everything stored and reported keeps the public URL.

The map is applied by crawler.handler's download handler, the last step before the
network, so every middleware (offsite, robots.txt, seen URLs, block detection) and every
callback sees only public URLs, and robots.txt is fetched through the map like any other
request.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit


class OriginMapError(ValueError):
    """An origin map entry that is not ``scheme://host[:port]`` on both sides."""


def parse_origin(text: str) -> str:
    """``scheme://host[:port]`` normalised, or OriginMapError."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OriginMapError(f"{text!r} is not an origin like https://www.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise OriginMapError(f"{text!r} has a path or query; give only scheme://host[:port]")
    try:
        port = parts.port
    except ValueError:
        raise OriginMapError(f"{text!r} has an invalid port") from None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def parse_origin_map(value: Any) -> dict[str, str]:
    """The NEWSMON_ORIGIN_MAP setting (a dict, or its JSON text) as {public: target}."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise OriginMapError(f"NEWSMON_ORIGIN_MAP is not a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise OriginMapError("NEWSMON_ORIGIN_MAP must map public origins to target origins")
    return {parse_origin(str(k)): parse_origin(str(v)) for k, v in value.items()}


def _origin_of(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower(), urlunsplit(("", "", *parts[2:]))


def rewrite_origin(url: str, mapping: dict[str, str]) -> str:
    """``url`` with its origin replaced by ``mapping[origin]``; path and query unchanged."""
    origin, rest = _origin_of(url)
    target = mapping.get(origin)
    return target + rest if target else url


def publicize(text: str, mapping: dict[str, str]) -> str:
    """``text`` (an error message, a log line) with every target origin of ``mapping``
    ({public: target}) replaced by its public origin, so a mirror never reaches the archive."""
    for public, target in mapping.items():
        text = text.replace(target, public)
        text = text.replace(target.split("://", 1)[1], urlsplit(public).netloc)
    return text

"""Structured metadata of an article page: JSON-LD first, then meta tags.

Publishers' structured data beats any heuristic for title, dates and authors, but it is
often sloppy: invalid JSON, ``@graph`` wrappers, authors with ``byline`` instead of ``name``
(Reuters 2023), organisations as authors, ``value=`` instead of ``content=`` (Reuters 2016).
This module reads all of that leniently and never raises.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import html

ARTICLE_TYPES = {
    "NewsArticle",
    "Article",
    "ReportageNewsArticle",
    "AnalysisNewsArticle",
    "BlogPosting",
    "ClaimReview",
    "OpinionNewsArticle",
    "BackgroundNewsArticle",
    "LiveBlogPosting",
}


@dataclass
class PageMetadata:
    jsonld: dict[str, Any] = field(default_factory=dict)  # the article object, if any
    meta: dict[str, list[str]] = field(default_factory=dict)  # lower-cased name -> values
    canonical: str | None = None
    lang: str | None = None
    jsonld_errors: int = 0

    def first(self, *names: str) -> str | None:
        for name in names:
            for value in self.meta.get(name, []):
                if value.strip():
                    return value.strip()
        return None

    def all(self, *names: str) -> list[str]:
        return [v.strip() for name in names for v in self.meta.get(name, []) if v.strip()]


def read_metadata(tree: html.HtmlElement) -> PageMetadata:
    found = PageMetadata()
    for node in tree.iter("meta"):
        name = (node.get("property") or node.get("name") or node.get("itemprop") or "").lower()
        value = node.get("content") or node.get("value")
        if name and value is not None:
            found.meta.setdefault(name.strip(), []).append(value)
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            found.canonical = link.get("href", "").strip()
            break
    found.lang = tree.get("lang") or None
    for script in tree.iter("script"):
        if (script.get("type") or "").lower().strip() != "application/ld+json":
            continue
        data = _lenient_json(script.text or "")
        if data is None:
            found.jsonld_errors += 1
            continue
        article = _find_article(data)
        if article and not found.jsonld:
            found.jsonld = article
    return found


def _lenient_json(text: str) -> Any:
    text = text.strip().rstrip(";")
    if not text:
        return None
    try:
        return json.loads(text, strict=False)
    except RecursionError:  # nested deeper than Python's stack: hostile, not a typo
        return None
    except json.JSONDecodeError:
        pass
    # Seen on real pages: trailing commas, and HTML comments around the JSON.
    cleaned = re.sub(r",\s*([}\]])", r"\1", re.sub(r"^<!--|-->$", "", text).strip())
    try:
        return json.loads(cleaned, strict=False)
    except (json.JSONDecodeError, RecursionError):
        return None


def _types(obj: dict[str, Any]) -> set[str]:
    kind = obj.get("@type", [])
    return {str(k) for k in (kind if isinstance(kind, list) else [kind])}


def _find_article(data: Any) -> dict[str, Any] | None:
    """The first article-like object in a JSON-LD document (lists and @graph included)."""
    stack = [data]
    while stack:
        item = stack.pop(0)
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if _types(item) & ARTICLE_TYPES:
                return item
            stack.extend(v for k, v in item.items() if k in ("@graph", "mainEntity"))
    return None


def jsonld_text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("@value") or value.get("name")
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else None


def jsonld_people(value: Any) -> tuple[list[str], list[str]]:
    """(people, organisations) named in a JSON-LD author value."""
    people: list[str] = []
    organisations: list[str] = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, str):
            people.extend(split_names(entry))
        elif isinstance(entry, dict):
            name = entry.get("name") or entry.get("byline")  # Reuters 2023: byline only
            if not isinstance(name, str) or not name.strip():
                continue
            if "Organization" in " ".join(_types(entry)):
                organisations.append(name.strip())
            else:
                people.extend(split_names(name))
    return people, organisations


_BY = re.compile(r"^\s*(?:text\s+)?by\s+", re.IGNORECASE)
_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&)\s*", re.IGNORECASE)


def split_names(text: str) -> list[str]:
    """``By Howard Schneider and Lindsay Dunsmuir`` -> two names; URLs are not names."""
    text = _BY.sub("", " ".join(text.split()))
    if not text or text.startswith(("http://", "https://")):
        return []
    return [name for name in _SPLIT.split(text) if name and not name.startswith("http")]

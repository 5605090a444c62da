"""Datasette hooks that make an article readable: its text as paragraphs, authors and
matched terms as words, search snippets highlighted. Stored text is always escaped: nothing
a site published is ever rendered as HTML."""

from __future__ import annotations

import json
from typing import Any

from datasette import hookimpl
from markupsafe import Markup, escape

from review import search
from review.stories import render_story_cell

# snippet() in the saved search query wraps matches in these; they become <mark> here.
MARK_START, MARK_END = "[[", "]]"


def paragraphs(text: str) -> Markup:
    parts = [p.strip() for p in text.split("\n\n") if p.strip()]
    body = "".join(f"<p>{escape(p)}</p>" for p in parts)
    return Markup(f'<div class="newsmon-text">{body}</div>')


def highlighted(snippet: str) -> Markup:
    text = str(escape(snippet))
    return Markup(text.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def _json_list(value: str) -> list[Any] | dict[str, Any] | None:
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, list | dict) else None


@hookimpl
def render_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any
) -> Markup | None:
    if (
        story_cell := render_story_cell(row, value, column, table, database, datasette)
    ) is not None:
        return story_cell
    if not isinstance(value, str):
        return None
    if column == "text" and table == "articles":
        return paragraphs(value)
    if column == "snippet":
        return highlighted(value)
    if column == "authors" and (names := _json_list(value)) is not None:
        # Datasette ignores an empty rendering, so "no bylines" needs a visible mark.
        return Markup(escape(", ".join(map(str, names)))) if names else Markup("—")
    if column == "matched_terms" and isinstance(terms := _json_list(value), dict):
        return Markup(escape(", ".join(f"{term} ×{count}" for term, count in terms.items())))
    return None


@hookimpl
def extra_css_urls(datasette: Any) -> list[str]:
    return [datasette.urls.static_plugins("newsmon", "newsmon.css")]


@hookimpl
def extra_js_urls(datasette: Any) -> list[str]:
    return [datasette.urls.static_plugins("newsmon", "newsmon.js")]


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    return search.wrap

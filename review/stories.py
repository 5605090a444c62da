"""How stories read in Datasette: every story title and story id leads to the story page
(the saved query ``story``: its articles in time order with their roles and links), and an
article's title in that page leads back to the article."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape

STORY_QUERY = "story"
_ARTICLE_REF = re.compile(r"(#\d+)")


def story_url(datasette: Any, database: str, story_id: Any) -> str:
    return str(datasette.urls.table(database, STORY_QUERY)) + "?" + urlencode({"id": story_id})


def link(href: str, label: Any) -> Markup:
    return Markup(f'<a href="{escape(href)}">{escape(label)}</a>')


def story_link_with_title(datasette: Any, database: str, story_id: int) -> Any:
    """A row page does not expand foreign keys: look the story's title up."""

    async def render() -> Markup:
        result = await datasette.get_database(database).execute(
            "select title from stories where id = ?", [story_id]
        )
        title = result.first()[0] if result.first() else None
        return link(story_url(datasette, database, story_id), title or f"story {story_id}")

    return render


def render_story_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any
) -> Any:
    """The cell as a link into the stories (Markup, or an async function making one), or
    None to leave it to Datasette."""
    keys = set(row.keys()) if hasattr(row, "keys") else set()
    if table == "articles" and column == "story_id" and isinstance(value, dict):
        # In the table, a short link keeps each article on one line; the row page has room.
        return link(story_url(datasette, database, value["value"]), f"story {value['value']}")
    if table == "articles" and column == "story_id" and isinstance(value, int):
        return story_link_with_title(datasette, database, value)
    if table == "stories" and column == "title" and "id" in keys:
        return link(story_url(datasette, database, row["id"]), value)
    listing = table == "stories" or "last_published" in keys
    if listing and column in ("sources", "sites") and isinstance(value, str):
        return Markup(escape(", ".join(json.loads(value or "[]")))) or None
    if table is None and column == "story" and "last_published" in keys:
        return link(story_url(datasette, database, value), f"story {value}")
    if table is None and column == "title" and "story" in keys and "last_published" in keys:
        return link(story_url(datasette, database, row["story"]), value)
    if table is None and column == "title" and "article_id" in keys and "role" in keys:
        return link(str(datasette.urls.row(database, "articles", row["article_id"])), value)
    if table is None and column == "links" and "role" in keys and isinstance(value, str):
        return linked_articles(value, datasette, database)
    return None


def linked_articles(value: str, datasette: Any, database: str) -> Markup:
    """'based_on AFP #12; ...' with each #id a link to that article."""
    parts = _ARTICLE_REF.split(value)
    html = [
        link(str(datasette.urls.row(database, "articles", part[1:])), part)
        if _ARTICLE_REF.fullmatch(part)
        else escape(part)
        for part in parts
    ]
    return Markup("".join(html))

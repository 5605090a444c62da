"""Datasette hooks that make an article readable: its text as paragraphs, authors and
matched terms as words, search snippets highlighted. Stored text is always escaped: nothing
a site published is ever rendered as HTML."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from pipelines.versions import paragraph_diff
from review import counts, coverage, feed, headers, runlogs, search
from review.stories import render_story_cell

# snippet() in the saved search query wraps matches in these; they become <mark> here.
MARK_START, MARK_END = "[[", "]]"


def paragraphs(text: str) -> Markup:
    parts = [p.strip() for p in text.split("\n\n") if p.strip()]
    body = "".join(f"<p>{escape(p)}</p>" for p in parts)
    return Markup(f'<div class="newsmon-text">{body}</div>')


def changes(old: str, new: str) -> Markup:
    """What changed between two versions of a text, escaped: changed paragraphs whole, with
    removed words struck and added words marked; unchanged paragraphs counted, not shown."""
    if not old:
        return Markup('<p class="newsmon-first">First version.</p>') + paragraphs(new)
    parts: list[str] = []
    unchanged = 0
    for change in paragraph_diff(old, new):
        if change.kind == "same":
            unchanged += 1
            continue
        if unchanged:
            parts.append(f'<p class="newsmon-same">… {unchanged} paragraph(s) unchanged …</p>')
            unchanged = 0
        if change.kind == "changed":
            words = " ".join(_word(kind, text) for kind, text in change.words)
            parts.append(f"<p>{words}</p>")
        else:
            parts.append(f"<p>{_word(change.kind, change.text)}</p>")
    if unchanged:
        parts.append(f'<p class="newsmon-same">… {unchanged} paragraph(s) unchanged …</p>')
    body = "".join(parts) or "<p>Same text (the title changed).</p>"
    return Markup(f'<div class="newsmon-diff">{body}</div>')


def _word(kind: str, text: str) -> str:
    tag = {"removed": "del", "added": "ins"}.get(kind)
    return f"<{tag}>{escape(text)}</{tag}>" if tag else str(escape(text))


def highlighted(snippet: str) -> Markup:
    text = str(escape(snippet))
    return Markup(text.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def _json_list(value: str) -> list[Any] | dict[str, Any] | None:
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, list | dict) else None


# The archive's tables in the order a reviewer reads them; the rest follow by name.
READING_ORDER = ("articles", "stories", "article_versions", "crawl_runs", "duplicates", "seen_urls")


def reading_order(tables: list[Any]) -> list[Any]:
    def rank(table: Any) -> tuple[int, str]:
        name = table["name"] if isinstance(table, dict) else table.name
        return (READING_ORDER.index(name) if name in READING_ORDER else len(READING_ORDER), name)

    return sorted(tables, key=rank)


def _article_link(row: Any, value: Any, database: str, datasette: Any) -> Markup | None:
    """In saved-query results, an article's id and title open its row page."""
    keys = row.keys() if hasattr(row, "keys") else []
    if "id" not in keys or "url" not in keys or row["id"] is None:
        return None
    href = datasette.urls.row(database, "articles", str(row["id"]))
    return Markup(f'<a href="{escape(href)}">{escape(value)}</a>')


def _run_id(row: Any, table: str | None) -> Any:
    """The crawl run a row is about: its id in ``crawl_runs``; in a saved query with a
    ``log_path``, its ``run`` column (``crawl_runs.id``; ``run_id`` is a label, not a key)."""
    keys = row.keys() if hasattr(row, "keys") else []
    if table == "crawl_runs" and "id" in keys:
        return row["id"]
    return row["run"] if table is None and {"run", "log_path"} <= set(keys) else None


@hookimpl
def render_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any
) -> Markup | None:
    if (
        story_cell := render_story_cell(row, value, column, table, database, datasette)
    ) is not None:
        return story_cell
    if column == "log_path" and isinstance(value, str) and (run := _run_id(row, table)):
        return runlogs.render_log_path(datasette, database, run, value)
    if table is None and column == "run" and _run_id(row, table) is not None:
        return runlogs.render_run(datasette, database, value)
    if table in ("articles", "article_versions") and column == "run" and isinstance(value, int):
        return runlogs.run_link_with_start(datasette, database, value)
    if table is None and column in ("id", "title") and value is not None:
        return _article_link(row, value, database, datasette)
    if table == "articles" and column == "title" and isinstance(value, str):
        return _article_link(row, value, database, datasette)
    if not isinstance(value, str):
        return None
    if column == "text" and table in ("articles", "article_versions"):
        return paragraphs(value)
    if column == "changes" and isinstance(pair := _json_list(value), list) and len(pair) == 2:
        return changes(str(pair[0] or ""), str(pair[1] or ""))
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
    def wrap(app: Any) -> Any:
        return headers.wrap(search.wrap(app, datasette))

    return wrap


@hookimpl
def register_output_renderer(datasette: Any) -> dict[str, Any]:
    """``.atom`` on the saved query ``feed``: the archive as a feed to subscribe to."""
    return {"extension": "atom", "render": feed.render, "can_render": feed.can_render}


@hookimpl
def extra_template_vars(datasette: Any) -> dict[str, Any]:
    titles = {
        name: datasette.metadata("title", database=name, fallback=False)
        for name in datasette.databases
    }
    return {"newsmon_database_titles": titles, "newsmon_reading_order": reading_order}


async def search_redirect(datasette: Any, request: Any) -> Response:
    """One search box for the whole archive: the ranked search over articles."""
    names = [name for name in datasette.databases if name != "_internal"]
    target = datasette.urls.database(names[0]) + "/search" if names else "/"
    query = request.args.get("q")
    return Response.redirect(target + ("?" + urlencode({"q": query}) if query else ""))


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/coverage$", coverage.coverage),
        (r"^/-/search$", search_redirect),
        (runlogs.ROUTE, runlogs.run_log),
    ]


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]]:
    return [
        {"href": datasette.urls.path("/-/coverage"), "label": "Coverage at a glance"},
        {"href": datasette.urls.path("/-/search"), "label": "Search the archive"},
    ]


@hookimpl
def startup(datasette: Any) -> None:
    # Datasette 0.65 prints every exception with rich when rich is importable (newsmon needs
    # it for backfill's progress bar), locals and all: each mistyped URL would write a
    # 40-line traceback to the server's log, and rendering it costs 0.3-1.5 s of CPU even on
    # a quiet console, so any client could keep the server busy with 404s. Its handler uses
    # rich only if its module found it: tell it rich is absent. A real error (a 500) is still
    # printed, by Datasette's plain traceback.print_exc(). (Imported here: imported with this
    # module, it would be half-loaded when Datasette registers it as a plugin, hooks and all.)
    from datasette import handle_exception as datasette_exceptions

    datasette_exceptions.rich = None
    for database in datasette.databases.values():
        if database.name != "_internal":
            counts.count_only_visible_tables(datasette, database)
            counts.count_searches_in_the_index(database)

"""Search means what the reviewer typed.

The articles table's search box and the saved ``search`` query take SQLite FTS5 queries:
``AND``/``OR``/``NOT``, parentheses, ``NEAR(a b, 10)``, "phrases", prefix*, ``^initial``
tokens and ``title:`` or ``{title text}:`` column filters all pass through unchanged. Only a
word FTS5 would reject (``al-Jufra``, ``Ra's``, ``U.N.``: punctuation inside a bare word) is
put in double quotes, which makes it the phrase the reviewer meant; an unclosed quote is
closed. A query FTS5 still cannot parse (``Libya AND``) gets a 400 with a readable message
instead of Datasette's SQL error page. A search of the articles table in no chosen order
lists the most recently stored matches first (the table's own order, by publication time,
is too slow for a common word on a big archive). Nothing else (other tables, other
parameters, other paths) is touched.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

# Characters FTS5 reads as syntax outside a string; everything else but whitespace forms words.
_SYNTAX = '"(){}:*^+,'
_WORD = re.compile(r'[^\s"(){}:*^+,]+')
# A bare word FTS5 accepts: letters, digits, _, the substitute character, any non-ASCII.
_BAREWORD = re.compile(r"^[A-Za-z0-9_\x1a\x80-\U0010ffff]+$")
# Where searches are: /<database>/articles[.json|.csv] and /<database>/search[.json|.csv].
# (/-/search is datasette-search-all's box over every table: left to it.)
_SEARCH_PATH = re.compile(r"^/(?!-/)[^/]+/(articles|search)(\.\w+)?$")
FTS_TABLE = "articles_fts"
SEARCH_ORDER = "id"  # a search of the articles table lists the most recently stored first
TABLE_ORDER = "published"  # the articles table's sort_desc in metadata.yml


def fts_safe(query: str) -> str:
    """``query`` with only the words FTS5 would reject quoted; all its syntax kept."""
    out: list[str] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char == '"':
            end = _string_end(query, i)
            out.append(query[i:end] if end <= len(query) else query[i:] + '"')
            i = end
        elif char.isspace() or char in _SYNTAX:
            out.append(char)
            i += 1
        else:
            match = _WORD.match(query, i)
            assert match is not None
            word = match.group()
            i = match.end()
            out.append(word if _keeps(word, query, i) else f'"{word}"')
    return "".join(out)


def _string_end(query: str, start: int) -> int:
    """Index after the FTS5 string opening at ``start`` ("" inside is an escaped quote);
    past the end when it is never closed."""
    i = start + 1
    while i < len(query):
        if query[i] == '"':
            if query[i + 1 : i + 2] == '"':
                i += 2
                continue
            return i + 1
        i += 1
    return len(query) + 1


def _keeps(word: str, query: str, after: int) -> bool:
    if _BAREWORD.match(word):
        return True
    # -colname: or -{cols}: excludes columns; the - is syntax there.
    following = query[after:].lstrip()
    if word == "-" and following.startswith("{"):
        return True
    return word.startswith("-") and bool(_BAREWORD.match(word[1:])) and following[:1] == ":"


def search_params(path: str) -> tuple[str, ...]:
    """The query parameters holding FTS5 queries on ``path``; none on other paths."""
    match = _SEARCH_PATH.match(path)
    if not match:
        return ()
    return ("_search",) if match.group(1) == "articles" else ("q",)


def _is_search(name: str, params: tuple[str, ...]) -> bool:
    # _search_<column> searches one column of the table.
    return name in params or ("_search" in params and name.startswith("_search_"))


def rewrite(path: str, query_string: bytes) -> tuple[bytes, list[str]]:
    """The query string with its search parameters made FTS5-safe, and those queries."""
    params = search_params(path)
    if not params:
        return query_string, []
    pairs = parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True)
    if not any(_is_search(name, params) for name, _ in pairs):
        return query_string, []
    fixed = [(n, fts_safe(v) if _is_search(n, params) else v) for n, v in pairs]
    searches = [v for n, v in fixed if _is_search(n, params) and v.strip()]
    if params == ("_search",) and searches:
        fixed = search_order(fixed)
    return urlencode(fixed).encode(), searches


def search_order(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A search of the articles table in no chosen order, sorted by id instead.

    The table's default order (by publication time) sorts every match's whole row before
    the first page: 4 s for a common word on an archive of a million articles with a cold
    cache, past the time limit. By id SQLite walks the matches newest stored first and
    stops at the page's end (a few ms). The table page's own form sends its pre-selected
    default order (``_sort=published&_sort_by_desc=on``) with every search: that is no
    choice; a column header's link (``_sort_desc=published``) is.
    """
    names = {name for name, _ in pairs}
    if ("_sort", TABLE_ORDER) in pairs and "_sort_by_desc" in names:
        pairs = [(n, v) for n, v in pairs if n not in ("_sort", "_sort_by_desc")]
        names -= {"_sort", "_sort_by_desc"}
    if {"_sort", "_sort_desc"} & names:
        return pairs
    return [*pairs, ("_sort_desc", SEARCH_ORDER)]


def fts_error(query: str, columns: list[str]) -> str | None:
    """FTS5's complaint about ``query`` on a table with ``columns``, or None if it parses.

    Checked on an empty in-memory table, so a bad query never reaches the archive."""
    conn = sqlite3.connect(":memory:")
    try:
        names = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        conn.execute(f"create virtual table q using fts5({names})")
        conn.execute("select * from q where q match ?", [query]).fetchall()
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    return None


def not_understood(path: str, query: str, error: str) -> tuple[bytes, bytes]:
    """(content type, body) of the 400 answer to a search FTS5 cannot parse."""
    message = f"Search not understood: {query} ({error.removeprefix('fts5: ')})."
    hint = (
        'Put a phrase in "double quotes"; write AND, OR, NOT and NEAR(a b, 10) in capitals '
        "between words or quoted phrases; close every parenthesis."
    )
    if path.endswith(".json"):
        body = {"ok": False, "error": f"{message} {hint}", "status": 400, "title": "Bad search"}
        return b"application/json; charset=utf-8", json.dumps(body).encode()
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Bad search</title>'
        "</head><body><h1>Search not understood</h1><p>"
        f"{html.escape(message)}</p><p>{html.escape(hint)}</p>"
        f'<p><a href="{html.escape(path.rsplit(".", 1)[0])}">Back</a></p></body></html>'
    )
    return b"text/html; charset=utf-8", page.encode()


def wrap(app: Any, datasette: Any) -> Any:
    """ASGI middleware applying ``fts_safe`` to the search parameters of the articles table
    and the saved search query, and answering 400 to a search FTS5 cannot parse."""

    known: dict[str, list[str]] = {}

    async def columns(path: str) -> list[str]:
        database = unquote(path.split("/")[1])
        if database not in known:
            try:
                found = await datasette.get_database(database).table_columns(FTS_TABLE)
            except (KeyError, sqlite3.Error):
                return []
            # table_xinfo also lists FTS5's hidden columns (the table's own name, rank).
            known[database] = [c for c in found if c not in (FTS_TABLE, "rank")]
        return known[database]

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not scope.get("query_string"):
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        query_string, searches = rewrite(path, scope["query_string"])
        fts_columns = await columns(path) if searches else []
        for query in searches if fts_columns else []:
            if error := fts_error(query, fts_columns):
                content_type, body = not_understood(path, query, error)
                headers = [(b"content-type", content_type)]
                await send({"type": "http.response.start", "status": 400, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app({**scope, "query_string": query_string}, receive, send)

    return wrapped

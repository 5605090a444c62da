"""Make what a reviewer types into a search box a valid SQLite FTS5 query.

FTS5 takes `OR`, `NOT`, `NEAR(a b, 10)`, "phrases" and prefix* as typed, but rejects a bare
word with a hyphen or an apostrophe: `al-Jufra` or `Ra's Lanuf` gave an error page instead
of results. Such words are quoted; everything FTS5 understands is left as it is.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

# Parameters that carry full-text queries: the table search box and the saved search.
SEARCH_PARAMS = ("_search", "q")
_TOKEN = re.compile(r'"[^"]*"|NEAR\([^)]*\)|\S+')
_PLAIN = re.compile(r"^\w+\*?$")
_OPERATORS = {"OR", "AND", "NOT"}


def fts_safe(query: str) -> str:
    """``query`` with every word FTS5 would reject wrapped in double quotes."""
    if query.count('"') % 2:  # an unbalanced quote: take the words literally
        query = query.replace('"', " ")
    parts = []
    for token in _TOKEN.findall(query):
        if token.startswith(('"', "NEAR(")) or token in _OPERATORS or _PLAIN.match(token):
            parts.append(token)
        else:
            parts.append('"' + token.strip("()") + '"')
    return " ".join(parts)


def rewrite_query_string(query_string: bytes) -> bytes:
    pairs = parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True)
    if not any(name in SEARCH_PARAMS for name, _ in pairs):
        return query_string
    fixed = [(name, fts_safe(value) if name in SEARCH_PARAMS else value) for name, value in pairs]
    return urlencode(fixed).encode()


def wrap(app: Any) -> Any:
    """ASGI middleware applying ``fts_safe`` to search parameters."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("query_string"):
            scope = {**scope, "query_string": rewrite_query_string(scope["query_string"])}
        await app(scope, receive, send)

    return wrapped

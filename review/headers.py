"""Security headers on every response of the review server.

Stored text is always escaped (review.plugin), so a hostile page cannot put markup in front
of a reviewer; the Content-Security-Policy is the second wall should that ever fail: no
script runs but Datasette's and newsmon's own files and the few inline scripts Datasette's
templates ship (allowed by hash, read from the installed templates), nothing loads from
another origin, no form posts elsewhere, and no other site can frame the archive.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files
from typing import Any

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# table.html's one templated inline script, in the two forms Datasette renders it.
_TABLE_SCRIPT = re.compile(r"\{\{\s*datasette_allow_facet\s*\}\}")


def script_hash(body: str) -> str:
    digest = hashlib.sha256(body.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@cache
def datasette_inline_scripts() -> tuple[str, ...]:
    """The inline scripts of the installed Datasette's templates (those without template
    logic, and table.html's facet flag as true and false)."""
    bodies: list[str] = []
    for template in files("datasette").joinpath("templates").iterdir():
        if not template.name.endswith(".html"):
            continue
        for body in _INLINE_SCRIPT.findall(template.read_text("utf-8")):
            if _TABLE_SCRIPT.search(body):
                bodies += [_TABLE_SCRIPT.sub(value, body) for value in ("true", "false")]
            elif "{{" not in body and "{%" not in body:
                bodies.append(body)
    return tuple(dict.fromkeys(bodies))


@cache
def content_security_policy() -> str:
    hashes = " ".join(script_hash(body) for body in datasette_inline_scripts())
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {hashes}",
            # Datasette's templates use style attributes; styles cannot run code.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy().encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]


def wrap(app: Any) -> Any:
    """ASGI middleware adding the security headers to every HTTP response."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                ours = {name for name, _ in security_headers()}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in ours]
                message = {**message, "headers": kept + security_headers()}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped

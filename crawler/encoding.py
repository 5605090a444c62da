"""The text of a fetched page, in the right encoding.

Scrapy trusts a declared charset and otherwise guesses UTF-8 or cp1252. Pages in the wild
declare the wrong one (cp1252 bytes served as UTF-8) or none at all (Arabic windows-1256
pages, which cp1252 turns into plausible-looking garbage). A declared charset is used when
the bytes really decode with it; otherwise the encoding is detected from the bytes.
"""

from __future__ import annotations

import re

from charset_normalizer import from_bytes
from scrapy.http import TextResponse
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding


def page_text(response: TextResponse) -> tuple[str, str]:
    """(text, encoding name) of an HTML response."""
    body = response.body
    content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
    declared = http_content_type_encoding(content_type) or html_body_declared_encoding(body)
    if declared:
        try:
            return body.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass  # declared wrongly: detect instead
    else:
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    matches = list(from_bytes(body))
    if not matches:
        return response.text, response.encoding
    # Single-byte Latin code pages are hard to tell apart; the news sites write cp1252.
    chosen = next((m for m in matches if m.encoding == "cp1252"), matches[0])
    if matches[0].encoding not in LATIN_SINGLE_BYTE:
        chosen = matches[0]  # Arabic, Cyrillic, ...: trust the detection
    return str(chosen), normalise(chosen.encoding)


LATIN_SINGLE_BYTE = {
    "cp1250",
    "cp1252",
    "cp1257",
    "latin_1",
    "iso8859_2",
    "iso8859_3",
    "iso8859_4",
    "iso8859_10",
    "iso8859_13",
    "iso8859_14",
    "iso8859_15",
    "mac_latin2",
    "mac_roman",
    "cp775",
}


def normalise(encoding: str) -> str:
    return re.sub(r"^cp(125\d)$", r"windows-\1", encoding)

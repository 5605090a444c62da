"""The labelled relevance set (real Reuters wire copy, 1987) as web pages.

The set holds each story's text as the wire sent it; a page is what newsmon reads, so every
relevance figure is measured through the real extraction. Two layouts, because the judgement
must not depend on how a site breaks its text: one ``<p>`` per wire paragraph (the dateline
opening the first, as Reuters' pages do), and the whole wire text in one ``<pre>`` block.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

SET = Path(__file__).parent / "fixtures/real/relevance/reuters21578_about_libya.jsonl"
LAYOUTS = ("paragraphs", "preformatted")


@dataclass(frozen=True)
class Story:
    id: str
    title: str
    dateline: str
    text: str
    about_libya: bool


def load_stories() -> list[Story]:
    rows = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line]
    return [
        Story(r["id"], r["title"], r["dateline"], r["text"], bool(r["about_libya"])) for r in rows
    ]


def wire_paragraphs(text: str) -> list[str]:
    """A wire paragraph starts on an indented line; table rows are indented too."""
    paragraphs: list[str] = []
    for line in text.splitlines():
        if not paragraphs or re.match(r"\s", line):
            paragraphs.append(line.strip())
        else:
            paragraphs[-1] += " " + line.strip()
    return [p for p in paragraphs if p]


def story_html(story: Story, layout: str = "paragraphs") -> str:
    title = html.escape(story.title)
    if layout == "paragraphs":
        paragraphs = wire_paragraphs(story.text)
        if paragraphs and story.dateline:
            paragraphs[0] = f"{story.dateline.strip()} {paragraphs[0]}"
        body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    elif layout == "preformatted":
        body = f"<p>{html.escape(story.dateline)}</p>\n<pre>{html.escape(story.text)}</pre>"
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body><article><h1>{title}</h1>\n{body}\n"
        "</article></body></html>\n"
    )

"""`newsmon digest`: what is new in the archive since a time, grouped by story, for a mail.

The morning reader wants one story once, with every site that ran it under it, rather than
the same wire copy five times; so articles are grouped by their story (``articles.story_id``)
when the archive has stories, and stand alone otherwise. Output is plain text, Markdown or
HTML; in HTML everything stored is escaped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlite_utils

FORMATS = ("text", "markdown", "html")
_AGO = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass
class Item:
    id: int
    published: str | None
    source: str
    site: str | None
    agency: str | None
    title: str
    url: str


@dataclass
class Story:
    title: str
    first_published: str | None
    items: list[Item] = field(default_factory=list)

    @property
    def sites(self) -> list[str]:
        return sorted({i.site or i.source for i in self.items})


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``24h``, ``90m``, ``7d``, ``2w`` ago, or an ISO 8601 date or time (UTC if no zone)."""
    now = now or datetime.now(UTC)
    text = value.strip()
    if match := _AGO.match(text):
        amount = int(match.group(1))
        if amount <= 0:
            raise ValueError(f"{value!r}: the duration must be positive")
        return now - timedelta(**{_UNITS[match.group(2)]: amount})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration (24h, 7d, 2w) nor a date (2026-11-28)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def collect(db: sqlite_utils.Database, since: datetime) -> list[Story]:
    """Stories with an article stored since ``since``, the story with the newest first.

    Articles a backfill stored (found through an archive sitemap) are history, not news:
    a year of backfill would otherwise fill the morning's digest."""
    cutoff = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    grouped = "story_id" in db.table("articles").columns_dict and db.table("stories").exists()
    story_key = "coalesce(a.story_id, -a.id)" if grouped else "-a.id"
    story_title = "coalesce(s.title, a.title)" if grouped else "a.title"
    join = "left join stories s on s.id = a.story_id" if grouped else ""
    rows = db.execute(
        f"""select {story_key} as story, {story_title} as story_title, a.id, a.published,
                 a.source, a.site, a.agency, a.title, a.url
            from articles a {join}
            where a.first_seen >= ? and coalesce(a.discovered_via, '') != 'archive_index'
            order by coalesce(a.published, a.first_seen), a.id""",
        [cutoff],
    ).fetchall()
    stories: dict[int, Story] = {}
    for story, story_title, *article in rows:
        entry = stories.setdefault(story, Story(title=story_title, first_published=article[1]))
        entry.items.append(Item(*article))
    return sorted(
        stories.values(), key=lambda s: max(i.published or "" for i in s.items), reverse=True
    )


def render(stories: list[Story], since: datetime, fmt: str) -> str:
    """The digest in ``fmt``; a clear "nothing new" when there is nothing."""
    when = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    articles = sum(len(s.items) for s in stories)
    heading = f"newsmon digest: {articles} new article(s) in {len(stories)} story(ies) since {when}"
    if not stories:
        heading = f"newsmon digest: nothing new since {when}"
    return {"text": _text, "markdown": _markdown, "html": _html}[fmt](heading, stories)


def _line(item: Item) -> str:
    credit = f", {item.agency}" if item.agency else ""
    day = (item.published or "date unknown")[:16].replace("T", " ")
    return f"{day} · {item.site or item.source}{credit} · {item.title}"


def _text(heading: str, stories: list[Story]) -> str:
    lines = [heading, "=" * len(heading)] if stories else [heading]
    for story in stories:
        lines += ["", f"{story.title}  [{', '.join(story.sites)}]"]
        lines += [f"  - {_line(i)}\n    {i.url}" for i in story.items]
    return "\n".join(lines) + "\n"


def _markdown(heading: str, stories: list[Story]) -> str:
    lines = [f"# {heading}"]
    for story in stories:
        lines += ["", f"## {_md(story.title)}", "", f"*{', '.join(story.sites)}*", ""]
        lines += [f"- [{_md(_line(i))}]({i.url})" for i in story.items]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


def _html(heading: str, stories: list[Story]) -> str:
    e = html.escape
    parts = [
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(heading)}</title></head><body>",
        f"<h1>{e(heading)}</h1>",
    ]
    for story in stories:
        parts.append(f"<h2>{e(story.title)}</h2><p><em>{e(', '.join(story.sites))}</em></p><ul>")
        parts += [f'<li><a href="{e(i.url)}">{e(_line(i))}</a></li>' for i in story.items]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

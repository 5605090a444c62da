"""Article revisions: every text an article has had, and what changed between two of them.

The ``articles`` row always holds the newest version (so search, feeds and review read the
current text); ``article_versions`` keeps them all, version 1 being the first text stored.
A page fetched again whose text and title hash the same only moves ``last_seen``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from crawler.items import Article
from pipelines.database import write_transaction
from pipelines.fetch_state import write_fetch_state
from pipelines.raw_pages import save_page
from pipelines.stories import assign as assign_story


@dataclass(frozen=True)
class Revision:
    article_id: int
    version: int  # the version now in the articles row
    changed: bool


def add_version(
    db: sqlite_utils.Database,
    article_id: int | None,
    article: Article,
    n: int,
    run: int | None = None,
) -> None:
    """Keep ``article``'s text as version ``n`` of the stored article ``article_id``, fetched
    by ``run`` (its crawl_runs.id)."""
    db.table("article_versions").insert(
        {
            "article_id": article_id,
            "version": n,
            "title": article.title,
            "text": article.text,
            "modified": article.modified,
            "content_hash": article.content_hash,
            "fetched": article.fetched,
            "run": run,
        }
    )


def stored_from_same_link(db: sqlite_utils.Database, article: Article) -> int | None:
    """The id of the stored article this page is a new fetch of, or None.

    It is one only when the link we followed is the one that led to that article before:
    a page that merely claims a stored article's URL as its canonical is not its revision.
    """
    row = db.execute(
        """select a.id from seen_urls s join articles a on a.url = s.article_url
           where s.key = ? and s.outcome = 'stored'""",
        [article.requested_key],
    ).fetchone()
    return int(row[0]) if row else None


def record_revision(
    db: sqlite_utils.Database, article_id: int, article: Article, run: int | None = None
) -> Revision:
    """Make ``article``, fetched by ``run``, the newest version of stored article
    ``article_id`` when its title or text changed (one transaction: row, full-text index by
    trigger, version, near-duplicate sketch and story, page, seen_urls); otherwise only move
    ``last_seen``."""
    now = article.fetched
    with write_transaction(db):
        current = db.execute(
            "select title, content_hash, url from articles where id = ?", [article_id]
        ).fetchone()
        latest = db.execute(
            "select coalesce(max(version), 0) from article_versions where article_id = ?",
            [article_id],
        ).fetchone()[0]
        keys = [(article.requested_key, article.requested_url), (article.key, article.url)]
        changed = (current[0], current[1]) != (article.title, article.content_hash)
        if not changed:
            db.execute("update articles set last_seen = ? where id = ?", [now, article_id])
        else:
            if latest == 0:  # stored before versions were kept and not migrated: keep it
                db.execute(
                    """insert into article_versions
                         (article_id, version, title, text, modified, content_hash, fetched)
                       select id, 1, title, text, modified, content_hash, first_seen
                       from articles where id = ?""",
                    [article_id],
                )
                latest = 1
            latest += 1
            add_version(db, article_id, article, latest, run)
            db.table("articles").update(article_id, _newest_fields(article, now))
            # The new text replaces the old one's sketch: copies of it are found, and it
            # joins (or links to) the story its new text belongs to, keeping its own.
            assign_story(db.conn, article_id)
            save_page(db, current[2], article)
        for key, _ in dict(keys).items():
            db.execute(
                "update seen_urls set last_seen = ?, attempts = attempts + 1 where key = ?",
                [now, key],
            )
        write_fetch_state(db, article.fetch_state)
    return Revision(article_id, latest, changed)


def _newest_fields(article: Article, now: str) -> dict[str, Any]:
    # url, first_seen and published stay: the article is the same, only its text moved on.
    fields: dict[str, Any] = {
        "title": article.title,
        "text": article.text,
        "modified": article.modified or now,
        "description": article.description,
        "authors": json.dumps(article.authors, ensure_ascii=False),
        "language": article.language,
        "agency": article.agency,
        "credit": json.dumps(article.credit, ensure_ascii=False),  # the evidence for `agency`
        "relevance": article.relevance,
        "matched_terms": json.dumps(article.matched_terms, ensure_ascii=False),
        "relevance_reason": article.relevance_reason,
        "content_hash": article.content_hash,
        "last_seen": now,
    }
    return fields


# --- what changed ------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    kind: str  # "same", "added", "removed", or "changed" (one paragraph reworded)
    text: str  # the paragraph (for "changed", its new wording)
    words: tuple[tuple[str, str], ...] = ()  # for "changed": (kind, words) runs


def paragraph_diff(old: str, new: str) -> list[Change]:
    """What changed from ``old`` to ``new``, paragraph by paragraph (the unit a reader sees);
    a paragraph reworded in place (a revised death toll) shows which words changed."""
    before = [p.strip() for p in old.split("\n\n") if p.strip()]
    after = [p.strip() for p in new.split("\n\n") if p.strip()]
    changes: list[Change] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            changes.extend(Change("same", p) for p in before[i1:i2])
        elif op == "replace" and i2 - i1 == j2 - j1:
            for a, b in zip(before[i1:i2], after[j1:j2], strict=True):
                changes.append(Change("changed", b, word_diff(a, b)))
        else:
            changes.extend(Change("removed", p) for p in before[i1:i2])
            changes.extend(Change("added", p) for p in after[j1:j2])
    return changes


def word_diff(old: str, new: str) -> tuple[tuple[str, str], ...]:
    """Runs of ("same" | "removed" | "added", words) turning ``old`` into ``new``."""
    a, b = old.split(), new.split()
    runs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append(("same", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("removed", " ".join(a[i1:i2])))
        if j2 > j1:
            runs.append(("added", " ".join(b[j1:j2])))
    return tuple(runs)

"""`newsmon stories`: give every article a story, or regroup the whole archive.

Each batch of articles is grouped in its own write transaction, so a running crawl waits
milliseconds, not minutes, and an interrupted run loses nothing: the next run carries on
with the articles still without a story (``--rebuild`` starts over and is idempotent: the
same archive always gives the same stories, with the same ids).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipelines import stories
from pipelines.database import open_database, write_transaction

BATCH = 200  # articles per transaction


def regroup(db_path: Path, *, rebuild: bool) -> None:
    db = open_database(db_path)
    try:
        if rebuild:
            with write_transaction(db):
                stories.clear(db.conn)
        pending = stories.unassigned(db.conn)
        label = "Regrouping articles" if rebuild else "Grouping articles without a story"
        with click.progressbar(length=len(pending), label=label, file=sys.stderr) as bar:
            for start in range(0, len(pending), BATCH):
                batch = pending[start : start + BATCH]
                with write_transaction(db):
                    for article_id in batch:
                        stories.assign(db.conn, article_id)
                bar.update(len(batch))
        total, shared = db.execute(
            "select count(*), coalesce(sum(articles > 1), 0) from stories"
        ).fetchone()
        click.echo(
            f"{len(pending)} articles grouped; {total} stories, "
            f"{shared} of them with more than one article"
        )
    finally:
        db.close()

"""What the article keys (migration m011) cost: migrating an archive of years, and each write.

    python -m bench.article_keys [--articles 20000] [--writes 2000]

Builds an archive of the schema before m011 with N articles (a 4 KB text and one version
each), 3 seen URLs per article and a duplicate for every tenth, then times the migration
(the keys backfilled by URL, and ``article_versions`` rebuilt to declare its foreign key).
Then times W seen-URL outcomes (with a duplicate each) written through the store, on an
archive without the keys' triggers and on one with them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sqlite_utils

from pipelines.database import open_database
from pipelines.schema import migrations
from pipelines.store import Archive

TEXT = "Forces loyal to rival governments clashed in Tripoli overnight. " * 64


def old_archive(path: Path, articles: int) -> None:
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m011_article_keys")
    url = "https://www.rferl.org/a/{}.html".format
    with db.conn:
        db.table("articles").insert_all(
            (
                {"id": i, "url": url(i), "url_key": f"rferl:{i}", "source": "rferl",
                 "title": f"Libya {i}", "text": TEXT, "authors": "[]", "first_seen": "2026"}
                for i in range(1, articles + 1)
            ),
            batch_size=1000,
        )  # fmt: skip
        db.execute(
            "insert into article_versions (article_id, version, title, text) "
            "select id, 1, title, text from articles"
        )
        db.table("seen_urls").insert_all(
            (
                {"key": f"k{i}-{n}", "url": url(i), "outcome": "stored" if n == 0 else "duplicate",
                 "article_url": url(i)}
                for i in range(1, articles + 1) for n in range(3)
            ),
            batch_size=1000,
        )  # fmt: skip
        db.table("duplicates").insert_all(
            {"source": "rferl", "url": f"https://x/{i}", "duplicate_of": url(i)}
            for i in range(1, articles + 1, 10)
        )
    db.close()


def time_writes(db: sqlite_utils.Database, writes: int) -> float:
    archive = Archive(db)
    start = time.perf_counter()
    for n in range(writes):
        url = f"https://www.rferl.org/a/{n % 100 + 1}.html"
        archive.record_outcome(
            "rferl", [(f"w{n}", f"https://x/w{n}")], "duplicate", "same text", duplicate_of=url
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--writes", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "old.db"
        old_archive(path, args.articles)
        size = path.stat().st_size / 2**20
        start = time.perf_counter()
        open_database(path).close()
        migrated = time.perf_counter() - start
        print(f"migration m011 on {args.articles} articles ({size:.0f} MiB): {migrated:.2f} s")

        for name in ("before.db", "after.db"):
            old_archive(Path(tmp) / name, 100)
        before = sqlite_utils.Database(Path(tmp) / "before.db")  # not migrated: no keys
        before.enable_wal()
        without = time_writes(before, args.writes)
        with_keys = time_writes(open_database(Path(tmp) / "after.db"), args.writes)
        each = 1e6 / args.writes
        print(
            f"{args.writes} outcomes with a duplicate: {without * each:.0f} µs each without "
            f"the keys, {with_keys * each:.0f} µs each with them"
        )


if __name__ == "__main__":
    main()

"""Where the store path's time goes in a big archive, statement by statement, against an empty one.

    python -m bench.scale_profile --db ARCHIVE [--pages 200] [--warm]

ARCHIVE is one kept by ``python -m bench.scale --db ARCHIVE --keep`` (what an earlier run
stored into it is taken out first). Stores the pages into it and into an empty archive,
taking turns article by article, and prints per article: the stages' milliseconds, the
bytes the process read and wrote (``/proc/self/io``: what SQLite's page cache missed, and
the WAL and checkpoints), and the statements whose time grew most. A statement's time runs
from its start to the next statement's (SQLite's trace hook), so it includes the Python
work in between. ``--warm`` first reads the hot path's indexes once, as a long-running
machine with the memory for them would hold them.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.scale import StorePath, articles_to_store, forget_bench_articles, shape
from crawler.items import Article
from pipelines.database import open_database

SAVEPOINT_NAME = re.compile(r"sqlite_utils_[0-9a-f]+")
HOT_INDEXES = [
    "select count(*) from sketch_bands",
    "select count(*) from text_sketches",
    "select count(*) from articles indexed by idx_articles_content_hash where content_hash > ''",
    "select count(*) from articles indexed by idx_articles_url where url > ''",
    "select count(*) from articles indexed by idx_articles_url_key where url_key > ''",
    "select count(*) from articles indexed by articles_story_time "
    "where coalesce(published, first_seen) > ''",
    "select count(*) from seen_urls where key > ''",
    "select count(*) from fetch_state where key > ''",
    "select count(*) from pages where url > ''",
    "select count(*), sum(length(block)) from articles_fts_data",
]


def io_bytes() -> tuple[int, int]:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"]), int(fields["wchar"])


class Profiled:
    """A StorePath whose statements are timed and whose I/O is counted."""

    def __init__(self, path: Path):
        self.path = StorePath(path)
        self.statements: dict[str, float] = defaultdict(float)
        self.read = self.written = 0
        self._current: tuple[str, float] | None = None
        self.path.db.conn.set_trace_callback(self._trace)

    def _trace(self, sql: str) -> None:
        self._close()
        statement = SAVEPOINT_NAME.sub("sqlite_utils_?", shape(sql))[:140]
        self._current = (statement, time.perf_counter())

    def _close(self) -> None:
        if self._current is not None:
            statement, started = self._current
            self.statements[statement] += time.perf_counter() - started
            self._current = None

    def store(self, article: Article) -> None:
        read, written = io_bytes()
        self.path.store(article)
        self._close()
        after_read, after_written = io_bytes()
        self.read += after_read - read
        self.written += after_written - written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a kept big archive")
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--warm", action="store_true", help="read the hot indexes first")
    args = parser.parse_args(argv)
    if not args.db.exists():
        parser.error(f"--db: {args.db} does not exist")
    print(f"took out {forget_bench_articles(args.db)} articles of an earlier run")
    if args.warm:
        started = time.perf_counter()
        conn = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
        for sql in HOT_INDEXES:
            conn.execute(sql).fetchone()
        conn.close()
        print(f"read the hot indexes in {time.perf_counter() - started:.0f} s")
    articles = articles_to_store(args.pages)
    with tempfile.TemporaryDirectory(prefix="newsmon-profile-") as work:
        empty = Path(work) / "empty.db"
        open_database(empty).close()
        runs = {"empty": Profiled(empty), "big": Profiled(args.db)}
        for article in articles:
            for run in runs.values():
                run.store(article)
        count = len(articles)
        for name, run in runs.items():
            stages = " ".join(f"{k} {v * 1000 / count:.2f}" for k, v in run.path.stages.items())
            print(
                f"{name}: ms per article: {stages}, all {run.path.seconds * 1000 / count:.2f}; "
                f"KiB read {run.read / count / 1024:.0f}, written {run.written / count / 1024:.0f}"
            )
        big, small = runs["big"], runs["empty"]
        print(f"ratio: {big.path.seconds / small.path.seconds:.2f}")
        grown = sorted(
            set(big.statements) | set(small.statements),
            key=lambda s: small.statements[s] - big.statements[s],
        )
        print(f"{'big ms':>8} {'empty ms':>8}  statement (grown most first)")
        for statement in grown[:15]:
            cells = (big.statements[statement], small.statements[statement])
            print("".join(f"{c * 1000 / count:9.2f}" for c in cells) + f"  {statement}")
        for run in runs.values():
            run.path.archive.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

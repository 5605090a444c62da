"""Cost of story assignment as the archive grows: assigning a new article must cost a handful
of indexed lookups, not a comparison with the whole archive.

Builds archives of the given sizes from synthetic texts (sentences of real wire copy from the
Reuters-21578 Libya set and the real article fixtures, recombined), published at a constant
rate (--per-day articles a day, so a larger archive spans more days, as a real one does), then
times `stories.assign` for --new articles in one transaction each, as the store does: half
new stories, half near-copies (reprints, edited versions) of archive articles.

    python -m bench.stories                    # 1,000 and 10,000 articles
    python -m bench.stories --sizes 1000 100000
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from pipelines import stories
from pipelines.database import open_database, write_transaction
from pipelines.neardup import Sketch, band_keys

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests/fixtures/stories/labelled_pairs.json"
START = datetime(2020, 1, 1)


def sentence_pool() -> list[str]:
    """Distinct sentences of the real texts in the labelled pairs."""
    texts = set()
    for pair in json.loads(CORPUS.read_text("utf-8")):
        texts.update({pair["a"]["text"], pair["b"]["text"]})
    sentences = {s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+", t)}
    return sorted(s for s in sentences if len(s.split()) >= 6)


def synthetic_article(rng: random.Random, pool: list[str], n: int) -> tuple[str, str]:
    sentences = rng.sample(pool, rng.randint(8, 16))
    # A few unique words per paragraph, so each synthetic story is its own text.
    paragraphs = [f"{s} (item {n}-{i})" for i, s in enumerate(sentences)]
    return sentences[0][:90], "\n\n".join(paragraphs)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_archive(path: Path, size: int, per_day: int, rng: random.Random) -> list[int]:
    """An archive of ``size`` articles, each its own story, indexed as assign would index it."""
    pool = sentence_pool()
    db = open_database(path)
    # The full-text index plays no part in assignment: building it would only slow the build.
    for trigger in db.execute("select name from sqlite_master where type = 'trigger'").fetchall():
        db.execute(f"drop trigger {trigger[0]}")
    step = timedelta(days=1) / per_day
    # Band rows go to a plain table first and into the index sorted: a bulk build, not
    # 42 random B-tree inserts per article.
    db.execute("create temp table staged_bands (key integer, article_id integer)")
    with write_transaction(db):
        for n in range(size):
            title, text = synthetic_article(rng, pool, n)
            story_id = db.execute(
                "insert into stories (title, first_published, last_published, articles, "
                "sources, sites) values (?, ?, ?, 1, '[\"afp\"]', '[\"bench.example\"]')",
                [title, iso(START + n * step), iso(START + n * step)],
            ).lastrowid
            article_id = db.execute(
                "insert into articles (url, url_key, source, title, text, published, authors, "
                "first_seen, story_id, story_role, site) values "
                "(?, ?, 'afp', ?, ?, ?, '[]', ?, ?, 'original', 'bench.example')",
                [
                    f"https://bench.example/{n}",
                    f"b{n}",
                    title,
                    text,
                    iso(START + n * step),
                    iso(START + n * step),
                    story_id,
                ],
            ).lastrowid
            sketch = Sketch.of(title, text)
            db.execute(
                "insert into text_sketches values (?, ?, ?)",
                [article_id, sketch.packed(), " ".join(sorted(sketch.lead))],
            )
            db.conn.executemany(
                "insert into staged_bands values (?, ?)",
                [(key, article_id) for key in band_keys(sketch.signature)],
            )
        db.execute(
            "insert or ignore into sketch_bands select key, article_id from staged_bands "
            "order by key, article_id"
        )
    ids = [row[0] for row in db.execute("select id from articles order by id")]
    db.close()
    return ids


def time_assignments(
    path: Path, size: int, new: int, per_day: int, rng: random.Random
) -> tuple[float, float]:
    """(CPU, wall) seconds per assigned article, for ``new`` articles arriving after the
    archive's end. CPU time is the figure to compare: on a shared machine wall time mostly
    measures the other processes."""
    db = open_database(path)
    pool = sentence_pool()
    end = START + timedelta(days=1) / per_day * size
    recent = [
        row for row in db.execute("select title, text from articles order by id desc limit 200")
    ]
    cpu = wall = 0.0
    for n in range(new):
        if n % 2:  # a near-copy of a recent archive article: a licensee's reprint, edited
            title, text = rng.choice(recent)
            text = "PARIS (AFP) - " + text.rsplit("\n\n", 2)[0]
        else:
            title, text = synthetic_article(rng, pool, size + n)
        when = iso(end + timedelta(minutes=n))
        started, started_cpu = time.perf_counter(), time.process_time()
        with write_transaction(db):
            article_id = db.execute(
                "insert into articles (url, url_key, source, title, text, published, authors, "
                "first_seen, site) values (?, ?, 'afp', ?, ?, ?, '[]', ?, 'bench.example')",
                [f"https://bench.example/new/{n}", f"new{n}", title, text, when, when],
            ).lastrowid
            assert article_id is not None
            stories.assign(db.conn, article_id)
        wall += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
    joined = db.execute(
        "select count(*) from articles where url_key like 'new%' and story_role = 'republished'"
    ).fetchone()[0]
    db.close()
    print(f"    {joined} of {new} new articles joined an archive story as copies")
    return cpu / new, wall / new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--new", type=int, default=200, help="articles assigned per archive")
    parser.add_argument("--per-day", type=int, default=50, help="articles published a day")
    args = parser.parse_args()
    costs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            rng = random.Random(size)
            path = Path(tmp) / f"archive-{size}.db"
            started = time.process_time()
            build_archive(path, size, args.per_day, rng)
            built = time.process_time() - started
            print(
                f"archive of {size:,} articles built in {built:.1f} s CPU "
                f"({path.stat().st_size / 1e6:.0f} MB)"
            )
            cpu, wall = time_assignments(path, size, args.new, args.per_day, rng)
            costs[size] = cpu
            print(f"  assign: {cpu * 1000:.2f} ms CPU, {wall * 1000:.2f} ms wall per article")
    smallest, largest = min(costs), max(costs)
    ratio = costs[largest] / costs[smallest]
    print(f"per-article CPU cost ratio {largest:,} / {smallest:,}: {ratio:.2f}")


if __name__ == "__main__":
    main()

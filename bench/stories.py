"""Cost of story assignment as the archive grows: assigning a new article must cost a handful
of indexed lookups, not a comparison with the whole archive.

Builds archives of the given sizes by bulk inserts (the build is not timed against the
target), published at a constant rate (--per-day articles a day, so a larger archive spans
more days, as a real one does), then times `stories.assign` for --new articles arriving after
the archive's end, one transaction each, as the store does: half new stories, half
near-copies (a licensee's reprint with its own dateline and a cut ending) of recent articles.
It prints the CPU time of `stories.assign` alone (the target: at 100,000 articles within 1.2x
of its cost at 1,000) and of the store's whole transaction (the article row and the commit
too). The sizes take turns in rounds and each figure is the median of its rounds, so that a
shared machine's changing load does not favour one size.

The texts are synthetic but shaped like real ones: each rewords a real wire text (the 289
Reuters-21578 Libya stories and the labelled pairs' texts), replacing a third of its words
with words of the same corpus, so that articles share vocabulary and topics but rarely a run
of five words, as different real stories do. A fifth of them end with a real Reuters credit
line, the boilerplate that makes band keys common in a real archive. Measured on 1,500 of
them: 2.5 % of pairs share a 5-word shingle, 1 % share more than 2 % of their shingles;
among the 289 real texts, 0.6 % and 0.07 % (they carry no credit lines), so the synthetic
archive collides more than a real one, not less. (The earlier synthetic texts, whole real
sentences recombined, collided in 43 % and 26 % of pairs: the number of band candidates of
a new article grew with the archive, from 4 at 1,000 articles to 22 at 10,000.)

    python -m bench.stories                           # 1,000 and 10,000 articles
    python -m bench.stories --sizes 1000 10000 100000
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pipelines import stories
from pipelines.database import open_database, write_transaction
from pipelines.neardup import Sketch, band_keys

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests/fixtures"
REUTERS_21578 = FIXTURES / "real/relevance/reuters21578_about_libya.jsonl"
PAIRS = FIXTURES / "stories/labelled_pairs.json"
REUTERS_PAGES = FIXTURES / "real/reuters/pages"
START = datetime(2020, 1, 1)
# The share of a base text's words replaced: two articles reworded from one base then share
# about 1 % of their 5-word shingles, like two real stories on one topic.
REWORD = 0.33
# Articles ending with a credit line (a short one: long lists of reporters never repeat).
FOOTER_SHARE = 0.2
FOOTER_WORDS = 30


@dataclass(frozen=True)
class Corpus:
    """Real texts (as paragraphs), the words they use, and real credit lines."""

    bases: list[tuple[str, list[str]]]
    vocabulary: list[str]
    footers: list[str]

    @classmethod
    def load(cls) -> Corpus:
        texts = [json.loads(line) for line in REUTERS_21578.read_text("utf-8").splitlines()]
        # Reuters-21578 starts each paragraph on a new line indented by four spaces.
        bases = [(t["title"].title(), re.split(r"\n {2,}", t["text"])) for t in texts]
        for pair in json.loads(PAIRS.read_text("utf-8")):
            for item in (pair["a"], pair["b"]):
                bases.append((item["title"], item["text"].split("\n\n")))
        bases = [
            (title, [" ".join(p.split()) for p in paragraphs if p.strip()])
            for title, paragraphs in bases
        ]
        vocabulary = [w for _, paragraphs in bases for p in paragraphs for w in p.split()]
        footers = sorted(
            {
                line.strip()
                for page in REUTERS_PAGES.glob("*.expected.json")
                for line in (json.loads(page.read_text("utf-8"))["body_text"] or "").splitlines()
                if ("Reporting by" in line or "Editing by" in line)
                and len(line.split()) <= FOOTER_WORDS
            }
        )
        return cls(bases, vocabulary, footers)

    def reword(self, rng: random.Random, text: str) -> str:
        return " ".join(
            rng.choice(self.vocabulary) if rng.random() < REWORD else word for word in text.split()
        )

    def article(self, rng: random.Random) -> tuple[str, str]:
        """A synthetic article: (title, text with paragraphs separated by blank lines)."""
        title, paragraphs = rng.choice(self.bases)
        reworded = [self.reword(rng, p) for p in paragraphs]
        if self.footers and rng.random() < FOOTER_SHARE:
            reworded.append(rng.choice(self.footers))
        return self.reword(rng, title)[:90], "\n\n".join(reworded)


def near_copy(title: str, text: str) -> tuple[str, str]:
    """A licensee's reprint: its own dateline, the last paragraph cut when there are several."""
    paragraphs = text.split("\n\n")
    kept = paragraphs[:-1] if len(paragraphs) > 2 else paragraphs
    return title, "PARIS (AFP) - " + "\n\n".join(kept)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_archive(path: Path, size: int, per_day: int, rng: random.Random) -> list[int]:
    """An archive of ``size`` articles, each its own story, indexed as assign would index it."""
    corpus = Corpus.load()
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
            title, text = corpus.article(rng)
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


@dataclass
class Timings:
    """Seconds spent on the new articles of one archive, summed per round."""

    assign: list[float]  # CPU in `stories.assign`
    transaction: list[float]  # CPU of the store's whole transaction (row, story, commit)
    wall: list[float]


class Arrivals:
    """New articles arriving at one archive after its end, assigned as the store does."""

    def __init__(self, path: Path, size: int, per_day: int, rng: random.Random):
        self.db = open_database(path)
        self.corpus = Corpus.load()
        self.rng = rng
        self.end = START + timedelta(days=1) / per_day * size
        self.recent = list(
            self.db.execute("select title, text from articles order by id desc limit 200")
        )
        self.count = 0

    def assign(self, new: int) -> tuple[float, float, float]:
        """(assign CPU, transaction CPU, wall) seconds for ``new`` more articles: half new
        stories, half near-copies of recent archive articles."""
        assign_cpu = transaction_cpu = wall = 0.0
        for _ in range(new):
            n = self.count = self.count + 1
            if n % 2:
                title, text = near_copy(*self.rng.choice(self.recent))
            else:
                title, text = self.corpus.article(self.rng)
            when = iso(self.end + timedelta(minutes=n))
            started, started_cpu = time.perf_counter(), time.process_time()
            with write_transaction(self.db):
                article_id = self.db.execute(
                    "insert into articles (url, url_key, source, title, text, published, "
                    "authors, first_seen, site) values "
                    "(?, ?, 'afp', ?, ?, ?, '[]', ?, 'bench.example')",
                    [f"https://bench.example/new/{n}", f"new{n}", title, text, when, when],
                ).lastrowid
                assert article_id is not None
                before_assign = time.process_time()
                stories.assign(self.db.conn, article_id)
                assign_cpu += time.process_time() - before_assign
            wall += time.perf_counter() - started
            transaction_cpu += time.process_time() - started_cpu
        return assign_cpu, transaction_cpu, wall

    def joined(self) -> int:
        """How many new articles joined an archive story as copies."""
        return self.db.execute(
            "select count(*) from articles where url_key like 'new%' and story_role = 'republished'"
        ).fetchone()[0]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--new", type=int, default=400, help="articles assigned per archive")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the new articles come in")
    parser.add_argument("--per-day", type=int, default=50, help="articles published a day")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        arrivals = {}
        for size in args.sizes:
            rng = random.Random(size)
            path = Path(tmp) / f"archive-{size}.db"
            started = time.process_time()
            build_archive(path, size, args.per_day, rng)
            print(
                f"archive of {size:,} articles built in {time.process_time() - started:.1f} s "
                f"CPU ({path.stat().st_size / 1e6:.0f} MB)"
            )
            arrivals[size] = Arrivals(path, size, args.per_day, rng)
        # The sizes take turns, so that the load of a shared machine weighs on all alike;
        # each figure is the median of the rounds' per-article costs.
        per_round = max(1, args.new // args.rounds)
        timings = {size: Timings([], [], []) for size in args.sizes}
        for _ in range(args.rounds):
            for size, arrival in arrivals.items():
                assign_cpu, transaction_cpu, wall = arrival.assign(per_round)
                timings[size].assign.append(assign_cpu / per_round)
                timings[size].transaction.append(transaction_cpu / per_round)
                timings[size].wall.append(wall / per_round)
        for size, arrival in arrivals.items():
            t = timings[size]
            print(
                f"{size:>9,} articles: assign {median(t.assign) * 1000:.2f} ms CPU, "
                f"whole transaction {median(t.transaction) * 1000:.2f} ms CPU "
                f"({median(t.wall) * 1000:.2f} ms wall) per article; "
                f"{arrival.joined()} of {per_round * args.rounds} joined a story as copies"
            )
            arrival.db.close()
    smallest = min(args.sizes)
    for size in sorted(args.sizes)[1:]:
        print(
            f"per-article CPU cost ratio {size:,} / {smallest:,}: assign "
            f"{median(timings[size].assign) / median(timings[smallest].assign):.2f}, "
            f"whole transaction "
            f"{median(timings[size].transaction) / median(timings[smallest].transaction):.2f}"
        )


if __name__ == "__main__":
    main()

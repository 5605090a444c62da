"""Stories: near-duplicates, same-event write-ups and wire credits grouped into one story.

Pair decisions are measured on labelled pairs of real texts (tests/fixtures/stories/), through
the real assignment code and SQLite index; the rest checks the archive's invariants: every
article has a story, the story row is right, merges, roles and links, rebuilds.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from crawler.dates import utc_now
from crawler.items import Article
from pipelines import stories
from pipelines.database import open_database
from pipelines.neardup import (
    BANDS,
    BUCKET_CAP,
    Sketch,
    SketchIndex,
    band_keys,
    shingles,
    similarity,
)
from pipelines.schema import migrations
from pipelines.versions import record_revision
from tests.conftest import DemoCrawl, run_newsmon

PAIRS = json.loads(
    (Path(__file__).parent / "fixtures/stories/labelled_pairs.json").read_text("utf-8")
)
# What the thresholds must achieve on the labelled pairs.
MIN_PRECISION = 0.95
MIN_RECALL = 0.9


def memory_archive() -> sqlite_utils.Database:
    db = sqlite_utils.Database(memory=True)
    migrations.apply(db)
    return db


def add(db: sqlite_utils.Database, item: dict[str, Any], n: int) -> int:
    """Store ``item`` as the store does: the article row, then its story, in one go."""
    url = f"https://{item.get('site') or 'example.org'}/{n}"
    article_id = (
        db.table("articles")
        .insert(
            {
                "url": url,
                "url_key": url,
                "source": item.get("source") or "rferl",
                "title": item["title"],
                "text": item["text"],
                "published": item.get("published"),
                "authors": "[]",
                "site": item.get("site"),
                "agency": item.get("agency"),
                "first_seen": utc_now(),
            }
        )
        .last_rowid
    )
    assert article_id is not None
    stories.assign(db.conn, article_id)
    db.conn.commit()
    return article_id


def story_of(db: sqlite_utils.Database, article_id: int) -> int:
    return db.execute("select story_id from articles where id = ?", [article_id]).fetchone()[0]


def decide(pair: dict[str, Any]) -> bool:
    db = memory_archive()
    first, second = add(db, pair["a"], 1), add(db, pair["b"], 2)
    return story_of(db, first) == story_of(db, second)


def test_pair_decisions_reach_the_chosen_precision_and_recall() -> None:
    outcomes = [(pair["same_story"], decide(pair), pair) for pair in PAIRS]
    true_pos = sum(1 for truth, said, _ in outcomes if truth and said)
    false_pos = [p["why"] for truth, said, p in outcomes if said and not truth]
    false_neg = [p["why"] for truth, said, p in outcomes if truth and not said]
    precision = true_pos / (true_pos + len(false_pos))
    recall = true_pos / (true_pos + len(false_neg))
    print(f"\n{len(PAIRS)} pairs: precision {precision:.3f}, recall {recall:.3f}")
    print("false positives:", false_pos, "\nfalse negatives:", false_neg)
    assert sum(truth for truth, _, _ in outcomes) >= 20
    assert sum(not truth for truth, _, _ in outcomes) >= 20
    assert precision >= MIN_PRECISION, false_pos
    assert recall >= MIN_RECALL, false_neg


def test_different_libya_stories_of_the_same_day_never_merge() -> None:
    for pair in PAIRS:
        if not pair["same_story"] and "Libya" in pair["a"]["text"] + pair["b"]["text"]:
            assert not decide(pair), pair["why"]


def test_every_labelled_pair_names_its_provenance() -> None:
    for pair in PAIRS:
        assert pair["why"] and pair["kind"]
        assert pair["a"]["origin"] and pair["b"]["origin"]


def test_signatures_estimate_jaccard_and_band_keys_are_stable() -> None:
    text = " ".join(f"word{i}" for i in range(400))
    half = " ".join(f"word{i}" for i in range(200))
    exact = len(set(shingles(text)) & set(shingles(half))) / len(set(shingles(text)))
    estimate = similarity(Sketch.of("", text).signature, Sketch.of("", half).signature)
    assert abs(estimate - exact) < 0.12
    keys = band_keys(Sketch.of("", text).signature)
    assert len(keys) == len(set(keys)) == BANDS
    assert keys == band_keys(Sketch.of("t", text).signature)  # same text, same keys


def test_finding_copies_compares_only_the_texts_that_share_a_band() -> None:
    db = memory_archive()
    texts = [p["a"] for p in PAIRS if p["kind"] == "unrelated"]
    for n in range(200):  # other stories, built from the same real sentences
        mixed = " ".join(texts[n % len(texts)]["text"].split()[n % 40 :][:150]) + f" item {n}"
        add(db, {"title": f"Other {n}", "text": mixed}, n + 10)
    wire = next(p for p in PAIRS if p["kind"] == "resend")
    original = add(db, wire["a"], 1)
    copy = Sketch.of(wire["b"]["title"], wire["b"]["text"])
    assert SketchIndex(db.conn).candidates(copy, exclude=-1) == [original]
    plan = " ".join(
        str(row)
        for row in db.execute(
            "explain query plan select article_id from sketch_bands where key = 1 "
            "and article_id != 2 order by article_id desc limit 8"
        )
    )
    assert "USING PRIMARY KEY (key=?)" in plan and "TEMP B-TREE" not in plan


def test_the_time_window_of_an_article_is_one_index_range_for_dated_and_undated_articles() -> None:
    db = memory_archive()
    # The same sale reported twice in other words: found through the window, not the bands.
    wire = next(p for p in PAIRS if p["why"].endswith("in other words"))
    undated = add(db, {**wire["a"], "published": None}, 1)  # its first sighting: now
    write_up = add(db, {**wire["b"], "published": utc_now()}, 2)
    assert story_of(db, undated) == story_of(db, write_up)
    plan = " ".join(
        str(row)
        for row in db.execute("explain query plan " + stories.WINDOW_QUERY, ["a", "b", 1, 5])
    )
    assert "USING INDEX articles_story_time" in plan and "SCAN articles" not in plan


def test_comparing_an_article_with_its_time_window_reads_no_article_row() -> None:
    """A row of ``articles`` holds the whole text: reading the window's 500 rows for every
    stored article made storing into a ten-year archive dearer than into a young one."""
    db = memory_archive()
    steps = [
        row[3] for row in db.execute("explain query plan " + stories.WINDOW_QUERY, ["a", "b", 1, 5])
    ]
    reads = [step for step in steps if step.startswith(("SEARCH", "SCAN"))]
    assert reads == [
        "SEARCH articles USING INDEX articles_story_time (<expr>>? AND <expr><?)",
        "SCAN w",
        "SEARCH s USING INTEGER PRIMARY KEY (rowid=?)",
    ]


def test_a_band_shared_by_many_texts_names_only_its_most_recent_as_candidates() -> None:
    """Boilerplate every article carries makes a band common; looking up a new article must
    not cost a comparison with all of them."""
    db = memory_archive()
    index = SketchIndex(db.conn)
    text = PAIRS[0]["a"]["text"]
    for article_id in range(1, 31):
        index.add(article_id, Sketch.of("", text))
    found = index.candidates(Sketch.of("", text), exclude=30)
    assert found == list(range(29, 29 - BUCKET_CAP, -1))


def test_every_article_gets_a_story_row_with_title_times_count_and_sources() -> None:
    db = memory_archive()
    pair = next(p for p in PAIRS if p["kind"] == "credited rewrite")
    write_up = add(db, {**pair["a"], "source": "rferl"}, 1)
    wire = add(db, {**pair["b"], "source": "afp"}, 2)
    alone = add(db, {"title": "Something else", "text": "entirely different " * 30}, 3)
    assert db.execute("select count(*) from articles where story_id is null").fetchone()[0] == 0
    story = dict(
        zip(
            ["title", "first_published", "last_published", "articles", "sources", "sites"],
            db.execute(
                "select title, first_published, last_published, articles, sources, sites "
                "from stories where id = ?",
                [story_of(db, write_up)],
            ).fetchone(),
            strict=True,
        )
    )
    assert story_of(db, wire) == story_of(db, write_up) != story_of(db, alone)
    earliest = min((pair["a"], pair["b"]), key=lambda item: item["published"])
    assert story["title"] == earliest["title"]
    assert story["first_published"] == earliest["published"]
    assert story["last_published"] == max(pair["a"]["published"], pair["b"]["published"])
    assert story["articles"] == 2
    assert json.loads(story["sources"]) == ["afp", "rferl"]
    assert len(json.loads(story["sites"])) == 2


def test_a_write_up_crediting_two_agencies_links_to_both_wire_copies_and_merges_them() -> None:
    db = memory_archive()
    by_kind = {p["why"]: p for p in PAIRS if p["kind"] in ("credited rewrite", "two agencies")}
    afp_pair = next(p for why, p in by_kind.items() if why.endswith("AFP's copy"))
    reuters_pair = next(p for why, p in by_kind.items() if why.endswith("Reuters' copy"))
    afp = add(db, {**afp_pair["b"], "source": "afp"}, 1)
    reuters = add(db, {**reuters_pair["b"], "source": "reuters"}, 2)
    rferl = add(db, {**afp_pair["a"], "source": "rferl"}, 3)
    assert story_of(db, afp) == story_of(db, reuters) == story_of(db, rferl)
    assert db.execute("select count(*) from stories").fetchone()[0] == 1  # merged, not nested
    roles = dict(db.execute("select id, story_role from articles").fetchall())
    assert roles == {afp: "original", reuters: "original", rferl: "rewrite"}
    links = db.execute(
        "select article_id, linked_id, relation, agency from story_links order by agency"
    ).fetchall()
    assert links == [(rferl, afp, "based_on", "AFP"), (rferl, reuters, "based_on", "Reuters")]


def test_a_write_up_crediting_two_agencies_of_one_joint_copy_links_to_it_once() -> None:
    db = memory_archive()
    pair = next(p for p in PAIRS if p["why"].endswith("AFP's copy"))
    joint = add(db, {**pair["b"], "source": "afp", "agency": "AFP, Reuters"}, 1)
    write_up = add(db, {**pair["a"], "source": "rferl"}, 2)
    assert story_of(db, joint) == story_of(db, write_up)
    links = db.execute("select article_id, linked_id, agency from story_links").fetchall()
    assert links == [(write_up, joint, "AFP, Reuters")]


def test_a_republished_copy_is_linked_to_the_earlier_original() -> None:
    db = memory_archive()
    pair = next(p for p in PAIRS if p["kind"] == "reprint")
    original = add(db, {**pair["a"], "source": "afp", "agency": "AFP"}, 1)
    copy = add(db, {**pair["b"], "source": "afp", "agency": "AFP"}, 2)
    assert db.execute("select story_role from articles where id = ?", [copy]).fetchone() == (
        "republished",
    )
    relation, agency, score = db.execute(
        "select relation, agency, similarity from story_links where article_id = ? "
        "and linked_id = ?",
        [copy, original],
    ).fetchone()
    assert (relation, agency) == ("copy_of", "AFP")
    assert score > 0.8


def story_layout_of(db: sqlite_utils.Database) -> list[list[Any]]:
    return [
        db.execute(query).fetchall()
        for query in (
            "select id, story_id, story_role from articles order by id",
            "select * from story_links order by article_id, linked_id",
            "select * from stories order by id",
        )
    ]


def assert_as_regrouped(db: sqlite_utils.Database) -> None:
    added = story_layout_of(db)
    for (story_id,) in db.execute("select id from stories").fetchall():
        stories.refresh(db.conn, story_id)
    assert story_layout_of(db) == added


def test_adding_articles_one_by_one_gives_what_regrouping_every_story_gives() -> None:
    """assign() adds a newcomer to its story without recomputing every member's role when
    that gives the same answer (stories._append): check it against a full refresh."""
    db = memory_archive()
    agencies = [None, "AFP", "Reuters", "AFP, Reuters"]
    for n, pair in enumerate(PAIRS):
        for k, side in enumerate((pair["a"], pair["b"])):
            agency = side.get("agency") or agencies[(n + k) % len(agencies)]
            add(db, {**side, "agency": agency}, 2 * n + k)
    reprint = next(p for p in PAIRS if p["kind"] == "reprint")["a"]
    for copy in range(6):  # one story of many copies, the newest always last
        add(db, {**reprint, "text": f"{reprint['text']} Copy {copy}."}, 10_000 + copy)
    assert max(row[4] for row in story_layout_of(db)[2]) >= 7  # the many-copies story
    assert_as_regrouped(db)


def test_a_wire_copy_stored_after_a_write_up_crediting_it_makes_that_a_rewrite() -> None:
    db = memory_archive()
    pair = next(p for p in PAIRS if p["why"].endswith("AFP's copy"))
    write_up = add(db, {**pair["a"], "published": "2030-01-01T10:00:00Z"}, 1)
    add(db, {**pair["b"], "agency": "AFP", "published": "2030-01-01T11:00:00Z"}, 2)
    role = db.execute("select story_role from articles where id = ?", [write_up]).fetchone()
    assert role == ("rewrite",)
    assert_as_regrouped(db)


def test_a_new_version_of_an_article_keeps_its_story() -> None:
    db = memory_archive()
    pair = next(p for p in PAIRS if p["kind"] == "edited")
    first = add(db, pair["a"], 1)
    before = story_of(db, first)
    db.execute("update articles set text = ? where id = ?", [pair["b"]["text"], first])
    stories.assign(db.conn, first)
    assert story_of(db, first) == before
    assert db.execute("select articles from stories where id = ?", [before]).fetchone() == (1,)


def revision(db: sqlite_utils.Database, article_id: int, title: str, text: str) -> Article:
    """A new fetch of stored article ``article_id`` whose title and text changed."""
    (row,) = db.query("select * from articles where id = ?", [article_id])
    return Article(
        source=row["source"],
        url=row["url"],
        key=row["url_key"],
        requested_url=row["url"],
        requested_key=row["url_key"],
        title=title,
        text=text,
        published=row["published"],
        modified=None,
        authors=[],
        language="en",
        description=None,
        site=row["site"] or "",
        agency=row["agency"],
        fetched=utc_now(),
        discovered_via="sitemap",
        html="<html></html>",
        content_hash="revised",
    )


def test_a_revised_text_replaces_its_sketch_and_joins_the_story_of_its_new_copy() -> None:
    db = memory_archive()
    wire = next(p for p in PAIRS if p["kind"] == "reprint")
    unrelated = next(p for p in PAIRS if p["kind"] == "unrelated")["b"]  # another story
    original = add(db, {**wire["a"], "source": "afp", "agency": "AFP"}, 1)
    # First fetched as another text (a placeholder, an earlier story at the same address).
    stub = add(db, {**unrelated, "published": wire["b"]["published"], "agency": "AFP"}, 2)
    assert story_of(db, stub) != story_of(db, original)
    old_keys = set(band_keys(Sketch.of(unrelated["title"], unrelated["text"]).signature))

    record_revision(db, stub, revision(db, stub, wire["b"]["title"], wire["b"]["text"]))

    bands = {
        key for (key,) in db.execute("select key from sketch_bands where article_id = ?", [stub])
    }
    assert bands == set(band_keys(Sketch.of(wire["b"]["title"], wire["b"]["text"]).signature))
    assert bands.isdisjoint(old_keys)  # the old text's bands are gone
    assert story_of(db, stub) == story_of(db, original)
    assert db.execute("select count(*) from stories").fetchone() == (1,)
    assert db.execute(
        "select story_role, linked_id, relation from articles join story_links "
        "on article_id = id where id = ?",
        [stub],
    ).fetchone() == ("republished", original, "copy_of")


def test_an_unchanged_fetch_leaves_the_story_and_sketch_alone() -> None:
    db = memory_archive()
    pair = next(p for p in PAIRS if p["kind"] == "reprint")
    first = add(db, pair["a"], 1)
    bands = db.execute("select key from sketch_bands order by key").fetchall()
    same = revision(db, first, pair["a"]["title"], pair["a"]["text"])
    same.content_hash = db.execute("select content_hash from articles").fetchone()[0]
    assert not record_revision(db, first, same).changed
    assert db.execute("select key from sketch_bands order by key").fetchall() == bands


def at(hours: float) -> str:
    return (datetime(2024, 5, 1, tzinfo=UTC) + timedelta(hours=hours)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def groups(db: sqlite_utils.Database, ids: list[int]) -> list[list[int]]:
    """The articles ``ids`` grouped by story, in order."""
    by_story: dict[int, list[int]] = {}
    for article_id in ids:
        by_story.setdefault(story_of(db, article_id), []).append(article_id)
    return list(by_story.values())


def test_the_same_event_told_again_joins_only_within_the_window_of_the_storys_start() -> None:
    """A~B, B~C, C~D, each within 48 h, must not grow one story for ever."""
    db = memory_archive()
    lead = PAIRS[0]["a"]["text"].split()[:60]
    ids = []
    for n, hours in enumerate([0, 40, 80, 120]):
        # The same event in other words: the lead's words in another order (no 5-word run
        # in common, so never a near-duplicate).
        words = random.Random(n).sample(lead, len(lead))
        item = {"title": PAIRS[0]["a"]["title"], "text": " ".join(words), "published": at(hours)}
        ids.append(add(db, item, n))
    a, b, c, d = ids
    assert groups(db, ids) == [[a, b], [c, d]]


def test_copies_of_one_text_weeks_apart_start_a_new_story() -> None:
    db = memory_archive()
    wire = next(p for p in PAIRS if p["kind"] == "reprint")["a"]
    ids = [
        add(db, {**wire, "text": f"CITY {n} (AFP) - {wire['text']}", "published": at(48 * n)}, n)
        for n in range(6)  # the same copy every other day for ten days
    ]
    assert groups(db, ids) == [ids[:4], ids[4:]]
    spans = db.execute("select first_published, last_published from stories order by id")
    assert spans.fetchall() == [(at(0), at(144)), (at(192), at(240))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Text.\n\nBased on reporting by AFP and Reuters", {"AFP", "Reuters"}),
        ("Text.\n\nWith reporting by Reuters", {"Reuters"}),
        ("Text. (Compiled from AFP reports)", {"AFP"}),
        ("TRIPOLI (Reuters) - Text.\n\nReporting by Ahmed Elumami; Editing by D. F.", set()),
        ("Text about AFP journalists and Reuters photographers.", set()),
    ],
)
def test_only_credit_lines_make_a_write_up(text: str, expected: set[str]) -> None:
    assert stories.credited_agencies(text) == expected


def story_layout(db_path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(
            "select a.url, a.story_role, s.title, s.articles, s.sources from articles a "
            "join stories s on s.id = a.story_id order by a.url"
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def crawled(demo_crawl: DemoCrawl, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_crawl.copy(tmp_path_factory.mktemp("stories"))


def test_a_crawl_groups_wire_copies_and_the_write_up_across_three_sites(crawled: Path) -> None:
    layout = story_layout(crawled)
    shared = [row for row in layout if row[3] == 3]
    assert {row[0].split("/")[2] for row in shared} == {
        "www.rferl.org",
        "www.france24.com",
        "www.reuters.com",
    }
    assert json.loads(shared[0][4]) == ["afp", "reuters", "rferl"]
    assert sorted(row[1] for row in shared) == ["original", "original", "rewrite"]
    assert all(row[3] == 1 for row in layout if row not in shared)


def test_rebuild_is_idempotent_and_shows_progress(crawled: Path, tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    db_path.write_bytes(crawled.read_bytes())
    before = story_layout(db_path)
    first = run_newsmon("stories", "--rebuild", "--db", str(db_path))
    assert first.returncode == 0, first.stderr
    assert "Regrouping articles" in first.stderr
    assert "8 articles grouped; 6 stories, 1 of them with more than one article" in first.stdout
    ids = sqlite3.connect(db_path).execute("select id, story_id from articles").fetchall()
    second = run_newsmon("stories", "--rebuild", "--db", str(db_path))
    assert second.returncode == 0, second.stderr
    assert story_layout(db_path) == before
    assert sqlite3.connect(db_path).execute("select id, story_id from articles").fetchall() == ids


def test_articles_left_without_a_story_are_repaired(crawled: Path, tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    db_path.write_bytes(crawled.read_bytes())
    before = story_layout(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("update articles set story_id = null where source = 'rferl'")
    conn.commit()
    conn.close()
    result = run_newsmon("stories", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2 articles grouped")
    assert story_layout(db_path) == before


def test_an_archive_from_before_stories_is_grouped_when_migrated(tmp_path: Path) -> None:
    db_path = tmp_path / "old.db"
    db = sqlite_utils.Database(db_path)
    migrations.apply(db, stop_before="m005_stories")
    pair = next(p for p in PAIRS if p["kind"] == "reprint")
    for n, item in enumerate((pair["a"], pair["b"])):
        db.table("articles").insert(
            {
                "url": f"https://x/{n}",
                "url_key": f"x{n}",
                "source": "afp",
                "title": item["title"],
                "text": item["text"],
                "published": item["published"],
                "authors": "[]",
                "first_seen": utc_now(),
            }
        )
    db.close()
    upgraded = open_database(db_path)
    assert upgraded.execute(
        "select count(distinct story_id), count(*) from articles where story_id is not null"
    ).fetchone() == (1, 2)

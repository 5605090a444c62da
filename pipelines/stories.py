"""Stories: one news event, all its copies, across sources.

Every stored article belongs to exactly one story. An article joins the story of

* a near-duplicate text (the same wire copy on another site, an edited or cut version), found
  through the MinHash/LSH index of ``pipelines.neardup``; or, failing that,
* an article telling the same event: similar title and lead words, published within
  ``EVENT_WINDOW`` of it. A write-up that credits an agency ("based on reporting by AFP")
  needs less lead similarity to join that agency's copy than two unrelated texts do.

An article matching several stories merges them (the lowest story id survives). Stories do
not chain without end (A like B, B like C, ... each within two days): a same-event match joins
a story only within ``EVENT_WINDOW`` of the story's first article, and no story spans more
than ``STORY_SPAN`` from its first article to its last. Inside a
story every article gets a role: ``original`` (a text of its own: wire copy or own reporting),
``republished`` (a near-duplicate of an earlier article, linked to it) or ``rewrite`` (credits
an agency whose copy is in the story, linked to that copy), kept in ``story_links``.

``assign`` runs inside the store's transaction, so an article and its story are written
together or not at all; ``assign_missing``, ``unassigned`` and ``clear`` let a migration and
`newsmon stories` (scheduler/regroup.py) repair or regroup an archive.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from pipelines.neardup import Sketch, SketchIndex, similarity, term_similarity

# Thresholds chosen on the labelled pairs of tests/fixtures/stories/labelled_pairs.json
# (tests/test_stories.py measures precision and recall on them).
# Estimated Jaccard of 5-word shingles: a reprint scores 0.9-1.0, an edited lede with a cut
# ending 0.45-0.75, the first half of a story alone 0.38-0.55; different stories on the same
# topic the same day at most 0.22 (two banks raising their prime rate in the same words).
DUPLICATE_THRESHOLD = 0.3
# Jaccard of title-and-lead content words: the same event rewritten scores 0.55-0.9, while
# different stories on one topic the same day reach 0.48 (the prime-rate pair again).
EVENT_THRESHOLD = 0.5
# When one article credits the other's agency ("based on reporting by AFP"), a write-up that
# shares a fifth of its lead words with that agency's copy of the same days joins it;
# different Libya stories of the same days share at most 0.15.
CREDITED_EVENT_THRESHOLD = 0.2
# The same event is reported within a day or two; follow-ups days later are new stories.
EVENT_WINDOW = timedelta(hours=48)
# At most this many articles of the window are compared (the most recent, nearest in time).
EVENT_CANDIDATES = 500
# Licensees republish wire copy and updates follow for days, but a story never spans more
# than a week: a copy weeks later is a new use of old text (an anniversary piece, a template
# repeated daily) and starts a story of its own.
STORY_SPAN = timedelta(days=7)

# "Based on reporting by AFP and Reuters", "with reporting by Reuters", "compiled from AFP
# reports": the article is a write-up of the agencies' copy, not the copy itself.
_REWRITE_CREDIT = re.compile(
    r"(?:based on|with|additional|compiled from|using)\s+(?:reporting|reports?|material|"
    r"information|dispatches)\s+(?:by|from)\s+(?P<who>[^.\n]{0,80})"
    r"|compiled from (?P<who2>[^.\n]{0,60}?) (?:reports|dispatches)",
    re.IGNORECASE,
)
_AGENCY_NAMES = {
    "AFP": re.compile(r"\bAFP\b|Agence France[- ]Presse", re.IGNORECASE),
    "Reuters": re.compile(r"\bReuters?\b", re.IGNORECASE),
    "AP": re.compile(r"\bAP\b|Associated Press"),
}

# Credit lines close a write-up ("Based on reporting by AFP and Reuters") or, rarely, follow
# its lead; the middle of a text quotes agencies without being based on them.
CREDIT_SPAN = 600


def credited_agencies(text: str) -> set[str]:
    """Agencies a write-up says it is based on (its credit line, usually last)."""
    found: set[str] = set()
    span = text if len(text) <= 2 * CREDIT_SPAN else text[:CREDIT_SPAN] + "\n" + text[-CREDIT_SPAN:]
    for match in _REWRITE_CREDIT.finditer(span):
        who = match.group("who") or match.group("who2") or ""
        found.update(name for name, pattern in _AGENCY_NAMES.items() if pattern.search(who))
    return found


def agencies_of(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


@dataclass
class Member:
    """An article as story assignment sees it."""

    id: int
    title: str
    text: str
    when: str  # published, else first_seen (ISO 8601 UTC)
    source: str
    site: str | None
    agency: str | None
    story_id: int | None
    role: str | None = None  # story_role as stored

    @cached_property
    def credits(self) -> set[str]:
        return credited_agencies(self.text)

    @cached_property
    def wire_copy_of(self) -> set[str]:
        """Agencies whose copy this is: credited as agency, not merely reported on."""
        return agencies_of(self.agency) - self.credits


_MEMBER_COLUMNS = (
    "id, title, text, coalesce(published, first_seen), source, site, agency, story_id, story_role"
)


def _member(row: tuple[object, ...]) -> Member:
    return Member(*row)  # type: ignore[arg-type]


def _load(conn: sqlite3.Connection, where: str, params: Iterable[object]) -> list[Member]:
    rows = conn.execute(f"select {_MEMBER_COLUMNS} from articles where {where}", list(params))
    return [_member(row) for row in rows]


def _parse(when: str) -> datetime:
    """A stored time as an aware datetime (stored times are UTC, with or without "Z")."""
    moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse_or_none(when: str | None) -> datetime | None:
    try:
        return _parse(when) if when else None
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# The articles of a time window, with their leads: one range of the articles_story_time
# index (m012), dated articles or not, never a scan of the archive.
WINDOW_QUERY = """
    select s.article_id, s.lead from (
      select id from articles where coalesce(published, first_seen) between ? and ?
        and id != ? order by id desc limit ?
    ) w join text_sketches s on s.article_id = w.id"""


def same_event(
    conn: sqlite3.Connection, article: Member, sketch: Sketch
) -> list[tuple[int, float]]:
    """Articles of the time window whose title and lead tell the same event."""
    try:
        moment = _parse(article.when)
    except ValueError:
        return []
    start, end = _iso(moment - EVENT_WINDOW), _iso(moment + EVENT_WINDOW)
    rows = conn.execute(WINDOW_QUERY, [start, end, article.id, EVENT_CANDIDATES])
    found = []
    for other_id, lead in rows.fetchall():
        score = term_similarity(sketch.lead, frozenset(lead.split()))
        if score >= EVENT_THRESHOLD or (
            score >= CREDITED_EVENT_THRESHOLD and credit_related(conn, article, other_id)
        ):
            found.append((other_id, score))
    return sorted(found, key=lambda pair: -pair[1])


def credit_related(conn: sqlite3.Connection, article: Member, other_id: int) -> bool:
    """Whether one of the two credits the other's agency: a write-up and its wire copy."""
    (other_agency,) = conn.execute(
        "select agency from articles where id = ?", [other_id]
    ).fetchone()
    if article.credits & agencies_of(other_agency):
        return True
    if not agencies_of(article.agency):
        return False
    (other_text,) = conn.execute("select text from articles where id = ?", [other_id]).fetchone()
    return bool(credited_agencies(other_text) & agencies_of(article.agency))


def assign(conn: sqlite3.Connection, article_id: int) -> int:
    """Put one stored article in its story (a new one when nothing matches); its story id.

    Call inside the transaction that stored or changed the article. Reassigning an article
    (a new version of its text) keeps its story and adds any story its new text matches.
    """
    (article,) = _load(conn, "id = ?", [article_id])
    sketch = Sketch.of(article.title, article.text)
    index = SketchIndex(conn)
    index.add(article_id, sketch)
    matches = index.near_duplicates(sketch, article_id, DUPLICATE_THRESHOLD)
    by_event = not matches
    if by_event:
        matches = same_event(conn, article, sketch)
    stories = _joinable(conn, article, [aid for aid, _ in matches], by_event)
    if stories:
        story_id = min(stories)
        _merge(conn, story_id, stories - {story_id})
    else:
        story_id = _new_story(conn)
    conn.execute("update articles set story_id = ? where id = ?", [story_id, article_id])
    joined_as_latest = article.story_id is None and len(stories) == 1
    if not (joined_as_latest and _append(conn, story_id, article_id)):
        refresh(conn, story_id)
    return story_id


def _joinable(
    conn: sqlite3.Connection, article: Member, matched: list[int], by_event: bool
) -> set[int]:
    """The stories the article joins: its own (a new version stays), then those of its
    matches, best match first, as long as the story stays within ``STORY_SPAN`` and, for an
    event told again in other words, within ``EVENT_WINDOW`` of the story's first article."""
    ranked = list(dict.fromkeys(_stories_of(conn, matched)))
    chosen = {article.story_id} if article.story_id is not None else set()
    try:
        moment = _parse(article.when)
    except ValueError:  # no usable time: nothing to bound the story by
        return chosen | set(ranked)
    low = high = moment
    for story_id, first, last in _story_times(conn, sorted(chosen) + ranked):
        if first is None or last is None:  # no usable time: nothing to bound the story by
            chosen.add(story_id)
            continue
        if story_id not in chosen:
            if by_event and abs(moment - first) > EVENT_WINDOW:
                continue
            if max(high, last) - min(low, first) > STORY_SPAN:
                continue
            chosen.add(story_id)
        low, high = min(low, first), max(high, last)
    return chosen


def _stories_of(conn: sqlite3.Connection, article_ids: list[int]) -> list[int]:
    """The stories of ``article_ids``, in their order (an article's first match first)."""
    if not article_ids:
        return []
    placeholders = ", ".join("?" for _ in article_ids)
    story_of = dict(
        conn.execute(
            f"select id, story_id from articles where id in ({placeholders}) "
            "and story_id is not null",
            article_ids,
        ).fetchall()
    )
    return [story_of[aid] for aid in article_ids if aid in story_of]


def _story_times(
    conn: sqlite3.Connection, story_ids: list[int]
) -> list[tuple[int, datetime | None, datetime | None]]:
    """(story, first, last publication) of ``story_ids`` in their order; None when a time
    cannot be read."""
    if not story_ids:
        return []
    placeholders = ", ".join("?" for _ in story_ids)
    rows = conn.execute(
        f"select id, first_published, last_published from stories where id in ({placeholders})",
        story_ids,
    ).fetchall()
    times = {
        story_id: (_parse_or_none(first), _parse_or_none(last)) for story_id, first, last in rows
    }
    return [(sid, *times[sid]) for sid in dict.fromkeys(story_ids) if sid in times]


def _new_story(conn: sqlite3.Connection) -> int:
    cursor = conn.execute("insert into stories (articles) values (0)")
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _merge(conn: sqlite3.Connection, into: int, others: set[int]) -> None:
    for other in sorted(others):
        conn.execute("update articles set story_id = ? where story_id = ?", [into, other])
        conn.execute("delete from stories where id = ?", [other])


def refresh(conn: sqlite3.Connection, story_id: int) -> None:
    """Recompute a story's row, and its members' roles and links, from its articles."""
    members = _load(conn, "story_id = ? order by 4, id", [story_id])
    if not members:
        conn.execute("delete from stories where id = ?", [story_id])
        return
    ids = [m.id for m in members]
    placeholders = ", ".join("?" for _ in ids)
    conn.execute(f"delete from story_links where article_id in ({placeholders})", ids)
    signatures = SketchIndex(conn).signatures(ids)
    for position, member in enumerate(members):
        _write_role(conn, member, *_role(member, members[:position], members, signatures))
    _update_story_row(conn, story_id, members)


def _write_role(conn: sqlite3.Connection, member: Member, role: str, links: list[Link]) -> None:
    if role != member.role:  # an unchanged row is not written again (nor re-indexed)
        conn.execute("update articles set story_role = ? where id = ?", [role, member.id])
    conn.executemany(
        "insert into story_links (article_id, linked_id, relation, agency, similarity) "
        "values (?, ?, ?, ?, ?)",
        [(member.id, *link) for link in links],
    )


def _update_story_row(conn: sqlite3.Connection, story_id: int, members: list[Member]) -> None:
    """The story's row from its members, in time order."""
    first, last = members[0], members[-1]
    conn.execute(
        """update stories set title = ?, first_published = ?, last_published = ?,
             articles = ?, sources = ?, sites = ? where id = ?""",
        [
            first.title,
            first.when,
            last.when,
            len(members),
            json.dumps(sorted({m.source for m in members})),
            json.dumps(sorted({m.site for m in members if m.site})),
            story_id,
        ],
    )


def _append(conn: sqlite3.Connection, story_id: int, article_id: int) -> bool:
    """Add a new article to a story without recomputing every member's role; False (and
    nothing written) when that would not give what ``refresh`` gives.

    ``refresh`` compares every member with every earlier one: a story of m copies costs m²
    similarity checks per new copy. A newcomer that sorts last in time changes no earlier
    member's role, since roles look only at earlier members, except that a rewrite takes
    the earliest wire copy of the agency it credits: a newcomer that is the first copy of
    an agency some member credits needs the full ``refresh``.
    """
    members = _load(conn, "story_id = ? order by 4, id", [story_id])
    *earlier, newcomer = members
    if newcomer.id != article_id:
        return False
    if conn.execute(  # links of an earlier grouping (a repair): the full refresh redoes them
        "select 1 from story_links where article_id = ? or linked_id = ? limit 1",
        [article_id, article_id],
    ).fetchone():
        return False
    if _first_copy_of_a_credited_agency(newcomer, earlier):
        return False
    signatures = SketchIndex(conn).signatures([m.id for m in members])
    _write_role(conn, newcomer, *_role(newcomer, earlier, members, signatures))
    _update_story_row(conn, story_id, members)
    return True


def _first_copy_of_a_credited_agency(newcomer: Member, earlier: list[Member]) -> bool:
    """Is ``newcomer`` the first wire copy of an agency an earlier member credits? Reading a
    member's credit lines costs a regex over its text, so only the members that can answer
    are read: those whose agency is one the newcomer carries, until an earlier copy of each
    is found (in a story of fifty copies of one wire story, the first), then the members'
    credits only until one names a remaining agency."""
    missing = set(newcomer.wire_copy_of)
    for member in earlier:
        if not missing:
            return False
        if agencies_of(member.agency) & missing:  # wire_copy_of is a subset of these
            missing -= member.wire_copy_of
    return bool(missing) and any(missing & member.credits for member in earlier)


Link = tuple[int, str, str | None, float | None]


def _role(
    member: Member,
    earlier: list[Member],
    everyone: list[Member],
    signatures: dict[int, list[int]],
) -> tuple[str, list[Link]]:
    """The member's role and links: copy of an earlier text, rewrite of wire copy, or own."""
    mine = signatures.get(member.id)
    if mine is not None:
        scored = [
            (similarity(mine, signatures[other.id]), other)
            for other in earlier
            if other.id in signatures
        ]
        copies = [(score, other) for score, other in scored if score >= DUPLICATE_THRESHOLD]
        if copies:
            score, original = max(copies, key=lambda pair: pair[0])
            agency = ", ".join(sorted(member.wire_copy_of & original.wire_copy_of)) or None
            return "republished", [(original.id, "copy_of", agency, round(score, 3))]
    sources: dict[int, list[str]] = {}  # wire original -> the credited agencies it carries
    for agency in sorted(member.credits):
        copies_of_agency = [
            other for other in everyone if other.id != member.id and agency in other.wire_copy_of
        ]
        if copies_of_agency:  # the earliest is the wire original; members are in time order
            sources.setdefault(copies_of_agency[0].id, []).append(agency)
    links: list[Link] = [
        (linked, "based_on", ", ".join(agencies), None) for linked, agencies in sources.items()
    ]
    return ("rewrite" if links else "original"), links


def unassigned(conn: sqlite3.Connection) -> list[int]:
    """Articles without a story, oldest first (the order a rebuild assigns them in)."""
    rows = conn.execute(
        "select id from articles where story_id is null "
        "order by coalesce(published, first_seen), id"
    )
    return [row[0] for row in rows]


def assign_missing(conn: sqlite3.Connection) -> int:
    """Give a story to every article without one, oldest first; how many were assigned."""
    pending = unassigned(conn)
    for article_id in pending:
        assign(conn, article_id)
    return len(pending)


def clear(conn: sqlite3.Connection) -> None:
    """Forget every story, role, link and sketch (the first step of a rebuild)."""
    conn.execute("update articles set story_id = null, story_role = null")
    for table in ("story_links", "stories", "sketch_bands", "text_sketches"):
        conn.execute(f"delete from {table}")

"""The archive's schema, as the sqlite-utils migrations that built it, in the order they apply.

Never edit a migration that has shipped: add a new one at the end. A new database runs them
all, in this order; an existing one runs those it has not recorded in _sqlite_migrations.
The names are not in order (m010 applies before m004): the order is the file's.
"""

from __future__ import annotations

import gzip
import re
import zlib

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipelines import stories

migrations = Migrations("newsmon")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    # Column order is reading order: Datasette shows them left to right.
    db.table("articles").create(
        {
            "id": int,
            "published": str,
            "source": str,
            "title": str,
            "text": str,
            "authors": str,
            "agency": str,
            "url": str,
            "language": str,
            "site": str,
            "relevance": float,
            "relevance_reason": str,
            "matched_terms": str,
            "description": str,
            "modified": str,
            "first_seen": str,
            "last_seen": str,
            "url_key": str,
            "content_hash": str,
            "requested_url": str,
            "discovered_via": str,
        },
        pk="id",
        not_null={"url", "url_key", "source", "title", "text", "authors", "first_seen"},
    )
    articles = db.table("articles")
    articles.create_index(["url"], unique=True)
    articles.create_index(["url_key"], unique=True)
    articles.create_index(["content_hash"])
    for column in ("source", "published", "first_seen", "agency", "language"):
        articles.create_index([column])
    articles.enable_fts(["title", "text"], create_triggers=True, tokenize="porter")

    db.table("seen_urls").create(
        {
            "key": str,
            "url": str,
            "source": str,
            "outcome": str,
            "reason": str,
            "http_status": int,
            "attempts": int,
            "article_url": str,
            "first_seen": str,
            "last_seen": str,
        },
        pk="key",
    )
    db.table("seen_urls").create_index(["source", "outcome"])

    db.table("pages").create(
        {"url": str, "fetched": str, "encoding": str, "size": int, "html_gz": bytes},
        pk="url",
    )

    db.table("duplicates").create(
        {
            "id": int,
            "source": str,
            "url": str,
            "duplicate_of": str,
            "reason": str,
            "found": str,
        },
        pk="id",
    )
    db.table("duplicates").create_index(["duplicate_of"])

    db.table("crawl_runs").create(
        {
            "id": int,
            "run_id": str,
            "source": str,
            "started": str,
            "finished": str,
            "status": str,
            "reason": str,
            "finish_reason": str,
            "requests": int,
            "responses_2xx": int,
            "responses_3xx": int,
            "responses_4xx": int,
            "responses_5xx": int,
            "pages": int,
            "stored": int,
            "duplicates": int,
            "irrelevant": int,
            "rejected": int,
            "blocked": int,
            "errors": int,
            "log_path": str,
        },
        pk="id",
    )
    db.table("crawl_runs").create_index(["source", "started"])
    db.table("crawl_runs").create_index(["run_id"])


@migrations()
def m010_agency_list(db: sqlite_utils.Database) -> None:
    """``agencies``: the ``agency`` credit as a JSON list, so that Datasette's array facet
    counts an "AFP, Reuters" article under AFP and under Reuters. A virtual generated
    column: computed on read, nothing to keep in step on write."""
    db.execute(
        """alter table articles add column agencies text generated always as (
             case when agency is null or agency = '' then '[]'
             else '["' || replace(agency, ', ', '","') || '"]' end
           ) virtual"""
    )


@migrations()
def m004_crawl_runs_kind(db: sqlite_utils.Database) -> None:
    # `newsmon backfill` runs are recorded beside the live crawls; `status` and the
    # scheduler's catch-up read only the live ones. Rows written before are live crawls.
    db.table("crawl_runs").add_column("kind", str, not_null_default="crawl")
    db.table("crawl_runs").create_index(["source", "kind", "started"])


@migrations()
def m006_pages_gzip(db: sqlite_utils.Database) -> None:
    """pages.html_gz held zlib streams, which gzip and ``gzip.decompress`` cannot read; the
    column's name promises gzip, so the stored pages become gzip (and are written so)."""
    if "pages" not in db.table_names():
        return
    conn = db.conn
    last = ""
    while True:  # in batches: an archive of years holds gigabytes of pages
        batch = conn.execute(
            "select url, html_gz from pages where url > ? order by url limit 500", [last]
        ).fetchall()
        if not batch:
            return
        for url, data in batch:
            if data and data[:2] != b"\x1f\x8b":  # not gzip yet: a zlib stream
                conn.execute(
                    "update pages set html_gz = ? where url = ?",
                    [gzip.compress(zlib.decompress(data), 6, mtime=0), url],
                )
        last = batch[-1][0]


@migrations()
def m006_daemon(db: sqlite_utils.Database) -> None:
    """What the last ``newsmon schedule`` on this archive runs with, so ``newsmon status``
    reports the daemon's real ``--every`` (one row; see scheduler/daemon_state.py)."""
    db.table("daemon").create(
        {"id": int, "pid": int, "host": str, "started": str, "stopped": str, "every": int},
        pk="id",
    )


@migrations()
def m003_credit_and_sites(db: sqlite_utils.Database) -> None:
    """articles.credit: the evidence for `agency` (JSON list); crawl_runs.sites: what each
    site of the source gave this run (JSON), so a blocked home site is not a dead source."""
    db.table("articles").add_column("credit", str)
    db.table("crawl_runs").add_column("sites", str)


@migrations()
def m005_stories(db: sqlite_utils.Database) -> None:
    """Stories (see pipelines/stories.py): the table, each article's story and role, the
    links between copies, and the near-duplicate index; existing articles are grouped."""
    db.execute(
        """create table stories (
             id integer primary key, title text, first_published text, last_published text,
             articles integer not null default 0, sources text, sites text)"""
    )
    db.execute("create index stories_last_published on stories (last_published)")
    db.execute("create index stories_first_published on stories (first_published)")
    db.execute("alter table articles add column story_id integer references stories(id)")
    db.execute("alter table articles add column story_role text")
    db.execute("create index articles_story_id on articles (story_id)")
    db.execute(
        """create table story_links (
             article_id integer not null references articles(id),
             linked_id integer not null references articles(id),
             relation text not null, agency text, similarity real,
             primary key (article_id, linked_id)) without rowid"""
    )
    db.execute("create index story_links_linked on story_links (linked_id)")
    db.execute(
        """create table text_sketches (
             article_id integer primary key references articles(id),
             signature blob not null, lead text not null)"""
    )
    db.execute(
        """create table sketch_bands (
             key integer not null, article_id integer not null,
             primary key (key, article_id)) without rowid"""
    )
    stories.assign_missing(db.conn)


@migrations()
def m002_versions(db: sqlite_utils.Database) -> None:
    """Revisions, conditional re-checks and what a run re-checked (issue #8)."""
    db.table("article_versions").create(
        {
            "id": int,
            "article_id": int,
            "version": int,
            "title": str,
            "text": str,
            "modified": str,
            "content_hash": str,
            "fetched": str,
        },
        pk="id",
        not_null={"article_id", "version", "title", "text"},
    )
    db.table("article_versions").create_index(["article_id", "version"], unique=True)
    # Every article stored before versions existed has its first text as version 1.
    db.execute(
        """insert into article_versions
             (article_id, version, title, text, modified, content_hash, fetched)
           select id, 1, title, text, modified, content_hash, first_seen from articles"""
    )
    # An article deleted by hand takes its history with it: a later article reusing its
    # rowid must start again at version 1.
    db.execute(
        """create trigger article_versions_follow_article after delete on articles
           begin delete from article_versions where article_id = old.id; end"""
    )
    # What the last fetch of a URL told us: its HTTP validators and the date its discovery
    # entry (sitemap lastmod, feed updated) carried. Written when the response arrives.
    db.table("fetch_state").create(
        {"key": str, "etag": str, "last_modified": str, "lastmod": str, "checked": str},
        pk="key",
    )
    for column in ("updated", "not_modified", "refetched"):
        db.table("crawl_runs").add_column(column, int)


# Each table that names an article by its URL text, with its URL column and its new key.
ARTICLE_KEYS = (
    ("seen_urls", "article_url", "article_id"),
    ("duplicates", "duplicate_of", "duplicate_of_id"),
)


@migrations()
def m011_article_keys(db: sqlite_utils.Database) -> None:
    """Rows that name an article by URL text also name it by key (``articles.id``), declared
    as foreign keys so Datasette links them to the article and lists them on its page.

    The keys are kept by triggers, so every writer (and a hand edit) leaves them right: a row
    gets its article's id when written, a row written before its article was stored (an
    in-run duplicate whose original was still on its way) gets it when the article arrives,
    and an article deleted by hand leaves no key pointing at the next article given its id.
    ``article_versions.article_id`` was a key already; it becomes a declared one.
    """
    for table, url_column, key in ARTICLE_KEYS:
        db.execute(f"alter table {table} add column {key} integer references articles(id)")
        db.execute(
            f"""update {table} set {key} = (select a.id from articles a where a.url = {url_column})
                where {url_column} is not null"""
        )
        db.table(table).create_index([key], if_not_exists=True)
        db.table(table).create_index([url_column], if_not_exists=True)  # for new articles
        lookup = f"(select a.id from articles a where a.url = new.{url_column})"
        for event in ("insert", f"update of {url_column}"):
            name = f"{table}_{key}_on_{event.split()[0]}"
            db.execute(
                f"""create trigger {name} after {event} on {table}
                    when new.{key} is not {lookup}
                    begin update {table} set {key} = {lookup} where rowid = new.rowid; end"""
            )
        db.execute(
            f"""create trigger {table}_{key}_follows_new_article after insert on articles
                begin update {table} set {key} = new.id where {url_column} = new.url; end"""
        )
        db.execute(
            f"""create trigger {table}_{key}_follows_url after update of url on articles
                begin
                  update {table} set {key} = null where {key} = old.id;
                  update {table} set {key} = new.id where {url_column} = new.url;
                end"""
        )
        db.execute(
            f"""create trigger {table}_{key}_follows_deleted_article after delete on articles
                begin update {table} set {key} = null where {key} = old.id; end"""
        )
    db.table("article_versions").add_foreign_key("article_id", "articles", "id", ignore=True)


@migrations()
def m012_story_time(db: sqlite_utils.Database) -> None:
    """Story assignment looks up an article's time window by its publication time, or its
    first sighting when undated (pipelines/stories.py): one index over that time, so undated
    articles are a range too, not a scan of every undated article."""
    db.execute(
        "create index if not exists articles_story_time "
        "on articles (coalesce(published, first_seen))"
    )


@migrations()
def m013_review_indexes(db: sqlite_utils.Database) -> None:
    """Indexes that keep review flat on an archive of years (bench/scale.py shows the plans):
    each serves a default sort or a saved query that otherwise reads a whole table."""
    db.execute(  # articles per day per source: the saved query and the coverage page
        "create index if not exists articles_day_source on articles "
        "(substr(coalesce(published, first_seen), 1, 10) desc, source)"
    )
    # the newest live article of a source (crawl_health, `newsmon status`)
    db.execute(
        "create index if not exists articles_source_first_seen on articles (source, first_seen)"
    )
    # a facet clicked on the articles page (source=afp), newest first as the page sorts:
    # without these SQLite reads every article of the source to sort them. Each replaces
    # the one-column index it starts with, so a store maintains no more indexes than before.
    for column in ("source", "agency", "language"):
        db.execute(
            f"create index if not exists articles_{column}_published "
            f"on articles ({column}, published)"
        )
        db.execute(f"drop index if exists idx_articles_{column}")
    # newest versions first: the article_versions table, recently_updated, article_history
    db.execute(
        "create index if not exists article_versions_fetched on article_versions (fetched, version)"
    )
    db.execute("create index if not exists duplicates_found on duplicates (found)")
    db.execute("create index if not exists crawl_runs_started on crawl_runs (started)")
    # The full-text index covers title and text only: an update of any other column (a
    # story's roles, last_seen) must not delete and re-insert the article's whole text in
    # it, as the trigger sqlite-utils made does on every update.
    db.execute("drop trigger if exists articles_au")
    db.execute(
        """create trigger articles_au after update of title, text on articles begin
             insert into articles_fts (articles_fts, rowid, title, text)
               values ('delete', old.rowid, old.title, old.text);
             insert into articles_fts (rowid, title, text) values (new.rowid, new.title, new.text);
           end"""
    )


# Ahram Online's section path as its [[site]] title_drop rule declared it on 2026-11-30.
_AHRAM_SUFFIX = re.compile(
    r" - [A-Z][\w&.']*(?:[ -][\w&.']+){0,3} - [A-Z][\w&.']*(?:[ -][\w&.']+){0,3}"
    r"(?: - Ahram Online)?$"
)


@migrations()
def m014_ahram_titles(db: sqlite_utils.Database) -> None:
    """Ahram Online's titles were stored with its section path (" - Region - World") until a
    title_drop rule cut it. The stored titles lose it too, in every version, so that the
    next fetch of such a page is not recorded as a title-only version 2. Read by URL range,
    which the url index serves: a scan of ``site`` would read every article's text."""
    rows = db.execute(
        "select id, title, story_id from articles where url >= 'https://english.ahram.org.eg/' "
        "and url < 'https://english.ahram.org.eg0'"
    ).fetchall()
    regrouped = set()
    for article_id, title, story_id in rows:
        if title and (match := _AHRAM_SUFFIX.search(title)) and match.start() > 0:
            cut = title[: match.start()]
            db.execute("update articles set title = ? where id = ?", [cut, article_id])
            db.execute(
                "update article_versions set title = ? where article_id = ? and title = ?",
                [cut, article_id, title],
            )
            regrouped.add(story_id)
    for story_id in regrouped - {None}:
        stories.refresh(db.conn, story_id)  # a story is titled after one of its articles


@migrations()
def m015_article_runs(db: sqlite_utils.Database) -> None:
    """articles.run: the crawl run (crawl_runs.id) that stored the article; article_versions
    .run: the run that fetched each version. Empty for what was stored before: which run
    stored an article is recorded as it happens, never guessed afterwards from times."""
    db.execute("alter table articles add column run integer references crawl_runs(id)")
    db.execute("alter table article_versions add column run integer references crawl_runs(id)")
    # A run's page in Datasette counts the articles and versions that point at it.
    db.execute("create index articles_run on articles (run)")
    db.execute("create index article_versions_run on article_versions (run)")


@migrations()
def m016_page_final_url(db: sqlite_utils.Database) -> None:
    """pages.final_url: where the crawl read the page (its public URL after redirects), which
    a credit hint and the site's rules read again in `newsmon reextract`. Empty for pages kept
    before: reextract then places the page on its site from the article's URLs."""
    db.execute("alter table pages add column final_url text")

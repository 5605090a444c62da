"""The ``newsmon`` command: a thin layer over the crawler, the pipelines' archive and the
scheduler. Every error a user can cause ends in one line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crawler.sources import parse_duration
from scheduler.arguments import (
    BadArgument,
    check_source_names,
    db_option,
    declared_sources,
    existing_archive,
    existing_db_option,
    logs_dir,
    must_exist,
    parse_every,
    parse_origin_maps,
    parse_settings,
    prepare_database,
)
from scheduler.compact_command import compact_archive
from scheduler.crawl import CrawlJob, run_crawls
from scheduler.regroup import regroup
from scheduler.run_record import CrawlResult
from scheduler.status import UNHEALTHY_FAILURES, source_status
from scheduler.usage import OneLineGroup

# Commands whose modules load Datasette, Scrapy or Trafilatura are imported when used (the
# group's lazy_commands, and imports inside commands below), so that `newsmon crawl`, which
# waits on its crawls for their whole run, stays a small process (docs/PERFORMANCE.md).
LAZY_COMMANDS = {
    "digest": "scheduler.digest_command:digest",
    "extract": "scheduler.extract_command:extract",  # logic: pipelines/explain.py
    "reextract": "scheduler.reextract_command:reextract_command",  # pipelines/reextract.py
}


DAEMON_TIMEOUT_SECONDS = 3900


@click.group(
    cls=OneLineGroup,
    lazy_commands=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="newsmon")
def cli() -> None:
    """newsmon: watch RFE/RL, AFP and Reuters coverage of Libya, unattended, into SQLite."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the declarations as JSON.")
@click.option(
    "--check",
    is_flag=True,
    help="Probe every declared endpoint once (robots.txt first) and say which work; "
    "exits 1 when an enabled endpoint is broken. Needs internet access.",
)
@click.option(
    "--origin-map", "origin_maps", multiple=True, metavar="PUBLIC=TARGET", help="As for crawl."
)
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds between two requests to the same host (--check).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=20.0,
    show_default=True,
    help="Seconds to wait for each answer (--check).",
)
def sources(
    as_json: bool, check: bool, origin_maps: tuple[str, ...], delay: float, timeout: float
) -> None:
    """List the declared sources and how each is discovered, or --check them."""
    declared = declared_sources()
    if check:
        from scheduler.check_command import check as check_endpoints

        mapping = parse_origin_maps(origin_maps)
        check_endpoints(declared, origin_map=mapping, as_json=as_json, delay=delay, timeout=timeout)
        return
    if as_json:
        click.echo(json.dumps([s.as_json() for s in declared.values()], indent=2))
        return
    rows = [("source", "enabled", "every", "kind", "url")]
    for source in declared.values():
        state = "yes" if source.enabled else "no"
        for index, entry in enumerate(source.discovery):
            first = (source.name, state, source.interval) if index == 0 else ("", "", "")
            state_of = "" if entry.enabled else f"  (disabled, {entry.confidence})"
            rows.append((*first, entry.kind, entry.url + state_of))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[4]]))


def crawl_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of `crawl`, which `schedule` passes on to every crawl it starts."""
    options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        db_option,
        click.option(
            "-s",
            "settings",
            multiple=True,
            metavar="NAME=VALUE",
            help="A Scrapy setting for the crawls, as in `scrapy crawl -s` (repeatable).",
        ),
        click.option(
            "--origin-map",
            "origin_maps",
            multiple=True,
            metavar="PUBLIC=TARGET",
            help="Fetch PUBLIC's URLs from the TARGET origin; everything stored keeps "
            "the public URL (repeatable).",
        ),
        click.option(
            "--log-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Where each run's log file goes (the logs of the newest 50 runs per "
            "source of this database are kept).  [default: <db>.logs/ beside the database]",
        ),
        click.option(
            "--timeout",
            type=click.IntRange(min=1),
            default=None,
            metavar="SECONDS",
            help="Stop a crawl still running after this long (SIGTERM, a forced SIGTERM "
            "10 s later, SIGKILL after 45 s); its run is recorded as failed: timeout.  "
            "[default: none for crawl, 65 min for schedule]",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def crawl_jobs(
    names: list[str],
    db: Path,
    overrides: dict[str, str],
    mapping: dict[str, str],
    log_dir: Path | None,
) -> list[CrawlJob]:
    logs = logs_dir(db, log_dir)
    return [
        CrawlJob(name, db, settings=overrides, origin_map=mapping, log_dir=logs) for name in names
    ]


@cli.command()
@click.argument("source_names", metavar="[SOURCE]...", nargs=-1)
@crawl_options
def crawl(
    source_names: tuple[str, ...],
    db_path: Path,
    settings: tuple[str, ...],
    origin_maps: tuple[str, ...],
    log_dir: Path | None,
    timeout: int | None,
) -> None:
    """Crawl the named sources (default: all enabled) once, into the database.

    Prints one line per source. Exits 0 when every source ran (ok or partial), 1 when any
    failed, was blocked, was interrupted, or was skipped because another crawl of it was
    running; 130 (143) when stopped by Ctrl-C (SIGTERM).
    """
    overrides, mapping = parse_settings(settings), parse_origin_maps(origin_maps)
    declared = declared_sources(overrides)
    check_source_names(source_names, declared)
    names = list(dict.fromkeys(source_names)) or [s.name for s in declared.values() if s.enabled]
    db = prepare_database(db_path)
    jobs = crawl_jobs(names, db, overrides, mapping, log_dir)
    stopped: list[int] = []

    def interrupt(signum: int, frame: Any) -> None:
        stopped.append(signum)
        if len(stopped) == 1:
            raise KeyboardInterrupt  # run_crawls stops the crawls politely, once

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)
    results = run_crawls(jobs, timeout=timeout)
    print_summary(results)
    if stopped:
        click.echo(f"Stopped by {signal.Signals(stopped[0]).name}.", err=True)
        raise SystemExit(128 + stopped[0])
    if not all(result.ok for result in results):
        raise SystemExit(1)


@cli.command()
@click.argument("source_names", metavar="[SOURCE]...", nargs=-1)
@click.option(
    "--since",
    required=True,
    metavar="DATE",
    help="Start of the window: YYYY-MM-DD, YYYY-MM or YYYY.",
)
@click.option(
    "--until",
    metavar="DATE",
    help="End of the window, inclusive (a month or year: all of it).  [default: now]",
)
@click.option(
    "--all-urls",
    is_flag=True,
    help="Fetch every URL in the window, not only those whose slug names a Libya term.",
)
@click.option(
    "--max-pages",
    type=click.IntRange(min=1),
    metavar="N",
    help="Fetch at most N article pages this run (a rerun fetches the next N).",
)
@crawl_options
def backfill(
    source_names: tuple[str, ...],
    since: str,
    until: str | None,
    all_urls: bool,
    max_pages: int | None,
    db_path: Path,
    settings: tuple[str, ...],
    origin_maps: tuple[str, ...],
    log_dir: Path | None,
    timeout: int | None,
) -> None:
    """Fill the archive with past stories from the sources' archive sitemaps (default: every
    enabled source that declares one), politely, through the ordinary pipelines.

    Shows progress; Ctrl-C or SIGTERM stops cleanly and a rerun resumes without refetching.
    Exits 0 when every source ran (ok or partial), 1 otherwise.
    """
    overrides, mapping = parse_settings(settings), parse_origin_maps(origin_maps)
    declared = declared_sources(overrides)
    check_source_names(source_names, declared)
    for name in source_names:
        if not declared[name].archive_indexes:
            raise BadArgument(f"source {name!r} declares no archive (discovery kind archive_index)")
    names = list(dict.fromkeys(source_names)) or [
        s.name for s in declared.values() if s.enabled and s.archive_indexes
    ]
    from crawler.backfill import WindowError
    from scheduler.backfill import Backfill, BackfillOptions, backfill_job, check_plan, cut_short

    options = BackfillOptions(since, until, all_urls, max_pages)
    try:
        check_plan(options, overrides)
    except WindowError as exc:
        raise BadArgument(str(exc)) from None
    db = prepare_database(db_path)
    logs = logs_dir(db, log_dir)
    runner = Backfill(timeout)
    results = runner.run([backfill_job(n, db, options, overrides, mapping, logs) for n in names])
    print_summary(results)
    if runner.stopped:
        name = signal.Signals(runner.stopped[0]).name
        if cut_short(results, len(names)):
            click.echo(f"Stopped by {name}; rerun to resume.", err=True)
            raise SystemExit(128 + runner.stopped[0])
        click.echo(f"{name} came as the backfill ended: nothing is left to resume.", err=True)
    if not all(result.ok for result in results):
        raise SystemExit(1)


def print_summary(results: list[CrawlResult]) -> None:
    header = (
        f"{'source':<10} {'status':<8} {'pages':>5} {'stored':>6} {'updated':>7} {'dupes':>5} "
        f"{'irrelevant':>10} {'blocked':>7} {'errors':>6} {'secs':>6}"
    )
    click.echo(header)
    for r in results:
        row = r.row
        click.echo(
            f"{r.source:<10} {r.status:<8} {row.get('pages') or 0:>5} {row.get('stored') or 0:>6}"
            f" {row.get('updated') or 0:>7}"
            f" {row.get('duplicates') or 0:>5} {row.get('irrelevant') or 0:>10}"
            f" {row.get('blocked') or 0:>7} {row.get('errors') or 0:>6} {r.seconds:>6.1f}"
        )
    for r in results:
        if r.reason:
            click.echo(f"{r.source}: {r.status}: {r.reason}", err=not r.ok)
        if not r.ok and r.log_file:
            click.echo(f"{r.source}: log: {r.log_file}", err=True)


@cli.command()
@click.option(
    "--every",
    metavar="DURATION",
    help="Crawl every source this often (30s, 15m, 2h, 1d) instead of each "
    "source's declared interval.",
)
@crawl_options
def schedule(
    every: str | None,
    db_path: Path,
    settings: tuple[str, ...],
    origin_maps: tuple[str, ...],
    log_dir: Path | None,
    timeout: int | None,
) -> None:
    """Run the scheduler daemon in the foreground until SIGTERM or SIGINT.

    Each enabled source is crawled on its declared interval (or --every), each crawl its own
    `scrapy crawl` process. A source that fails or is blocked run after run is polled less
    often until it succeeds again. Logs go to stderr; each crawl also writes its own log.
    """
    from scheduler.daemon import Daemon

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # newsmon logs each run itself
    interval = parse_every(every)
    overrides, mapping = parse_settings(settings), parse_origin_maps(origin_maps)
    # Unattended, every crawl gets a limit: Scrapy's own (CLOSESPIDER_TIMEOUT, 1 h) plus 5 min.
    timeout = timeout or DAEMON_TIMEOUT_SECONDS
    declared = declared_sources(overrides)
    db = prepare_database(db_path)
    Daemon(
        db=db,
        sources=declared,
        every=interval,
        settings=overrides,
        origin_map=mapping,
        log_dir=logs_dir(db, log_dir),
        timeout=timeout,
    ).serve()


@cli.command()
@existing_db_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option(
    "--every",
    metavar="DURATION",
    help="The interval crawls run at, for the next-run times.  [default: the --every of "
    "the last `newsmon schedule` on this database, else each source's interval]",
)
@click.option(
    "--max-failures",
    type=click.IntRange(min=1),
    default=UNHEALTHY_FAILURES,
    show_default=True,
    help="Failed or blocked runs in a row that make a source unhealthy.",
)
def status(db_path: Path, as_json: bool, every: str | None, max_failures: int) -> None:
    """Per source: the last run, its outcome and duration, the last new article, failures in
    a row, the next run, and a state: healthy, FAILING or UNHEALTHY.

    A source whose last runs failed or were blocked is FAILING; it is UNHEALTHY when that
    happened --max-failures runs in a row, or it was never crawled, or it has stored nothing
    new for longer than its declared silence_days. Exits 1 when a source is UNHEALTHY, else
    0. Interrupted runs count neither way. Meant for cron and monitors.
    """
    db = existing_archive(db_path)
    states = source_status(
        db, declared_sources(), every=parse_every(every), max_failures=max_failures
    )
    if as_json:
        click.echo(json.dumps([s.as_json() for s in states], indent=2))
    else:
        for s in states:
            click.echo(s.line())
    if any(s.state == "unhealthy" for s in states):
        raise SystemExit(1)


@cli.command()
@existing_db_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; the default is reachable from this machine only.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8001,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--allow-sql",
    is_flag=True,
    help="Let visitors run arbitrary SQL (off by default; for a trusted user only).",
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the crawls write their logs, if not the default: a run's log opens from "
    "its row only from there.  [default: <db>.logs/ beside the database]",
)
def serve(db_path: Path, host: str, port: int, allow_sql: bool, log_dir: Path | None) -> None:
    """Browse and search the archive in Datasette, read-only, with newsmon's metadata: facets,
    full-text search and saved queries (latest, ranked search, crawl health, ...).

    Safe to run while crawls write to the same database. The stored HTML and internal tables
    are not served, and arbitrary SQL is off unless --allow-sql.
    """
    from review.serve import NotAnArchive, check_archive, exposure_warning
    from review.serve import serve as serve_archive

    must_exist(db_path)
    # read-only: never migrates
    db = db_path.expanduser().resolve()
    try:
        check_archive(db)
    except NotAnArchive as exc:
        raise click.ClickException(str(exc)) from None
    if warning := exposure_warning(host, allow_sql):
        click.secho(warning, err=True, fg="yellow")
    serve_archive(db, host, port, allow_sql=allow_sql, log_dir=logs_dir(db, log_dir))


@cli.command()
@db_option
@click.option("--rebuild", is_flag=True, help="Forget all stories and regroup every article.")
def stories(db_path: Path, rebuild: bool) -> None:
    """Group articles into stories: wire copies, their versions and the write-ups on them.

    Crawls group each article as they store it; this gives a story to any article left
    without one, or with --rebuild regroups the whole archive (after a threshold change).
    """
    regroup(prepare_database(db_path), rebuild=rebuild)


@cli.command()
@existing_db_option
@click.option(
    "--pages-older-than",
    "older_than",
    metavar="DURATION",
    help="Delete the raw HTML of pages fetched longer ago than this (90d, 12h); the "
    "articles, their versions and stories stay.",
)
@click.option("--no-vacuum", is_flag=True, help="Only delete: leave the freed space in the file.")
def compact(db_path: Path, older_than: str | None, no_vacuum: bool) -> None:
    """Keep the archive's size in check: drop old raw pages, then VACUUM the file.

    Safe beside running crawls while deleting; VACUUM makes them wait, so run it when no
    crawl is due, or with --no-vacuum (later crawls reuse the freed space).
    """
    try:
        age = parse_duration(older_than) if older_than else None
    except ValueError as exc:
        raise BadArgument(f"--pages-older-than: {exc}") from None
    must_exist(db_path)
    compact_archive(prepare_database(db_path), age, vacuum_file=not no_vacuum)

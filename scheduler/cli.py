"""The ``newsmon`` command: a thin layer over the crawler, the pipelines' archive and the
scheduler. Every error a user can cause ends in one line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crawler.origins import OriginMapError, parse_origin
from crawler.sources import Source, SourceError, load_sources
from pipelines.database import DatabaseError, open_database
from scheduler.crawl import CrawlJob, CrawlResult, run_crawls
from scheduler.status import source_status


class BadArgument(click.ClickException):
    """A bad command-line value: one line on stderr, exit code 2 (as for click's own)."""

    exit_code = 2


_SETTING = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$", re.DOTALL)


def default_db() -> str:
    return os.environ.get("NEWSMON_DB") or "newsmon.db"


def db_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default_db,
        show_default="$NEWSMON_DB or newsmon.db",
        help="The SQLite archive (created on first use).",
    )(command)


def declared_sources() -> dict[str, Source]:
    try:
        return load_sources(os.environ.get("NEWSMON_SOURCES"))
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None


def prepare_database(path: Path) -> Path:
    """Create or migrate the archive once, before any crawl process starts."""
    path = path.expanduser().resolve()
    try:
        open_database(path).close()
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    return path


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="newsmon")
def cli() -> None:
    """newsmon: watch RFE/RL, AFP and Reuters coverage of Libya, unattended, into SQLite."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the declarations as JSON.")
def sources(as_json: bool) -> None:
    """List the declared sources and how each is discovered."""
    declared = declared_sources()
    if as_json:
        click.echo(json.dumps([s.as_json() for s in declared.values()], indent=2))
        return
    for source in declared.values():
        state = "enabled" if source.enabled else "disabled"
        click.echo(f"{source.name}  ({source.publisher}; {state}; every {source.interval})")
        click.echo(f"  domains: {', '.join(source.domains)}")
        for entry in source.discovery:
            click.echo(f"  {entry.kind:<14} {entry.url}")
        if source.notes:
            click.echo(f"  note: {source.notes}")


def parse_settings(values: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for value in values:
        match = _SETTING.match(value)
        if not match:
            raise BadArgument(f"-s {value!r}: expected NAME=VALUE with an upper-case setting name")
        settings[match.group(1)] = match.group(2)
    return settings


def parse_origin_maps(values: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for value in values:
        public, sep, target = value.partition("=")
        try:
            if not sep:
                raise OriginMapError(f"{value!r} is not PUBLIC=TARGET")
            mapping[parse_origin(public)] = parse_origin(target)
        except OriginMapError as exc:
            raise BadArgument(f"--origin-map: {exc}") from None
    return mapping


@cli.command()
@click.argument("source_names", metavar="[SOURCE]...", nargs=-1)
@db_option
@click.option(
    "-s",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="A Scrapy setting for this run, as in `scrapy crawl -s` (repeatable).",
)
@click.option(
    "--origin-map",
    "origin_maps",
    multiple=True,
    metavar="PUBLIC=TARGET",
    help="Fetch PUBLIC's URLs from the TARGET origin; everything stored keeps the "
    "public URL (repeatable).",
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where each run's log file goes.  [default: logs/ beside the database]",
)
@click.option(
    "--timeout",
    type=click.IntRange(min=1),
    default=None,
    metavar="SECONDS",
    help="Stop crawls still running after this long (SIGTERM, then SIGKILL).",
)
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
    failed or was blocked.
    """
    declared = declared_sources()
    unknown = [name for name in source_names if name not in declared]
    if unknown:
        raise BadArgument(f"unknown source {unknown[0]!r} (declared: {', '.join(declared)})")
    names = list(dict.fromkeys(source_names)) or [s.name for s in declared.values() if s.enabled]
    overrides = parse_settings(settings)
    mapping = parse_origin_maps(origin_maps)
    db = prepare_database(db_path)
    jobs = [
        CrawlJob(
            name,
            db,
            settings=overrides,
            origin_map=mapping,
            log_dir=(log_dir or db.parent / "logs").resolve(),
        )
        for name in names
    ]
    results = run_crawls(jobs, timeout=timeout)
    print_summary(results)
    if not all(result.ok for result in results):
        raise SystemExit(1)


def print_summary(results: list[CrawlResult]) -> None:
    header = (
        f"{'source':<10} {'status':<8} {'pages':>5} {'stored':>6} {'dupes':>5} "
        f"{'irrelevant':>10} {'blocked':>7} {'errors':>6} {'secs':>6}"
    )
    click.echo(header)
    for r in results:
        row = r.row
        click.echo(
            f"{r.source:<10} {r.status:<8} {row.get('pages') or 0:>5} {row.get('stored') or 0:>6}"
            f" {row.get('duplicates') or 0:>5} {row.get('irrelevant') or 0:>10}"
            f" {row.get('blocked') or 0:>7} {row.get('errors') or 0:>6} {r.seconds:>6.1f}"
        )
    for r in results:
        if r.reason:
            click.echo(f"{r.source}: {r.status}: {r.reason}", err=not r.ok)
        if not r.ok and r.log_file:
            click.echo(f"{r.source}: log: {r.log_file}", err=True)


@cli.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(db_path: Path, as_json: bool) -> None:
    """Per source: the last run, its outcome, the last new article, failures in a row.

    Exits 1 when a source's last run failed or was blocked, or it has stored nothing new
    for longer than its declared silence_days.
    """
    if not db_path.exists():
        raise click.ClickException(f"{db_path} does not exist: run `newsmon crawl` first")
    db = prepare_database(db_path)
    states = source_status(open_database(db), declared_sources())
    if as_json:
        click.echo(json.dumps([s.as_json() for s in states], indent=2))
    else:
        for s in states:
            click.echo(s.line())
    if any(not s.healthy for s in states):
        raise SystemExit(1)

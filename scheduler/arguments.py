"""What the commands share for their arguments: the archive (--db), the sources, the -s
settings and --origin-map, each checked before any work starts, so that every error a user
can cause ends in one line on stderr (``BadArgument``: exit code 2; an unusable archive:
exit code 1)."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import click
import sqlite_utils

from crawler.origins import OriginMapError, parse_origin
from crawler.sources import Source, SourceError, load_sources, parse_duration
from pipelines.database import DatabaseError, open_database


class BadArgument(click.ClickException):
    """A bad command-line value: one line on stderr, exit code 2 (as for click's own)."""

    exit_code = 2


_SETTING = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$", re.DOTALL)


def default_db() -> str:
    return os.environ.get("NEWSMON_DB") or "newsmon.db"


def db_option(
    command: Callable[..., Any], help: str = "The SQLite archive (created on first use)."
) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default_db,
        show_default="$NEWSMON_DB or newsmon.db",
        help=help,
        callback=_named_file,
    )(command)


def _named_file(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    if str(value) in ("", "."):  # Path("") is the working directory
        raise click.BadParameter("no file named", ctx=ctx, param=param)
    return value


def existing_db_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--db of the commands that only read an archive: it must exist already."""
    return db_option(command, help="The SQLite archive, made by `newsmon crawl` or `schedule`.")


def declared_sources(overrides: dict[str, str] | None = None) -> dict[str, Source]:
    """The sources a run reads: from ``-s NEWSMON_SOURCES=FILE`` when given (the crawls
    read that too), else $NEWSMON_SOURCES, else the built-in declarations."""
    path = (overrides or {}).get("NEWSMON_SOURCES") or os.environ.get("NEWSMON_SOURCES")
    try:
        return load_sources(path)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None


def check_source_names(names: tuple[str, ...], declared: dict[str, Source]) -> None:
    for name in names:
        if name not in declared:
            raise BadArgument(f"unknown source {name!r} (declared: {', '.join(declared)})")


def must_exist(db_path: Path) -> None:
    """The commands that read an archive never create one where the user mistyped its name,
    nor write one into a file that holds none (an empty file, another program's database)."""
    if not db_path.exists():
        raise click.ClickException(f"{db_path} does not exist: run `newsmon crawl` first")
    if not _may_hold_an_archive(db_path):
        raise click.ClickException(
            f"{db_path} is not a newsmon archive (no articles table): "
            f"`newsmon crawl --db {db_path}` makes one"
        )


def _may_hold_an_archive(db_path: Path) -> bool:
    """Read-only. A file SQLite cannot read at all passes: opening it says why, in one line."""
    try:
        uri = f"{db_path.expanduser().resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            found = conn.execute("select 1 from sqlite_master where name = 'articles'")
            return found.fetchone() is not None
    except sqlite3.DatabaseError:
        return True


def existing_archive(db_path: Path) -> sqlite_utils.Database:
    """An archive made by a crawl, migrated, or a one-line error."""
    must_exist(db_path)
    try:
        return open_database(db_path)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None


def prepare_database(path: Path) -> Path:
    """Create or migrate the archive once, before any crawl process starts."""
    path = path.expanduser().resolve()
    try:
        open_database(path).close()
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    return path


def parse_settings(values: tuple[str, ...]) -> dict[str, str]:
    """The -s overrides, checked before any crawl starts: a bad value is a bad argument (no
    run is recorded); an unknown name gets a warning naming the closest known setting."""
    settings = {}
    for value in values:
        match = _SETTING.match(value)
        if not match:
            raise BadArgument(f"-s {value!r}: expected NAME=VALUE with an upper-case setting name")
        settings[match.group(1)] = match.group(2)
    if not settings:
        return settings
    # Checking needs Scrapy's defaults: loaded only when there is something to check.
    from crawler.settings_check import SettingError, check_settings

    try:
        warnings = check_settings(settings)
    except SettingError as exc:
        raise BadArgument(str(exc)) from None
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
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


def logs_dir(db: Path, log_dir: Path | None) -> Path:
    """Each database has its own logs (``news.db`` -> ``news.db.logs/``), as it has its own
    locks, so two archives in one folder never prune each other's."""
    return (log_dir or db.with_name(db.name + ".logs")).resolve()


def parse_every(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise BadArgument(f"--every: {exc}") from None

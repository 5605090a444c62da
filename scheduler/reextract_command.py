"""`newsmon reextract [SOURCE]...`: the stored articles read again from their kept pages,
with today's extraction (pipelines/reextract.py), a line for each one that changed."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import click

from pipelines.reextract import Reading, Reextraction
from pipelines.workers import default_workers
from scheduler.arguments import (
    check_source_names,
    declared_sources,
    existing_archive,
    existing_db_option,
    parse_settings,
)
from scheduler.extract_command import crawl_settings, judging_rules
from scheduler.usage import OneLineCommand


@click.command(cls=OneLineCommand)  # usage errors in one line, as every command
@click.argument("source_names", metavar="[SOURCE]...", nargs=-1)
@existing_db_option
@click.option("--dry-run", is_flag=True, help="Say what would be corrected; change no article.")
@click.option(
    "-s", "settings", multiple=True, metavar="NAME=VALUE", help="A setting, as for `crawl`."
)
def reextract_command(
    source_names: tuple[str, ...], db_path: Path, dry_run: bool, settings: tuple[str, ...]
) -> None:
    """Read the stored articles of the named sources (default: all) again from their kept
    raw pages, with today's extraction, source declarations and settings, and correct those
    whose reading changed: title, text, modification date, publication date if none was
    found, authors, language, description, agency and its evidence, relevance.

    An article is corrected in place, in its row and its newest version, with its story:
    the site did not change the page, so no version is added. One that today's rules would
    not store is left as it is and listed. Articles whose raw page was dropped by `compact`
    keep their first reading. Pages are read in NEWSMON_EXTRACT_WORKERS worker processes,
    each page within NEWSMON_EXTRACT_TIMEOUT. Safe beside running crawls; Ctrl-C stops it
    and a rerun finds nothing more to do for what was done.
    """
    overrides = parse_settings(settings)
    declared = declared_sources(overrides)
    check_source_names(source_names, declared)
    config = crawl_settings(overrides)
    rules = judging_rules(config)
    db = existing_archive(db_path)
    pass_over = Reextraction(
        db,
        declared,
        rules,
        workers=config.getint("NEWSMON_EXTRACT_WORKERS") or default_workers(),
        timeout=config.getfloat("NEWSMON_EXTRACT_TIMEOUT"),
        dry_run=dry_run,
    )
    counts: Counter[str] = Counter()

    def report(reading: Reading) -> None:
        counts[reading.outcome] += 1
        if line := describe(reading, dry_run):
            click.echo(line)

    stopped_by = [signal.SIGINT]

    def stop(signum: int, frame: Any) -> None:
        stopped_by[0] = signal.Signals(signum)
        raise KeyboardInterrupt  # as Ctrl-C: each article's transaction is whole or none

    signal.signal(signal.SIGTERM, stop)
    try:
        pass_over.run(list(source_names), report)
    except KeyboardInterrupt:
        click.echo(summary(counts, dry_run))
        click.echo(f"Stopped by {stopped_by[0].name}; rerun to carry on.", err=True)
        raise SystemExit(128 + stopped_by[0]) from None
    finally:
        db.close()
    click.echo(summary(counts, dry_run))


def describe(reading: Reading, dry_run: bool) -> str | None:
    """A line for an article that changed, or that was left for a reason; None if as stored."""
    where = f"{reading.article_id} {reading.url}"
    if reading.failed:
        return f"not read: {where}: {reading.failed}"
    if reading.refused:
        return f"kept as stored: {where}: today's rules would not store it ({reading.refused})"
    if reading.skipped:
        return f"skipped: {where}: {reading.skipped}"
    if reading.changed:
        verb = "would correct" if dry_run else "corrected"
        return f"{verb}: {where}: {', '.join(reading.changed)}"
    return None


def summary(counts: Counter[str], dry_run: bool) -> str:
    read = sum(counts.values())
    verb = "would be corrected" if dry_run else "corrected"
    parts = [
        f"{counts['corrected']:,} {verb}",
        f"{counts['unchanged']:,} as stored",
        f"{counts['refused']:,} kept though today's rules would not store them",
    ]
    if counts["failed"]:
        parts.append(f"{counts['failed']:,} could not be read again")
    if counts["skipped"]:
        parts.append(f"{counts['skipped']:,} changed but left as stored (see above)")
    return f"Read {read:,} kept page(s): " + "; ".join(parts) + "."

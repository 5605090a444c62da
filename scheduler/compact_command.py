"""`newsmon compact`: the raw pages' retention and VACUUM, reported (pipelines/compact.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from pipelines.compact import delete_old_pages, file_size, vacuum
from pipelines.database import DatabaseError, open_database


def compact_archive(path: Path, older_than: int | None, *, vacuum_file: bool) -> None:
    """Delete the raw pages fetched more than ``older_than`` seconds ago, then VACUUM."""
    try:
        db = open_database(path)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        if older_than is not None:
            deleted = delete_old_pages(db, timedelta(seconds=older_than))
            click.echo(
                f"Deleted {deleted.pages:,} raw page(s) fetched before {deleted.cutoff} "
                f"({deleted.bytes / 2**20:,.1f} MiB of gzip HTML)."
            )
        if not vacuum_file:
            click.echo(f"{path}: {file_size(path) / 2**20:,.1f} MiB (not vacuumed).")
            return
        try:
            result = vacuum(db, path)
        except DatabaseError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{path}: {result.before / 2**20:,.1f} MiB -> {result.after / 2**20:,.1f} MiB.")
    finally:
        db.close()

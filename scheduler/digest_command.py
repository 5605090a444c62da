"""`newsmon digest`: the articles stored since a time, for a cron job to mail.

Its own module, loaded only when the command is used: ``review`` loads Datasette.
"""

from __future__ import annotations

from pathlib import Path

import click

from review import digest as digests
from scheduler.arguments import BadArgument, existing_archive, existing_db_option
from scheduler.usage import OneLineCommand


@click.command(cls=OneLineCommand)  # usage errors in one line, as every command
@existing_db_option
@click.option(
    "--since",
    default="24h",
    show_default=True,
    help="How far back: a duration (90m, 24h, 7d, 2w) or a date (2026-11-28).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(digests.FORMATS),
    default="text",
    show_default=True,
    help="text for a terminal or plain mail, markdown, or html for an HTML mail.",
)
def digest(db_path: Path, since: str, fmt: str) -> None:
    """Print the articles stored since a time, grouped by story, for a cron job to mail.

    Prints "nothing new" (and exits 0) when there is nothing.
    """
    try:
        moment = digests.parse_since(since)
    except ValueError as exc:
        raise BadArgument(f"--since: {exc}") from None
    db = existing_archive(db_path)
    try:
        click.echo(digests.render(digests.collect(db, moment), moment, fmt), nl=False)
    finally:
        db.close()

"""``python -m scheduler`` is the ``newsmon`` command."""

from scheduler.cli import cli

cli(prog_name="newsmon")

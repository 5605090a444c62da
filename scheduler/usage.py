"""Command-line usage errors in one line.

Click answers a bad option value or an extra argument with four lines (usage, a hint, a
blank line, the error). newsmon's promise is one line on stderr and exit code 2, as for its
own argument errors, with the pointer to ``--help`` folded into that line.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


def _one_line(exc: click.UsageError) -> click.UsageError:
    ctx = exc.ctx
    message = " ".join(exc.format_message().split())
    if ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return click.UsageError(message)  # no ctx: click prints no usage block


class OneLineErrors:
    """Mixed into a click command: usage errors while parsing its arguments are one line."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)  # type: ignore[misc]
        except click.UsageError as exc:
            raise _one_line(exc) from None


class OneLineCommand(OneLineErrors, click.Command):
    pass


class OneLineGroup(OneLineErrors, click.Group):
    """A group whose commands, and itself, report usage errors in one line."""

    command_class = OneLineCommand

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # name -> "module:attribute" of a command imported only when it is used or listed:
        # its module loads Datasette, Scrapy or Trafilatura, which a `newsmon crawl` waiting
        # on its crawls should not carry (docs/PERFORMANCE.md).
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:  # "No such command"
            raise _one_line(exc) from None

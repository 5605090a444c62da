"""The `--check` of `newsmon sources`: probe every declared endpoint and say which work."""

from __future__ import annotations

import json

import click

from crawler.probe import Prober, check_sources
from crawler.sources import Source
from scheduler.extract_command import crawl_settings


def check(
    sources: dict[str, Source],
    *,
    origin_map: dict[str, str],
    as_json: bool,
    delay: float,
    timeout: float,
) -> None:
    """Print one result per endpoint as it is probed; exit 1 when an enabled one is broken."""
    settings = crawl_settings({})
    prober = Prober(
        user_agent=settings.get("USER_AGENT"),
        origin_map=origin_map,
        timeout=timeout,
        delay=delay,
        max_bytes=settings.getint("DOWNLOAD_MAXSIZE"),
    )
    failing = 0
    for result in check_sources(sources, prober):
        failing += result.fails_check
        click.echo(json.dumps(result.as_json()) if as_json else result.line())
    if failing:
        click.echo(f"{failing} enabled endpoint(s) broken", err=True)
        raise SystemExit(1)

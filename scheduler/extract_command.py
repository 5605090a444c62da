"""`newsmon extract FILE...`: what newsmon would store from saved pages, and why.

No database, no network: the page is read from disk and judged by pipelines.explain with the
same settings a crawl uses (`-s NAME=VALUE` overrides them, as for `crawl`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from scrapy.http import HtmlResponse
from scrapy.settings import Settings

from crawler.encoding import page_text
from crawler.sources import SourceError
from crawler.urls import canonicalize_url
from pipelines.explain import Explanation, Rules, canonical_url, explain_page, source_for
from scheduler.arguments import BadArgument, check_source_names, declared_sources, parse_settings
from scheduler.usage import OneLineCommand

TEXT_PREVIEW_CHARS = 400


def crawl_settings(overrides: dict[str, str]) -> Settings:
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict(overrides, priority="cmdline")
    return settings


@click.command(cls=OneLineCommand)  # usage errors in one line, as every command
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--url", help="The page's public URL (one FILE only); else its canonical URL.")
@click.option(
    "--source",
    "source_name",
    metavar="NAME",
    help="Apply this source's declarations; else the source whose sites match the URL's host, "
    "else generic rules.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per FILE per line.")
@click.option(
    "-s", "settings", multiple=True, metavar="NAME=VALUE", help="A setting, as for `crawl`."
)
def extract(
    files: tuple[Path, ...],
    url: str | None,
    source_name: str | None,
    as_json: bool,
    settings: tuple[str, ...],
) -> None:
    """Show what newsmon would make of saved HTML pages, touching no database and no network:
    title, text, dates, authors, language, agency and the evidence for it, the relevance
    score and terms, and the decision (store, irrelevant, no_text, no_agency_credit,
    not_article_url, off_site) with its reason.

    Exits 0 when every file was read, whatever the decisions.
    """
    if url and len(files) > 1:
        raise BadArgument("--url applies to one FILE only")
    if url and not url.startswith(("http://", "https://")):
        raise BadArgument(f"--url {url!r}: not an http(s) URL")
    overrides = parse_settings(settings)
    declared = declared_sources(overrides)
    check_source_names((source_name,) if source_name else (), declared)
    rules = judging_rules(crawl_settings(overrides))
    unreadable = 0
    for path in files:
        try:
            page_html = read_page(path, url)
        except OSError as exc:
            click.echo(f"{path}: cannot read: {exc.strerror or exc}", err=True)
            unreadable += 1
            continue
        page_url = canonicalize_url(url) if url else canonical_url(page_html)
        source = declared[source_name] if source_name else source_for(page_url, declared)
        result = explain_page(page_html, page_url, source, **rules.as_kwargs())
        if as_json:
            click.echo(json.dumps(result.as_json(str(path)), ensure_ascii=False))
        else:
            click.echo(describe(str(path), result))
    if unreadable:
        raise SystemExit(1)


def judging_rules(config: Settings) -> Rules:
    """The rules a crawl run with these settings would judge pages by."""
    try:
        return Rules.from_settings(config)
    except (SourceError, ValueError) as exc:
        raise BadArgument(str(exc)) from None


def read_page(path: Path, url: str | None) -> str:
    """The page's text in its right encoding, decided as for a fetched page."""
    body = path.read_bytes()
    response = HtmlResponse(url=url or path.resolve().as_uri(), body=body)
    return page_text(response)[0]


def describe(file: str, result: Explanation) -> str:
    e = result.extracted
    relevance = result.relevance
    rules = f"{result.source} ({result.role})" if result.source else "none (generic rules)"
    lines = [
        file,
        f"  decision:  {result.decision}: {result.reason}",
        f"  url:       {result.url or '(none given, none in the page)'}",
        f"  source:    {rules}",
        f"  agency:    {result.credit.agency or '-'}",
        *[f"  credit:    {line}" for line in result.credit.evidence or ["(no credit found)"]],
    ]
    # Credit the page gives that the source's rules did not keep (another agency's, say).
    dropped = [e for e in result.page_credit.evidence if e not in result.credit.evidence]
    lines += [f"  not kept:  {line}" for line in dropped]
    if e is not None:
        text = " ".join(e.text.split())
        lines += [
            f"  title:     {e.title}",
            f"  published: {e.published or '-'}",
            f"  authors:   {', '.join(e.authors) or '-'}",
            f"  language:  {e.language}",
            f"  relevance: {relevance['score']} ({relevance['reason']}); terms: "
            + (", ".join(f"{k} x{v}" for k, v in relevance["matched_terms"].items()) or "-"),
            f"  text:      {len(e.text)} characters: {text[:TEXT_PREVIEW_CHARS]}"
            + ("…" if len(text) > TEXT_PREVIEW_CHARS else ""),
        ]
    return "\n".join(lines) + "\n"

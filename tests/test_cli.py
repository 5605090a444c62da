"""The newsmon command as a user meets it: help, the README's promises, and clear errors."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from crawler.sources import load_sources
from pipelines.database import open_database
from scheduler.cli import cli
from tests.conftest import ROOT, invoke_newsmon, run_newsmon

README = (ROOT / "README.md").read_text(encoding="utf-8")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def commands() -> dict[str, click.Command]:
    """Every command, the lazily imported ones included."""
    ctx = click.Context(cli)
    return {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}  # type: ignore[misc]


def test_every_command_has_help_and_is_documented_in_the_readme() -> None:
    contract = {"crawl", "sources", "schedule", "status", "serve", "backfill", "extract"}
    assert set(commands()) >= contract
    for name, command in commands().items():
        code, output = invoke(name, "--help")
        assert code == 0
        assert command.help
        assert " ".join(command.help.split("\n")[0].split()) in " ".join(output.split())
        assert f"`newsmon {name}" in README, f"README does not document `newsmon {name}`"


def test_every_option_the_readme_names_exists() -> None:
    for name, option in re.findall(r"`newsmon (\w+) \[?(--[\w-]+)", README):
        assert name in commands(), name
        assert option in invoke(name, "--help")[1], f"{name} {option}"
    crawl_help = invoke("crawl", "--help")[1]
    for option in ("--db", "-s", "--origin-map", "--log-dir", "--timeout"):
        assert f"`{option}" in README
        assert option in crawl_help


def test_readme_sources_table_lists_every_declared_source() -> None:
    table = README.split("## Sources", 1)[1].split("\n## ", 1)[0]
    for name in load_sources():
        assert f"| `{name}` |" in table


def test_sources_json_follows_the_contract() -> None:
    code, output = invoke("sources", "--json")
    assert code == 0
    data = json.loads(output)
    assert [s["name"] for s in data] == ["rferl", "reuters", "afp"]
    kinds = {"rss", "atom", "news_sitemap", "sitemap", "sitemap_index", "listing", "archive_index"}
    for source in data:
        assert {"name", "publisher", "domains", "enabled", "discovery"} <= set(source)
        assert source["enabled"] is True
        assert all(set(d) == {"kind", "url"} and d["kind"] in kinds for d in source["discovery"])


def test_sources_table_shows_domains_and_endpoints() -> None:
    code, output = invoke("sources")
    assert code == 0
    assert "reuters" in output
    assert "sitemap_index  https://www.reuters.com/arc/outboundfeeds/news-sitemap-index/" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["crawl", "nosuch"], "unknown source 'nosuch'"),
        (["crawl", "-s", "not-a-setting"], "-s 'not-a-setting': expected NAME=VALUE"),
        (["crawl", "--origin-map", "https://a.org"], "is not PUBLIC=TARGET"),
        (["crawl", "--origin-map", "https://a.org/x=http://127.0.0.1:1"], "has a path"),
        (["crawl", "--origin-map", "ftp://a.org=http://127.0.0.1:1"], "is not an origin"),
        (["crawl", "--db", "/nonexistent/dir/news.db", "rferl"], "does not exist"),
        (["crawl", "--timeout", "0"], "0 is not in the range"),
        (["crawl", "--db", "/tmp"], "'/tmp' is a directory"),
        (["crawl", "--db", ""], "Invalid value for '--db': no file named"),
        (["compact", "--db", "/nonexistent/news.db"], "does not exist"),
        (["status", "--db", "/tmp"], "'/tmp' is a directory"),
        (["status", "--db", "/nonexistent/news.db"], "does not exist"),
        (["status", "extra"], "unexpected extra argument (extra)"),
        (["sources", "--jsn"], "Did you mean '--json'?"),
        (["serve", "--port", "http"], "'http' is not a valid integer"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_bad_arguments_get_one_line_and_a_nonzero_exit(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    (line,) = result.stderr.splitlines()  # one line, usage errors included
    assert line.startswith("Error: ")
    assert message in line


def test_a_usage_error_from_the_installed_command_is_one_line_with_exit_2() -> None:
    result = run_newsmon("crawl", "--db", "/tmp")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Error: Invalid value for '--db': File '/tmp' is a directory. (see 'newsmon crawl --help')"
    ]


def test_a_corrupt_database_is_refused_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    result = run_newsmon("crawl", "rferl", "--db", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: cannot use")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["serve"],
        ["digest"],
        ["stories"],
        ["compact"],
        ["reextract"],
        ["backfill", "rferl", "--since", "2020-01-01"],
    ],
    ids=lambda command: command[0],
)
def test_every_command_refuses_a_file_that_is_not_an_archive_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    result = CliRunner().invoke(cli, [*command, "--db", str(bad)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: cannot ") and "bad.db" in line
    assert bad.read_bytes() == b"this is not sqlite" * 100  # refused, never overwritten


def test_a_broken_source_declaration_names_the_source_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "sources.toml"
    broken.write_text(
        '[[source]]\nname = "x"\npublisher = "X"\ndomains = ["x.org"]\n'
        "article_patterns = ['([']\n"
        'discovery = [{ kind = "rss", url = "https://x.org/feed" }]\n'
    )
    result = run_newsmon("sources", env={"NEWSMON_SOURCES": str(broken)})
    assert result.returncode == 1
    assert "source 'x': field 'article_patterns': invalid regex" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_setting_that_passes_the_checks_but_breaks_the_crawl_fails_that_run(
    tmp_path: Path,
) -> None:
    # A number, as the check asks, but Scrapy reads this one with getint.
    result = run_newsmon(
        "crawl", "rferl", "--db", str(tmp_path / "n.db"), "-s", "CONCURRENT_REQUESTS=2.5"
    )
    assert result.returncode == 1
    assert "rferl: failed: crawl process exited with code 1: ValueError" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["status", "digest", "reextract", "compact"])
def test_a_command_reading_an_archive_leaves_a_file_that_holds_none_as_it_was(
    command: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("create table notes (text)")
        conn.commit()
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    for path in (empty, other):
        result = invoke_newsmon(command, "--db", str(path))
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"Error: {path} is not a newsmon archive (no articles table): "
            f"`newsmon crawl --db {path}` makes one"
        )
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


def _record_run(db_path: Path, source: str, status: str, started: str) -> None:
    db = open_database(db_path)
    db.table("crawl_runs").insert(
        {
            "source": source,
            "status": status,
            "started": started,
            "finished": started,
            "reason": "" if status == "ok" else "HTTP 401",
        }
    )
    db.close()


def test_status_exits_nonzero_when_a_source_fails_or_was_never_crawled(tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    now = "2099-01-01T00:00:00Z"  # far future start: nothing is "silent" yet
    for source in ("rferl", "afp"):
        _record_run(db_path, source, "ok", now)
    result = invoke_newsmon("status", "--db", str(db_path), "--json")
    states = {s["source"]: s for s in json.loads(result.stdout)}
    assert result.returncode == 1
    assert states["reuters"]["problems"] == ["never crawled"]
    assert states["rferl"]["healthy"] is True

    _record_run(db_path, "reuters", "ok", now)
    assert invoke_newsmon("status", "--db", str(db_path)).returncode == 0
    for hour in (1, 2):
        _record_run(db_path, "reuters", "blocked", f"2099-01-01T0{hour}:00:00Z")
    result = invoke_newsmon("status", "--db", str(db_path))
    assert result.returncode == 0  # two in a row: backing off, not yet unhealthy
    assert "backing off" in result.stdout
    _record_run(db_path, "reuters", "blocked", "2099-01-01T03:00:00Z")
    result = invoke_newsmon("status", "--db", str(db_path))
    assert result.returncode == 1
    assert "3 failed or blocked runs in a row, last: blocked: HTTP 401" in result.stdout


WIRE_CREDIT = ROOT / "tests/fixtures/real/wire_credit"


def test_extract_prints_the_agency_with_its_evidence_as_json_per_file() -> None:
    files = [
        WIRE_CREDIT / "sciencealert.com_2019-11-19_titan-geological-map.html",
        WIRE_CREDIT / "news.bbc.co.uk_2004-09-06_libya-outlines-oil-contract-plans.html",
    ]
    code, output = invoke("extract", "--json", *map(str, files))
    assert code == 0
    science, bbc = (json.loads(line) for line in output.splitlines())
    contract = {"file", "url", "title", "text", "published", "authors", "language", "agency"}
    assert contract | {"credit", "relevance", "decision", "reason"} <= set(science)
    assert (science["agency"], science["decision"]) == ("Reuters", "irrelevant")
    assert "meta author: Reuters" in science["credit"]
    assert set(science["relevance"]) >= {"score", "matched_terms", "relevant"}
    assert (bbc["agency"], bbc["credit"], bbc["decision"]) == (None, [], "store")
    assert bbc["relevance"]["relevant"] and "Libya" in bbc["relevance"]["matched_terms"]


def test_extract_json_has_every_contract_key_for_a_page_without_text(tmp_path: Path) -> None:
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    code, output = invoke("extract", "--json", str(empty))
    assert code == 0
    page = json.loads(output)
    assert (page["decision"], page["text"], page["agency"], page["credit"]) == (
        "no_text",
        None,
        None,
        [],
    )
    assert page["relevance"] == {
        "score": 0.0,
        "matched_terms": {},
        "relevant": False,
        "reason": "no text",
    }


def test_extract_applies_a_licensees_rules_from_the_url() -> None:
    page = ROOT / "tests/fixtures/synthetic/ahram"
    own = page / "ahram_2024-05-15_libya-egypt-border-own-reporting_synthetic.html"
    url = "https://english.ahram.org.eg/NewsContent/2/8/521101/World/Region/x.aspx"
    code, output = invoke("extract", str(own), "--url", url)
    assert code == 0
    assert "decision:  no_agency_credit: english.ahram.org.eg is a licensee" in output
    assert "source:    reuters (licensee)" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "https://x.org/a", "README.md", "pyproject.toml"], "one FILE only"),
        (["--source", "nosuch", "README.md"], "unknown source 'nosuch'"),
        (["--url", "x.org/a", "README.md"], "not an http(s) URL"),
        (["no-such-file.html"], "does not exist"),
    ],
)
def test_extract_bad_arguments_get_one_line_and_exit_2(args, message, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # in-process: the installed command's path is tested above
    result = CliRunner().invoke(cli, ["extract", *args])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    (line,) = result.stderr.splitlines()
    assert message in line


def test_every_command_lazy_ones_included_reports_usage_errors_in_one_line() -> None:
    from scheduler.usage import OneLineErrors

    ctx = click.Context(cli)
    commands = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
    assert not [
        name for name, command in commands.items() if not isinstance(command, OneLineErrors)
    ]

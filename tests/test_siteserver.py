"""`python -m tests.siteserver`, the offline playground README points newcomers to."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT
from tests.siteserver import print_commands, serve_sites


def test_help_prints_usage_and_starts_no_server() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.siteserver", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m tests.siteserver")
    assert "--port" in result.stdout and "--db" in result.stdout
    assert "served at" not in result.stdout


def test_fixed_ports_and_the_commands_to_crawl_and_serve_the_archive(capsys) -> None:
    with serve_sites(["www.reuters.com", "www.rferl.org"], first_port=18431) as running:
        assert [s.origin for s in running.values()] == [
            "http://127.0.0.1:18431",
            "http://127.0.0.1:18432",
        ]
        print_commands(running, "offline.db")
    out = capsys.readouterr().out
    assert "newsmon crawl --db offline.db" in out
    assert "--origin-map https://www.rferl.org=http://127.0.0.1:18432" in out
    assert "newsmon serve --db offline.db" in out

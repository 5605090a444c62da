"""-s settings are checked before any crawl: a bad value is a one-line usage error (exit 2)
with no run recorded, a misspelt name gets a warning naming the setting meant, and
`scrapy crawl -s` gets the same check inside the crawl process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import crawler.settings
from crawler.settings_check import SettingError, check_settings, known_settings
from scheduler.cli import cli
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("DOWNLOAD_DELAY=abc", "-s DOWNLOAD_DELAY='abc': expected a number"),
        ("NEWSMON_RELEVANCE_MIN_SCORE=abc", "expected a number"),
        ("NEWSMON_RELEVANCE_FILTER=maybe", "expected true or false"),
        ("ROBOTSTXT_OBEY=yes please", "expected true or false"),
        ("NEWSMON_ORIGIN_MAP=[1, 2]", "expected a JSON object"),
        ("CONCURRENT_REQUESTS=nan", "expected a number"),
    ],
)
def test_a_bad_setting_value_is_one_line_exit_2_and_records_nothing(
    tmp_path: Path, setting: str, expected: str
) -> None:
    db_path = tmp_path / "news.db"
    for command in ("crawl", "schedule"):
        result = CliRunner().invoke(cli, [command, "--db", str(db_path), "-s", setting])
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.splitlines()
        assert line.startswith("Error: ") and expected in line
    assert not db_path.exists()  # no database made, no failed run stored


@pytest.mark.parametrize(
    "setting",
    [
        "DOWNLOAD_DELAY=2.5",
        "DOWNLOAD_DELAY=0",
        "NEWSMON_RELEVANCE_FILTER=false",
        "AUTOTHROTTLE_ENABLED=False",
        "ROBOTSTXT_OBEY=1",
        'NEWSMON_ORIGIN_MAP={"https://a.org": "http://127.0.0.1:1"}',
        "LOG_LEVEL=DEBUG",
        "NEWSMON_RELEVANCE_TERMS=Libya,Tripoli",
        "FEEDS={}",
    ],
)
def test_good_values_pass(setting: str) -> None:
    name, _, value = setting.partition("=")
    assert check_settings({name: value}) == []


def test_a_misspelt_name_is_a_warning_naming_the_closest_setting() -> None:
    (warning,) = check_settings({"DOWNLAOD_DELAY": "5"})
    assert "DOWNLAOD_DELAY" in warning and "did you mean DOWNLOAD_DELAY?" in warning
    (warning,) = check_settings({"NEWSMON_RELEVANCE_MIN_SCOR": "2"})
    assert "did you mean NEWSMON_RELEVANCE_MIN_SCORE?" in warning
    (warning,) = check_settings({"MYADDON_API_KEY": "x"})  # an add-on's own: no guess
    assert "did you mean" not in warning


def test_a_new_newsmon_setting_is_known_and_typed_from_its_default(monkeypatch) -> None:
    monkeypatch.setattr(crawler.settings, "NEWSMON_SOMETHING_NEW", 12, raising=False)
    assert known_settings()["NEWSMON_SOMETHING_NEW"] == 12
    assert check_settings({"NEWSMON_SOMETHING_NEW": "14"}) == []
    with pytest.raises(SettingError, match="expected a number"):
        check_settings({"NEWSMON_SOMETHING_NEW": "many"})


def test_scrapy_crawl_checks_its_settings_before_the_spider_opens(tmp_path: Path) -> None:
    db_path = tmp_path / "x.db"
    command = [sys.executable, "-m", "scrapy", "crawl", "rferl", "-s", f"NEWSMON_DB={db_path}"]
    result = subprocess.run(
        [*command, "-s", "DOWNLOAD_DELAY=abc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "SettingError: -s DOWNLOAD_DELAY='abc': expected a number" in result.stderr
    assert not db_path.exists()  # nothing fetched, no run recorded


CHECK_WITHOUT_SCRAPY = """
import sys
from crawler.scrapy_defaults import scrapy_default_settings
from crawler.settings_check import check_settings
warnings = check_settings({"DOWNLAOD_DELAY": "5", "RETRY_TIMES": "3"})
assert "scrapy" not in sys.modules, "checking settings imported Scrapy"
read = scrapy_default_settings()
import scrapy.settings.default_settings as real
scrapys = {name: getattr(real, name) for name in dir(real) if name.isupper()}
assert read == {**scrapys, "USER_AGENT": None}
print(warnings[0])
"""


def test_settings_are_checked_against_scrapys_own_defaults_without_importing_scrapy() -> None:
    # Importing Scrapy is a third of a second of CPU on every `newsmon crawl` and `schedule`.
    result = subprocess.run(
        [sys.executable, "-c", CHECK_WITHOUT_SCRAPY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "did you mean DOWNLOAD_DELAY?" in result.stdout

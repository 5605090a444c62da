"""crawler/sources.py: the packaged declarations, and what an invalid one is told."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.sources import (
    DISCOVERY_KINDS,
    SourceError,
    load_sites,
    load_sources,
    parse_duration,
)

FIXTURES = Path(__file__).parent / "fixtures"
SECTION_URLS = ["https://www.rferl.org/z/650", "https://www.reuters.com/world/"]


@pytest.fixture(scope="module")
def sources():
    return load_sources()


def _fixture_urls(source: str) -> list[str]:
    articles = json.loads((FIXTURES / "expected_articles.json").read_text(encoding="utf-8"))
    return [a["public_url"] for a in articles if a["source"] == source]


def test_packaged_declarations_load_in_file_order(sources):
    assert list(sources)[:3] == ["rferl", "reuters", "afp"]


@pytest.mark.parametrize("name", ["rferl", "reuters", "afp"])
def test_each_source_has_a_known_discovery_kind(sources, name):
    source = sources[name]
    assert source.discovery
    assert all(d.kind in DISCOVERY_KINDS for d in source.discovery)
    assert all(d.url.startswith("https://") for d in source.discovery)


@pytest.mark.parametrize("name", ["rferl", "reuters", "afp"])
def test_article_patterns_match_the_fixture_article_urls(sources, name):
    urls = _fixture_urls(name)
    assert urls, f"expected_articles.json lists no {name} article"
    for url in urls:
        assert sources[name].is_article_url(url), url


@pytest.mark.parametrize("name", ["rferl", "reuters", "afp"])
@pytest.mark.parametrize("url", SECTION_URLS)
def test_article_patterns_do_not_match_section_urls(sources, name, url):
    assert not sources[name].is_article_url(url)


def test_rferl_id_pattern_gives_the_numeric_id(sources):
    url = "https://www.rferl.org/a/un-security-council-libya-russia-foreign-fighters/31003211.html"
    assert sources["rferl"].article_id(url) == "31003211"
    assert sources["reuters"].article_id(url) is None


@pytest.mark.parametrize("name", ["rferl", "reuters", "afp"])
def test_as_json_has_the_contract_keys(sources, name):
    data = sources[name].as_json()
    assert {"name", "publisher", "domains", "enabled", "discovery"} <= set(data)
    assert data["name"] == name
    assert isinstance(data["publisher"], str) and data["publisher"]
    assert isinstance(data["domains"], list) and data["domains"]
    assert isinstance(data["enabled"], bool)
    assert data["discovery"] and all(set(d) == {"kind", "url"} for d in data["discovery"])
    json.dumps(data)  # serialisable as-is


def test_afp_licensee_domain_is_one_of_its_domains(sources):
    afp = sources["afp"]
    assert afp.agency == "AFP"
    assert set(afp.licensee_domains) <= set(afp.domains)


# --- invalid declarations ----------------------------------------------------------------

VALID = """
[[source]]
name = "demo"
publisher = "Demo"
domains = ["www.example.com"]
article_patterns = ['^https://www\\.example\\.com/a/\\d+$']
discovery = [{ kind = "rss", url = "https://www.example.com/feed" }]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_valid_declaration_loads_with_defaults(tmp_path):
    sources = load_sources(_write(tmp_path, VALID))
    demo = sources["demo"]
    assert demo.enabled is True
    assert demo.interval == "30m"
    assert demo.interval_seconds == 1800
    assert demo.is_article_url("https://www.example.com/a/12")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"colour": '"blue"'}, "colour"),
        ({"article_patterns": "['(unclosed']"}, "article_patterns"),
        (
            {"discovery": '[{ kind = "telepathy", url = "https://www.example.com/x" }]'},
            "discovery",
        ),
        ({"discovery": '[{ kind = "rss", url = "https://evil.example.org/feed" }]'}, "discovery"),
        ({"id_pattern": "'/a/\\d+$'"}, "id_pattern"),
        ({"licensee_domains": '["www.other.com"]', "agency": '"AFP"'}, "licensee_domains"),
        ({"interval": '"soon"'}, "interval"),
        ({"enabled": '"yes"'}, "enabled"),
        ({"language": '"english"'}, "language"),
    ],
    ids=[
        "unknown-field",
        "bad-regex",
        "unknown-kind",
        "url-outside-domains",
        "id-pattern-without-group",
        "licensee-not-in-domains",
        "bad-interval",
        "enabled-not-bool",
        "bad-language",
    ],
)
def test_invalid_field_fails_naming_source_and_field(tmp_path, change, field):
    lines = [line for line in VALID.strip().splitlines() if line.split(" = ")[0] not in change]
    lines += [f"{key} = {value}" for key, value in change.items()]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(SourceError) as raised:
        load_sources(path)
    message = str(raised.value)
    assert "'demo'" in message
    assert f"'{field}'" in message
    assert str(path) in message


@pytest.mark.parametrize("field", ["drop_text", "end_at", "title_drop"])
def test_invalid_site_regex_fails_naming_the_field(tmp_path, field):
    site = f"[[site]]\nhosts = [\"www.example.com\"]\n{field} = ['(unclosed']\n"
    with pytest.raises(SourceError, match=rf"site #1: field '{field}': invalid regex"):
        load_sites(_write(tmp_path, VALID + site))


def test_missing_required_field_is_named(tmp_path):
    text = "\n".join(
        line for line in VALID.strip().splitlines() if not line.startswith("article_patterns")
    )
    with pytest.raises(SourceError, match=r"source 'demo': field 'article_patterns'"):
        load_sources(_write(tmp_path, text))


def test_duplicate_source_name_fails(tmp_path):
    with pytest.raises(SourceError, match=r"'demo' is declared twice"):
        load_sources(_write(tmp_path, VALID + VALID))


def test_invalid_toml_fails(tmp_path):
    with pytest.raises(SourceError, match="not valid TOML"):
        load_sources(_write(tmp_path, VALID + "\n[[source]\nname = \n"))


def test_missing_file_fails(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(SourceError, match="not found") as raised:
        load_sources(missing)
    assert str(missing) in str(raised.value)


def test_file_without_sources_fails(tmp_path):
    with pytest.raises(SourceError, match="no \\[\\[source\\]\\] declarations"):
        load_sources(_write(tmp_path, "# nothing\n"))


def test_source_error_is_a_value_error():
    assert issubclass(SourceError, ValueError)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), (" 45m ", 2700)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0m", "15", "m", "1.5h", "-1h", "2w", "1 h", "1H", "h1"])
def test_invalid_duration_raises_value_error(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


# --- licensees: the agency's copy on other sites ----------------------------------------------

LICENSEE = """
[[source.licensees]]
host = "www.republisher.org"
publisher = "Republisher"
article_patterns = ['^https://www\\.republisher\\.org/news/\\d+$']
credit_hints = ['/wire/afp/']
discovery = [
    { kind = "rss", url = "https://www.republisher.org/feed", confidence = "captured" },
    { kind = "atom", url = "https://www.republisher.org/old.atom", enabled = false },
]
"""


def test_licensee_hosts_join_the_domains_and_their_endpoints_the_discovery(tmp_path):
    text = VALID.replace("[[source]]\n", '[[source]]\nagency = "AFP"\n') + LICENSEE
    demo = load_sources(_write(tmp_path, text))["demo"]
    assert demo.domains == ("www.example.com", "www.republisher.org")
    assert demo.licensee_domains == ("www.republisher.org",)
    assert [(d.url, d.confidence, d.enabled) for d in demo.discovery[1:]] == [
        ("https://www.republisher.org/feed", "captured", True),
        ("https://www.republisher.org/old.atom", "reported", False),
    ]
    assert demo.is_article_url("https://www.republisher.org/news/12")
    assert [p.pattern for p in demo.credit_hints("www.republisher.org")] == ["/wire/afp/"]
    data = demo.as_json()
    assert data["licensee_domains"] == ["www.republisher.org"]
    assert {"kind": "atom", "url": "https://www.republisher.org/old.atom"} not in data["discovery"]
    assert data["endpoints"][2]["enabled"] is False
    assert data["licensees"][0]["discovery"][0]["confidence"] == "captured"


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (('host = "www.republisher.org"', 'host = "Not A Host"'), "'host'"),
        (("https://www.republisher.org/feed", "https://elsewhere.org/feed"), "outside"),
        (('confidence = "captured"', 'confidence = "sure"'), "confidence 'sure'"),
        (("article_patterns = ['", "article_patterns = ['(unclosed"), "article_patterns"),
        (('publisher = "Republisher"', 'colour = "red"'), "'colour': unknown field"),
    ],
)
def test_invalid_licensee_fails_naming_it(tmp_path, replace, message):
    text = VALID.replace("[[source]]\n", '[[source]]\nagency = "AFP"\n') + LICENSEE
    with pytest.raises(SourceError) as raised:
        load_sources(_write(tmp_path, text.replace(*replace)))
    assert message in str(raised.value)
    assert "source 'demo'" in str(raised.value)


def test_licensees_need_the_agency_they_carry(tmp_path):
    with pytest.raises(SourceError, match="'agency'"):
        load_sources(_write(tmp_path, VALID + LICENSEE))


def test_every_declared_endpoint_is_inside_its_source_domains(sources):
    for source in sources.values():
        for endpoint in source.discovery:
            assert endpoint.host in source.domains, endpoint.url
        for licensee in source.licensees:
            assert licensee.credit_seen and licensee.robots, licensee.host

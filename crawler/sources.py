"""Load and validate the source declarations (crawler/sources.toml).

A declaration is checked completely at load time, so a typo in a pattern or a discovery kind
fails before any request is made, with a message naming the source and the field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PACKAGED_SOURCES = Path(__file__).with_name("sources.toml")
# archive_index: a sitemap index whose children list the site's archive; read only by
# `newsmon backfill` (crawler/backfill.py), never by the live crawl.
DISCOVERY_KINDS = (
    "rss",
    "atom",
    "news_sitemap",
    "sitemap",
    "sitemap_index",
    "listing",
    "archive_index",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SourceError(ValueError):
    """A source declaration is missing, unreadable or invalid."""


CONFIDENCE = ("captured", "reported", "inferred")


@dataclass(frozen=True)
class Discovery:
    kind: str
    url: str
    # How sure we are it works: "captured" (a real capture of it exists), "reported" (named
    # by third-party configurations), "inferred" (guessed from the site's URL scheme).
    confidence: str = "reported"
    enabled: bool = True  # a disabled endpoint is declared and checked, never crawled
    note: str = ""

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "site": self.host,
            "confidence": self.confidence,
            "enabled": self.enabled,
            **({"note": self.note} if self.note else {}),
        }


@dataclass(frozen=True)
class Licensee:
    """A site that republishes the source's agency copy: its own discovery, article URLs and
    credit hints. Its pages count only when they credit the agency (pipelines.credit)."""

    host: str
    publisher: str
    discovery: tuple[Discovery, ...]
    article_patterns: tuple[re.Pattern[str], ...]
    credit_hints: tuple[re.Pattern[str], ...] = ()  # URL regexes that mark agency copy
    credit_seen: str = ""  # how the site credits the agency, and where that was seen
    robots: str = ""  # what is known of its robots.txt
    notes: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "publisher": self.publisher,
            "discovery": [d.as_json() for d in self.discovery],
            "article_patterns": [p.pattern for p in self.article_patterns],
            "credit_hints": [p.pattern for p in self.credit_hints],
            "credit_seen": self.credit_seen,
            "robots": self.robots,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Source:
    name: str
    publisher: str
    domains: tuple[str, ...]
    discovery: tuple[Discovery, ...]
    article_patterns: tuple[re.Pattern[str], ...]
    id_pattern: re.Pattern[str] | None = None
    enabled: bool = True
    language: str = "en"
    agency: str = ""
    licensee_domains: tuple[str, ...] = ()
    sitemap_follow: tuple[re.Pattern[str], ...] = ()
    live_days: int = 7
    url_rewrites: tuple[tuple[re.Pattern[str], str], ...] = ()
    interval: str = "30m"
    silence_days: int = 7
    notes: str = ""
    licensees: tuple[Licensee, ...] = ()

    def credit_hints(self, host: str) -> tuple[re.Pattern[str], ...]:
        return tuple(p for lic in self.licensees if lic.host == host for p in lic.credit_hints)

    def is_article_url(self, url: str) -> bool:
        return any(p.search(url) for p in self.article_patterns)

    def article_id(self, url: str) -> str | None:
        """The site's own stable id for an article URL, when the source declares one."""
        if self.id_pattern is None:
            return None
        match = self.id_pattern.search(url)
        return match.group(1) if match else None

    @property
    def archive_indexes(self) -> tuple[str, ...]:
        """The sitemap indexes `newsmon backfill` reads; empty when the source has none."""
        return tuple(d.url for d in self.discovery if d.kind == "archive_index")

    def follows_sitemap(self, url: str) -> bool:
        return not self.sitemap_follow or any(p.search(url) for p in self.sitemap_follow)

    @property
    def interval_seconds(self) -> int:
        return parse_duration(self.interval)

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON shape for `newsmon sources --json`."""
        return {
            "name": self.name,
            "publisher": self.publisher,
            "domains": list(self.domains),
            "enabled": self.enabled,
            # The contract's shape: what the crawl reads. Every declared endpoint, with how
            # sure we are of it, is in "endpoints".
            "discovery": [{"kind": d.kind, "url": d.url} for d in self.discovery if d.enabled],
            "endpoints": [d.as_json() for d in self.discovery],
            "agency": self.agency or None,
            "interval": self.interval,
            "notes": self.notes,
            **(
                {
                    "licensee_domains": list(self.licensee_domains),
                    "licensees": [lic.as_json() for lic in self.licensees],
                }
                if self.licensee_domains
                else {}
            ),
        }


@dataclass(frozen=True)
class SiteQuirks:
    """Extraction hints for one host, where Trafilatura's generic heuristics fall short."""

    hosts: tuple[str, ...]
    text_selectors: tuple[str, ...] = ()  # CSS: the article text is these elements' text
    author_selectors: tuple[str, ...] = ()  # CSS: each match is one author
    drop_text: tuple[re.Pattern[str], ...] = ()  # paragraphs matching these are not text
    end_at: tuple[re.Pattern[str], ...] = ()  # the text ends at the last paragraph matching
    date_selectors: tuple[str, ...] = ()  # CSS: an element whose text holds the publication date
    title_drop: tuple[re.Pattern[str], ...] = ()  # the title ends before a match of these


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``15m``, ``2h`` or ``1d``."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"invalid duration {text!r}: use a positive number with s, m, h or d")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def load_sources(path: str | Path | None = None) -> dict[str, Source]:
    """All declared sources by name, in file order."""
    path, data = _read(path)
    entries = data.get("source")
    if not isinstance(entries, list) or not entries:
        raise SourceError(f"{path}: no [[source]] declarations")
    sources: dict[str, Source] = {}
    for index, entry in enumerate(entries):
        source = _parse_source(entry, f"{path}: source #{index + 1}")
        if source.name in sources:
            raise SourceError(f"{path}: source {source.name!r} is declared twice")
        sources[source.name] = source
    return sources


def load_sites(path: str | Path | None = None) -> dict[str, SiteQuirks]:
    """Extraction hints by host, from the [[site]] tables of the declarations file."""
    path, data = _read(path)
    sites: dict[str, SiteQuirks] = {}
    for index, entry in enumerate(data.get("site", [])):
        quirks = _parse_site(entry, f"{path}: site #{index + 1}")
        sites.update(dict.fromkeys(quirks.hosts, quirks))
    return sites


def _read(path: str | Path | None) -> tuple[Path, dict[str, Any]]:
    path = Path(path) if path else PACKAGED_SOURCES
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{path}: source declarations file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read source declarations: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"source", "site"}
    if unknown:
        raise SourceError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    return path, data


def _parse_site(entry: Any, where: str) -> SiteQuirks:
    fields = {"hosts", "text_selectors", "author_selectors", "drop_text", "end_at"}
    fields |= {"date_selectors", "title_drop"}
    if not isinstance(entry, dict) or not set(entry) <= fields or "hosts" not in entry:
        raise SourceError(f"{where}: a table with 'hosts' and only {', '.join(sorted(fields))}")
    values: dict[str, tuple[str, ...]] = {}
    for key in fields:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise SourceError(f"{where}: field {key!r}: must be a list of non-empty strings")
        values[key] = tuple(value)
    compiled: dict[str, tuple[re.Pattern[str], ...]] = {}
    for key in ("drop_text", "end_at", "title_drop"):
        try:
            compiled[key] = tuple(re.compile(p) for p in values[key])
        except re.error as exc:
            raise SourceError(f"{where}: field {key!r}: invalid regex: {exc}") from None
    return SiteQuirks(
        hosts=tuple(h.lower() for h in values["hosts"]),
        text_selectors=values["text_selectors"],
        author_selectors=values["author_selectors"],
        drop_text=compiled["drop_text"],
        end_at=compiled["end_at"],
        date_selectors=values["date_selectors"],
        title_drop=compiled["title_drop"],
    )


_FIELDS = {f.name for f in fields(Source)} | {"max_age_days"}


def _parse_source(entry: Any, where: str) -> Source:
    if not isinstance(entry, dict):
        raise SourceError(f"{where}: must be a table")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SourceError(f"{where}: field 'name': required, lowercase letters, digits and _")
    where = where.rsplit(": ", 1)[0] + f": source {name!r}"

    def fail(field_name: str, problem: str) -> SourceError:
        return SourceError(f"{where}: field {field_name!r}: {problem}")

    unknown = set(entry) - _FIELDS
    if unknown:
        raise fail(sorted(unknown)[0], "unknown field")

    def text(key: str, default: str | None = None) -> str:
        value = entry.get(key, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise fail(key, "required, must be a non-empty string")
        return value

    def strings(key: str, required: bool = False) -> tuple[str, ...]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(key, "must be a list of non-empty strings")
        if required and not value:
            raise fail(key, "required, must not be empty")
        return tuple(value)

    def regex(key: str, value: str) -> re.Pattern[str]:
        try:
            return re.compile(value)
        except re.error as exc:
            raise fail(key, f"invalid regex {value!r}: {exc}") from None

    def patterns(key: str, required: bool = False) -> tuple[re.Pattern[str], ...]:
        return tuple(regex(key, value) for value in strings(key, required))

    own_domains = tuple(d.lower() for d in strings("domains", required=True))
    discovery = _parse_discovery(entry.get("discovery"), own_domains, fail)
    licensees = _parse_licensees(entry.get("licensees", []), where)
    # Every host the crawl touches is in `domains`: the licensees' hosts are added to it.
    domains = tuple(dict.fromkeys([*own_domains, *(lic.host for lic in licensees)]))
    id_pattern = None
    if "id_pattern" in entry:
        id_pattern = regex("id_pattern", text("id_pattern"))
        if id_pattern.groups != 1:
            raise fail("id_pattern", "must have exactly one capture group (the article id)")
    listed = tuple(d.lower() for d in strings("licensee_domains"))
    if not set(listed) <= set(own_domains):
        raise fail("licensee_domains", "every licensee domain must also be in 'domains'")
    licensee_domains = tuple(dict.fromkeys([*listed, *(lic.host for lic in licensees)]))
    agency = text("agency", "")
    if licensee_domains and not agency:
        raise fail("agency", "required when licensee_domains or licensees are set")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled", "must be true or false")
    live_days = _live_days(entry, fail)
    silence = entry.get("silence_days", 7)
    if not isinstance(silence, int) or silence <= 0:
        raise fail("silence_days", "must be a positive integer")
    interval = text("interval", "30m")
    try:
        parse_duration(interval)
    except ValueError as exc:
        raise fail("interval", str(exc)) from None
    language = text("language", "en")
    if not re.fullmatch(r"[a-z]{2}", language):
        raise fail("language", "must be an ISO 639-1 code such as 'en'")
    rewrites = []
    for pair in entry.get("url_rewrites", []):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            raise fail("url_rewrites", "must be a list of [regex, replacement] pairs")
        rewrites.append((regex("url_rewrites", pair[0]), pair[1]))
    return Source(
        name=name,
        publisher=text("publisher"),
        domains=domains,
        discovery=discovery + tuple(d for lic in licensees for d in lic.discovery),
        article_patterns=patterns("article_patterns", required=True)
        + tuple(p for lic in licensees for p in lic.article_patterns),
        id_pattern=id_pattern,
        enabled=enabled,
        language=language,
        agency=agency,
        licensee_domains=licensee_domains,
        licensees=licensees,
        sitemap_follow=patterns("sitemap_follow"),
        live_days=live_days,
        url_rewrites=tuple(rewrites),
        interval=interval,
        silence_days=silence,
        notes=" ".join(text("notes", "").split()),
    )


def _live_days(entry: dict[str, Any], fail: Any) -> int:
    """How many days back a live crawl reads; ``max_age_days`` is its older name."""
    if "live_days" in entry and "max_age_days" in entry:
        raise fail("max_age_days", "an older name of 'live_days': give only one of them")
    name = "max_age_days" if "max_age_days" in entry else "live_days"
    days = entry.get(name, 7)
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise fail(name, "must be a whole number of days (0: no limit)")
    return days


_DISCOVERY_KEYS = {"kind", "url", "confidence", "enabled", "note"}


def _parse_discovery(
    value: Any, domains: tuple[str, ...], fail: Any, *, required: bool = True
) -> tuple[Discovery, ...]:
    if not isinstance(value, list) or (required and not value):
        raise fail("discovery", "required, a list of {kind, url} tables")
    found = []
    for item in value:
        if not isinstance(item, dict) or not {"kind", "url"} <= set(item) <= _DISCOVERY_KEYS:
            raise fail(
                "discovery",
                "each entry needs 'kind' and 'url' (optional: confidence, enabled, note)",
            )
        kind, url = item["kind"], item["url"]
        confidence = item.get("confidence", "reported")
        if confidence not in CONFIDENCE:
            raise fail("discovery", f"confidence {confidence!r}: one of {', '.join(CONFIDENCE)}")
        enabled, note = item.get("enabled", True), item.get("note", "")
        if not isinstance(enabled, bool) or not isinstance(note, str):
            raise fail("discovery", "'enabled' must be true or false, 'note' a string")
        if kind not in DISCOVERY_KINDS:
            raise fail("discovery", f"unknown kind {kind!r} (one of {', '.join(DISCOVERY_KINDS)})")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise fail("discovery", f"{url!r} is not an http(s) URL")
        if parts.hostname not in domains:
            raise fail("discovery", f"{url!r} is outside the source's domains")
        found.append(Discovery(kind, url, confidence, enabled, " ".join(note.split())))
    return tuple(found)


_LICENSEE_KEYS = {
    "host",
    "publisher",
    "discovery",
    "article_patterns",
    "credit_hints",
    "credit_seen",
    "robots",
    "notes",
}


def _parse_licensees(value: Any, where: str) -> tuple[Licensee, ...]:
    """[[source.licensees]] tables: the sites that republish the source's agency copy."""
    if not isinstance(value, list):
        raise SourceError(f"{where}: field 'licensees': must be a list of tables")
    licensees = []
    for index, entry in enumerate(value):
        host = entry.get("host") if isinstance(entry, dict) else None
        here = f"{where}: licensee {host or '#' + str(index + 1)!r}"

        def fail(field_name: str, problem: str, here: str = here) -> SourceError:
            return SourceError(f"{here}: field {field_name!r}: {problem}")

        if not isinstance(entry, dict):
            raise SourceError(f"{here}: must be a table")
        unknown = set(entry) - _LICENSEE_KEYS
        if unknown:
            raise fail(sorted(unknown)[0], "unknown field")
        if not isinstance(host, str) or not re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}", host):
            raise fail("host", "required, a lower-case host name such as www.example.com")
        words = {k: entry.get(k, "") for k in ("publisher", "credit_seen", "robots", "notes")}
        if not all(isinstance(v, str) for v in words.values()) or not words["publisher"]:
            raise fail("publisher", "required; publisher, credit_seen, robots, notes: strings")
        regexes: dict[str, tuple[re.Pattern[str], ...]] = {}
        for key in ("article_patterns", "credit_hints"):
            raw = entry.get(key, [])
            if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
                raise fail(key, "must be a list of non-empty strings")
            if key == "article_patterns" and not raw:
                raise fail(key, "required, must not be empty")
            try:
                regexes[key] = tuple(re.compile(v) for v in raw)
            except re.error as exc:
                raise fail(key, f"invalid regex: {exc}") from None
        licensees.append(
            Licensee(
                host=host,
                publisher=words["publisher"],
                discovery=_parse_discovery(
                    entry.get("discovery", []), (host,), fail, required=False
                ),
                article_patterns=regexes["article_patterns"],
                credit_hints=regexes["credit_hints"],
                credit_seen=" ".join(words["credit_seen"].split()),
                robots=" ".join(words["robots"].split()),
                notes=" ".join(words["notes"].split()),
            )
        )
    return tuple(licensees)

"""The relevance pre-check: a page that names no relevance term anywhere is judged without
extraction (Trafilatura), since its score could only be 0.

Most pages of a licensee's Africa or world feed name no Libya term. The check reads, from each
term's regex, the literal text any match must contain, and looks for it in the raw page (tags
and attributes, meta content and JSON-LD included, entities and JSON escapes decoded). Nothing
the full judgement (pipelines/relevance.py) would keep is lost: tests/test_precheck.py proves
it on every labelled set.

The check runs in the extraction workers (``extract_unless_unrelated``), not in the crawl's
event loop: it reads the whole raw page (~16 ms of CPU on the benchmark's 230 KiB pages, more
on pages full of entities or markup). So this module imports nothing of Scrapy's.
The same literal search, on an extracted title and text, tells the relevance score which
terms it need not look for (``terms_that_may_occur``).
"""

from __future__ import annotations

import functools
import html
import re

# The regex parser's own modules: the pre-check reads the literal text a term must match.
import re._constants as _sre  # type: ignore[import-not-found]
import re._parser as _sre_parser  # type: ignore[import-not-found]
from typing import TYPE_CHECKING, Any

from pipelines.extraction import Extracted, extract_page

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector

    from crawler.items import Page
    from pipelines import Rejected

_TAG = re.compile(r"<[^>]*>")
# A JSON escape of a character beyond ASCII (ASCII letters are never escaped).
_JSON_NON_ASCII = re.compile(r"\\u(?!00[0-7])([0-9a-fA-F]{4})")
# Invisible characters a page may put inside a word ("Lib&shy;ya"): extraction may drop them.
_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff")

# What a match of a term needs to find in the text: ("lit", literal, case_sensitive), ("and",
# [...]) or ("or", [...]); None when the term could match without any literal.
Requirement = tuple[Any, ...]


def page_may_be_relevant(
    page_html: str, terms: dict[str, re.Pattern[str]], *hints: str | None
) -> bool:
    """False only when no term can occur anywhere in the page (its text, its tags' attributes
    such as meta content, its JSON-LD) nor in ``hints`` (a title from the feed): then no
    extraction of the page can name one, and its score is 0. Cheap: substring searches.

    A term is reduced to the literal text any match of it must contain ("libya" for
    ``\\bLibya\\b``; "haftar", "hafter" or "hifter"; "government of national accord"), looked
    for case-insensitively unless the term is case-sensitive. What extraction reads (title, text,
    metadata) is made of the page's characters with tags removed, entities and JSON ``\\u``
    escapes decoded and whitespace collapsed, so each literal is looked for in two views of the
    page: with its tags (attributes, JSON-LD) and without (a word split by inline markup,
    "<b>Lib</b>ya"); a phrase with all whitespace taken out of it and of the view.
    """
    found = [_requirement_of(p.pattern, p.flags) for p in terms.values()]
    requirements = [r for r in found if r is not None]
    if len(requirements) < len(found):
        return True  # a term that needs no literal (r"\\w+") may match any page
    page = _decode_entities(_without_code(page_html))
    for invisible in _INVISIBLE:
        if invisible in page:
            page = page.replace(invisible, "")
    views = [_View(page), _View(_TAG.sub("", page)), *(_View(h) for h in hints if h)]
    beyond_ascii = []  # JSON-LD read by json.loads: "\\u0644\\u064a\\u0628…" is ليب…
    if _JSON_NON_ASCII.search(page):
        beyond_ascii.append(_View(_JSON_NON_ASCII.sub(lambda m: chr(int(m[1], 16)), page)))
    return any(_satisfied(r, views, beyond_ascii) for r in requirements)


def terms_that_may_occur(
    terms: dict[str, re.Pattern[str]], *texts: str
) -> dict[str, re.Pattern[str]]:
    """The terms that may match somewhere in ``texts`` (plain text: an extracted title and
    text), by the same literal search: a term left out matches nowhere in them, so a score
    that looks only for the others is the same score (tests/test_relevance.py proves it)."""
    views = [_View(text) for text in texts if text]
    kept = {}
    for label, pattern in terms.items():
        requirement = _requirement_of(pattern.pattern, pattern.flags)
        if requirement is None or _satisfied(requirement, views, []):
            kept[label] = pattern
    return kept


class NamesNoTerm(Exception):
    """The page names no relevance term anywhere: it was judged without extraction."""


def extract_unless_unrelated(
    page_html: str,
    url: str,
    *,
    terms: dict[str, re.Pattern[str]] | None,
    hint_title: str | None = None,
    **extract: Any,
) -> Extracted | None:
    """What an extraction worker runs for a page: the pre-check when ``terms`` are given
    (raising ``NamesNoTerm`` for a page that cannot pass), then ``extract_page``."""
    if terms is not None and not page_may_be_relevant(page_html, terms, hint_title):
        raise NamesNoTerm(url)
    return extract_page(page_html, url, hint_title=hint_title, **extract)


# The characters beyond ASCII that a case-insensitive regex takes for ASCII letters:
# \bLibya\b matches a Turkish headline's "LİBYA".
_ASCII_FOLDS = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
# Bytes of a "word" in a view's word index: ASCII letters and digits, and every byte of UTF-8
# beyond ASCII (Arabic letters, accented letters); everything else separates words.
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789" + bytes(range(128, 256)))
_TO_WORDS = {
    case_sensitive: bytes(
        c if c in _WORD_BYTES or (case_sensitive and 65 <= c <= 90) else 32 for c in range(256)
    )
    for case_sensitive in (False, True)
}


class _View:
    """A view of the page. A literal made only of word bytes (most are: "libya", "ليبيا") is
    looked for in the view's distinct words, a few kilobytes however large the page, instead of
    in the whole page: it occurs in the page exactly when it occurs inside one of its words.
    Other literals (phrases, "al-jufra") are looked for in the whole view, whitespace removed.
    Bytes, not str: ``bytes.lower`` and byte search are many times faster on non-Latin pages."""

    def __init__(self, text: str):
        self.text = text
        self.raw = text.encode("utf-8", "surrogatepass")
        folded = text
        for odd, plain in _ASCII_FOLDS.items():
            if odd in folded:
                folded = folded.replace(odd, plain)
        # ASCII letters only: enough for ASCII and Arabic terms.
        self.lowered = folded.encode("utf-8", "surrogatepass").lower()
        self.found: dict[tuple[str, bool], bool] = {}
        self.indexes: dict[bool, bytes] = {}
        self.compact: dict[bool, bytes] = {}

    def has(self, literal: str, case_sensitive: bool) -> bool:
        key = (literal, case_sensitive)
        if key not in self.found:
            self.found[key] = self._search(literal, case_sensitive)
        return self.found[key]

    def _search(self, literal: str, case_sensitive: bool) -> bool:
        if not case_sensitive and not literal.isascii() and literal.upper() != literal:
            return literal in " ".join(self.text.split()).lower()  # letters bytes cannot fold
        needle = literal.encode("utf-8", "surrogatepass")
        if all(c in _WORD_BYTES or (case_sensitive and 65 <= c <= 90) for c in needle):
            return needle in self._words(case_sensitive)
        # A phrase ("government of national accord") or a literal with punctuation: looked
        # for with all whitespace taken out of both, so that neither a line break in the page
        # ("National<br>Accord", "Ras<b>\n Lanuf") nor a no-break space can hide it.
        if case_sensitive not in self.compact:  # str.split: every Unicode space, as extraction
            compact = _View("".join(self.text.split()))
            self.compact[case_sensitive] = compact.raw if case_sensitive else compact.lowered
        return needle.replace(b" ", b"") in self.compact[case_sensitive]

    def _words(self, case_sensitive: bool) -> bytes:
        if case_sensitive not in self.indexes:
            source = self.raw if case_sensitive else self.lowered
            words = set(source.translate(_TO_WORDS[case_sensitive]).split())
            self.indexes[case_sensitive] = b" ".join(words)
        return self.indexes[case_sensitive]


def _satisfied(requirement: Requirement, views: list[_View], beyond_ascii: list[_View]) -> bool:
    kind = requirement[0]
    if kind == "lit":
        _, literal, case_sensitive = requirement
        among = views + beyond_ascii if not literal.isascii() else views
        return any(v.has(literal, case_sensitive) for v in among)
    check = all if kind == "and" else any
    return check(_satisfied(part, views, beyond_ascii) for part in requirement[1])


_CODE = re.compile(r"<(script|style)\b([^>]*)>", re.IGNORECASE)
_CODE_END = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style")}


def _without_code(page: str) -> str:
    """The page without the contents of its scripts and style sheets, which nothing extracted
    comes from (Trafilatura drops them; metadata reads JSON-LD, kept here) and which make up
    most of a modern page's bytes."""
    kept: list[str] = []
    position = 0
    while opening := _CODE.search(page, position):
        name = opening[1].lower()
        if name == "script" and "ld+json" in opening[2].lower():
            kept.append(page[position : opening.end()])
            position = opening.end()
            continue
        closing = _CODE_END[name].search(page, opening.end())
        if closing is None:  # unclosed: keep the rest as it is
            break
        kept.append(page[position : opening.end()])
        position = closing.start()
    kept.append(page[position:])
    return "".join(kept)


# Entities that only ever stand for markup characters or a space: replaced without a parser.
_PLAIN_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'"}
_OTHER_ENTITY = re.compile(r"&(?!(?:amp|lt|gt|quot|#39);)[#\w]+;?")
_SPACE_ENTITY = re.compile(r"&(?:nbsp|#0*160(?!\d)|#x0*a0(?![0-9a-f]));?", re.IGNORECASE)


def _decode_entities(page: str) -> str:
    """``html.unescape`` is slow on pages full of ``&amp;`` in links: use it only when the page
    holds an entity that may stand for a letter."""
    if "&" not in page:
        return page
    page = _SPACE_ENTITY.sub(" ", page)
    if _OTHER_ENTITY.search(page):
        return html.unescape(page)
    for entity, character in _PLAIN_ENTITIES.items():
        page = page.replace(entity, character)
    return page


@functools.lru_cache(maxsize=256)
def _requirement_of(pattern: str, flags: int) -> Requirement | None:
    try:
        parsed = _sre_parser.parse(pattern, flags)
    except Exception:  # an unparsable term cannot be reasoned about: no pre-check
        return None
    return _requirement(list(parsed), bool((flags | parsed.state.flags) & re.IGNORECASE))


def _requirement(items: list[tuple[Any, Any]], ignorecase: bool) -> Requirement | None:
    """What every match of the sequence ``items`` contains: its runs of literal text, small
    variants spelled out ("Misr?[au]ta": misrata, misruta, misata or misuta), broken at
    whitespace (which extraction normalises), and what its groups and alternations require."""
    parts: list[Requirement] = []
    chunk: set[str] = {""}

    def flush() -> None:
        nonlocal chunk
        if "" not in chunk:  # an empty variant would require nothing
            variants = sorted(v.lower() if ignorecase else v for v in chunk)
            parts.append(("or", [("lit", v, not ignorecase) for v in variants]))
        chunk = {""}

    for op, value in items:
        variants = _variants(op, value)
        if variants is not None:
            if len(chunk) * len(variants) > _MAX_VARIANTS:
                flush()
            chunk = {a + b for a in chunk for b in variants}
            continue
        flush()
        part: Requirement | None = None
        if op is _sre.SUBPATTERN:
            _, add, remove, sub = value
            case = (ignorecase or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
            part = _requirement(list(sub), case)
        elif op is _sre.BRANCH:
            options = [_requirement(list(option), ignorecase) for option in value[1]]
            part = None if any(o is None for o in options) else ("or", options)
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and value[0] >= 1:
            part = _requirement(list(value[2]), ignorecase)
        # Anything else (wide classes, assertions, backreferences, optional parts) requires
        # nothing.
        if part is not None:
            parts.append(part)
    flush()
    return ("and", parts) if parts else None


_MAX_VARIANTS = 64
_SPACES = [(_sre.IN, [(_sre.CATEGORY, _sre.CATEGORY_SPACE)])]


def _variants(op: Any, value: Any) -> set[str] | None:
    """The few strings one regex item can match, or None when they are many (or whitespace)."""
    if op is _sre.LITERAL:
        return {" " if chr(value).isspace() else chr(value)}  # the views' whitespace is " "
    if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):  # zero width: \\b, lookarounds
        return {""}
    if op is _sre.IN:
        if value == [(_sre.CATEGORY, _sre.CATEGORY_SPACE)]:
            return {" "}
        if len(value) <= 6 and all(kind is _sre.LITERAL for kind, _ in value):
            return {" " if chr(c).isspace() else chr(c) for _, c in value}
        return None
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and list(value[2]) == _SPACES:  # \\s+
        return {" "} if value[0] >= 1 else {"", " "}
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and value[1] <= 1:
        inner = _sequence_variants(list(value[2]))
        return None if inner is None else inner | ({""} if value[0] == 0 else set())
    if op is _sre.SUBPATTERN and not value[1] and not value[2]:  # a group, flags unchanged
        return _sequence_variants(list(value[3]))
    if op is _sre.BRANCH:
        options = [_sequence_variants(list(option)) for option in value[1]]
        if any(o is None for o in options):
            return None
        return set().union(*options)  # type: ignore[arg-type]
    return None


def _sequence_variants(items: list[tuple[Any, Any]]) -> set[str] | None:
    variants = {""}
    for op, value in items:
        more = _variants(op, value)
        if more is None or len(variants) * len(more) > _MAX_VARIANTS:
            return None
        variants = {a + b for a in variants for b in more}
    return variants


class PreCheck:
    """Rejects, before extraction, a page whose relevance score can only be 0 (below any
    positive threshold): most pages of a licensee's Africa or world feed name no Libya term.
    The check itself runs in the extraction worker (``extract_unless_unrelated``)."""

    def __init__(self, terms: dict[str, re.Pattern[str]] | None):
        self.terms = terms  # None: no pre-check

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> PreCheck:
        """Off with the filter, and when a score of 0 passes (NEWSMON_RELEVANCE_MIN_SCORE <= 0)."""
        from pipelines.relevance import compile_terms

        on = settings.getbool("NEWSMON_RELEVANCE_FILTER", True)
        on = on and settings.getfloat("NEWSMON_RELEVANCE_MIN_SCORE", 3.0) > 0
        return cls(compile_terms(settings.get("NEWSMON_RELEVANCE_TERMS")) if on else None)

    def sent(self, stats: StatsCollector) -> None:
        """Count a page sent to be pre-checked (and extracted if it may pass)."""
        if self.terms is not None:
            stats.inc_value("newsmon/relevance/prechecked")

    def rejected(self, page: Page, stats: StatsCollector) -> Rejected:
        """The rejection of a page the worker found naming no relevance term at all."""
        from pipelines import Rejected

        stats.inc_value("newsmon/relevance/precheck_rejected")
        stats.inc_value("newsmon/rejected/irrelevant")
        return Rejected(
            "irrelevant",
            f"not about Libya (pre-checked: no Libya term anywhere in the page; not extracted): "
            f"{page.url}",
        )

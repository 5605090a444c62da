"""Who a story comes from: wire-agency credit read from evidence, on any page template.

A page counts as an agency's copy only where the page itself says so in a place meant for
credit: a byline (any markup), structured metadata (JSON-LD, meta tags, author URLs), a wire
dateline opening the text, a closing credit line, or a URL the source declares as the
agency's section. Every finding is kept as a readable evidence string (``"byline: AFP,
MANILA"``), so a reviewer can see why a story was labelled, and an empty list means no
credit at all.

Mentions are not credit: a photo credit (``AFP via Getty Images``, ``Photo: AFP``), a quote
("told AFP", "AFP reported"), an agency photographer named in the text, or a related-story
teaser with another agency's dateline. Those never reach the places read here, or are
refused by the shape rules below: a credit is a short name-like value, not a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from lxml import html

from crawler.sources import Source
from crawler.urls import host_of
from pipelines.metadata import PageMetadata

# Agency label -> how it is written in a credit (bylines, metadata, credit lines).
AGENCIES: dict[str, re.Pattern[str]] = {
    "AFP": re.compile(r"\bAFP\b|\bAgence France[- ]Presse\b", re.IGNORECASE),
    "Reuters": re.compile(r"\bReuters\b", re.IGNORECASE),
    # "AP" alone is too common a pair of capitals to match case-insensitively.
    "AP": re.compile(r"\bAssociated Press\b|(?-i:\bAP\b)", re.IGNORECASE),
}
# Slugs of agency author/writer pages: /author/reuters/, /auteur/2005-afp, /WriterArticles/Reuters/.
_URL_SLUGS: dict[str, re.Pattern[str]] = {
    "AFP": re.compile(r"(?:^|[-_\d])(?:afp|agence-france-presse)(?:$|[-_])", re.IGNORECASE),
    "Reuters": re.compile(r"(?:^|[-_\d])reuters(?:$|[-_])", re.IGNORECASE),
    "AP": re.compile(r"(?:^|[-_\d])associated-press(?:$|[-_])", re.IGNORECASE),
}
_AUTHOR_PATH = re.compile(
    r"^(?:authors?|writers?|writerarticles|auteurs?|autor(?:en)?|autores|journalists?|"
    r"byline|profiles?|staff|contributors?|people|by)$",
    re.IGNORECASE,
)
MAX_CREDIT_CHARS = 80  # a credit names a few outlets; longer text is a sentence
# Words that make a short text a photo credit or a quote rather than a byline.
_NOT_A_CREDIT = re.compile(
    r"\b(?:photos?|photograph\w*|pictures?|images?|getty|video|foto|fotos|bild|told|"
    r"reported|reports|according|says|said|quoted|cited|via|file|illustration)\b|©.*\b(?:photo|image)",
    re.IGNORECASE,
)
_BYLINE_PREFIX = re.compile(r"^\s*(?:text\s+)?(?:by|par|von|por|di|door|av|de)\s+", re.IGNORECASE)
# Class, id, itemprop, rel or data-test tokens of elements that hold a byline or source box.
_BYLINE_TOKENS = frozenset(
    {
        "byline",
        "bylines",
        "author",
        "authors",
        "writer",
        "source",
        "sources",
        "signature",
        "auteur",
        "autor",
        "credit-line",
        "creditline",
        "agency",
        "name",
    }
)
# Containers whose text is never the article's own credit.
_ELSEWHERE_TOKENS = frozenset(
    {
        "caption",
        "figcaption",
        "photo",
        "image",
        "img",
        "picture",
        "media",
        "figure",
        "gallery",
        "video",
        "related",
        "teaser",
        "recommended",
        "recommendations",
        "promo",
        "sidebar",
        "aside",
        "footer",
        "nav",
        "menu",
        "comments",
        "comment",
        "more",
        "trending",
        "popular",
        "suggested",
        "outbrain",
        "taboola",
    }
)
_ELSEWHERE_TAGS = frozenset({"figure", "figcaption", "nav", "footer", "aside"})
# "TRIPOLI (AFP) -", "KATHMANDU, April 25 (Reuters) -", "(Reuters) —": a wire dateline.
_DATELINE = re.compile(
    r"^(?:[A-Z][\w.'’/-]*(?:[ ,]+[\w.'’/-]+){0,8}\s*)?\((AFP|Reuters|AP)\)\s*[-–—]"
)
# "(Reporting by X; Editing by Y)": the Reuters sign-off.
_REUTERS_SIGNOFF = re.compile(
    r"^\(?\s*(?:Additional\s+)?(?:Reporting|Writing)\s+by\b.{2,300}?[;,]\s*(?:Editing|Writing)\s+by\b",
    re.IGNORECASE,
)
# "Based on reporting by AFP and Reuters", "With reporting by Reuters".
_REPORTING_BY = re.compile(
    r"^\(?\s*(?:based on|with|additional|compiled from|compiled with)\s+"
    r"(?:reporting|material|reports|dispatches)\s+(?:by|from)\s+(.{2,80}?)\)?\.?$",
    re.IGNORECASE,
)
# "© Reuters", "Copyright © AFP 2017-2026", "(c) Copyright Thomson Reuters 2019".
_COPYRIGHT = re.compile(
    r"^(?:©|\(c\)|copyright)\s*(?:©|\(c\)|copyright)?\s*(?:\d{4}\s*)?"
    r"((?:Thomson\s+)?Reuters|AFP|Agence France[- ]Presse|The Associated Press|Associated Press)\b",
    re.IGNORECASE,
)
# "(FRANCE 24 with AFP, REUTERS)", "Arab Weekly/AFP", "with AFP", "— Reuters", "AFP/The Local".
_OUTLET = r"[\w][\w .'’&-]{0,40}?"
_CREDIT_LINE = re.compile(
    rf"^[(\[]?\s*(?:{_OUTLET}\s*(?:\bwith\b|/|\+|&|,|\band\b)\s*|\bwith\s+|[-–—]\s*)?"
    r"((?:AFP|Reuters|AP|Agence France[- ]Presse)(?:\s*(?:,|/|&|\band\b)\s*"
    rf"(?:AFP|Reuters|AP|Agence France[- ]Presse|{_OUTLET}))*)\s*[)\]]?\.?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Credit:
    """The agencies a page credits, and the evidence for each."""

    agencies: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()

    @property
    def agency(self) -> str | None:
        """The ``agency`` column: ``"AFP"``, ``"Reuters"``, ``"AFP, Reuters"`` or None."""
        return ", ".join(self.agencies) or None

    def only(self, agency: str) -> Credit:
        """This credit as evidence for ``agency`` alone (None of it if it does not credit it)."""
        return self if agency in self.agencies else Credit()


@dataclass
class _Findings:
    evidence: dict[str, set[str]] = field(default_factory=dict)  # evidence -> agencies

    def add(self, kind: str, value: str, agencies: Iterable[str]) -> None:
        found = set(agencies)
        if found:
            text = f"{kind}: {' '.join(value.split())[:120]}"
            self.evidence.setdefault(text, set()).update(found)

    def credit(self) -> Credit:
        agencies = sorted({a for found in self.evidence.values() for a in found})
        return Credit(tuple(agencies), tuple(self.evidence))


def agencies_in_credit(value: str) -> list[str]:
    """The agencies a short credit value names (a byline, an author name, a meta value);
    nothing for a sentence, a photo credit or a quote."""
    text = " ".join(value.split())
    if not text or len(text) > MAX_CREDIT_CHARS or _NOT_A_CREDIT.search(text):
        return []
    text = _BYLINE_PREFIX.sub("", text)
    return [agency for agency, pattern in AGENCIES.items() if pattern.search(text)]


def agencies_in_url(url: str) -> list[str]:
    """Agencies named by an author-page URL (``/author/reuters/``, ``/auteur/2005-afp``)."""
    parts = [unquote(p) for p in urlsplit(url).path.split("/") if p]
    for index, part in enumerate(parts[:-1] if len(parts) > 1 else []):
        if _AUTHOR_PATH.match(part):
            slugs = parts[index + 1 : index + 3]
            return [a for a, p in _URL_SLUGS.items() if any(p.search(s) for s in slugs)]
    return []


def read_credit(tree: html.HtmlElement, meta: PageMetadata, text: str) -> Credit:
    """The credit a page gives, from its markup, metadata and extracted text."""
    return combine(markup_credit(tree, meta), text_credit(text))


def markup_credit(tree: html.HtmlElement, meta: PageMetadata) -> Credit:
    """The credit in a page's markup and metadata. Read before the text is extracted:
    Trafilatura prunes the tree it is given."""
    found = _Findings()
    _jsonld(found, meta.jsonld)
    _meta_tags(found, meta)
    _bylines(found, tree)
    return found.credit()


def text_credit(text: str) -> Credit:
    """The credit in an article's extracted text: a wire dateline, a closing credit line."""
    found = _Findings()
    _dateline(found, text)
    _closing_lines(found, text)
    return found.credit()


def url_credit(url: str, hints: Iterable[re.Pattern[str]], agency: str) -> Credit:
    """Credit from a declared URL hint (``/ultimas-noticias/reuters/`` is Reuters copy)."""
    for hint in hints:
        if match := hint.search(url):
            return Credit((agency,), (f"url: {match.group(0)}",))
    return Credit()


def attribute(page: Credit, url: str, source: Source) -> Credit:
    """The credit an article is stored with, fetched from ``url`` for ``source``.

    On the agency's own site its copy needs no other proof. On a licensee, the page must
    credit the source's agency (or match a declared URL hint): a licensee's own reporting is
    not the agency's copy, and gets no agency at all.
    """
    if not source.agency:
        return page
    host = host_of(url)
    credit = combine(page, url_credit(url, source.credit_hints(host), source.agency))
    if host in source.licensee_domains:
        return credit.only(source.agency)
    own = Credit((source.agency,), (f"site: {host} (the agency's own site)",))
    return combine(own, credit)


def combine(*credits: Credit) -> Credit:
    agencies = sorted({a for c in credits for a in c.agencies})
    evidence = dict.fromkeys(e for c in credits for e in c.evidence)
    return Credit(tuple(agencies), tuple(evidence))


# --- where credit is read -------------------------------------------------------------------


def _jsonld(found: _Findings, article: dict[str, Any]) -> None:
    for key in ("author", "creator", "sourceOrganization", "publisher"):
        for entry in _as_list(article.get(key)):
            label = f"json-ld {key}"
            if isinstance(entry, str):
                found.add(label, entry, agencies_in_credit(entry))
            elif isinstance(entry, dict):
                name = entry.get("name") or entry.get("byline")
                if isinstance(name, str):
                    found.add(label, name, agencies_in_credit(name))
                for link in ("url", "@id", "sameAs"):
                    for target in _as_list(entry.get(link)):
                        if isinstance(target, str) and key in ("author", "creator"):
                            found.add(f"json-ld {key} url", target, agencies_in_url(target))


def _meta_tags(found: _Findings, meta: PageMetadata) -> None:
    names = (
        "author",
        "article:author",
        "og:article:author",
        "dc.creator",
        "dc.source",
        "source",
        "sailthru.author",
        "parsely-author",
        "byl",
        "cxenseparse:author",
    )
    for name in names:
        for value in meta.all(name):
            if value.startswith(("http://", "https://", "/")):
                found.add(f"meta {name}", value, agencies_in_url(value))
            else:
                found.add(f"meta {name}", value, agencies_in_credit(value))


_MARK_ATTRIBUTES = frozenset({"class", "id", "itemprop", "rel", "data-test", "data-testid", "role"})
_TOKEN_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")
BYLINE_DEPTH = 3  # a byline's text may sit this many levels below the marked element
_SKIPPED_TAGS = frozenset({"script", "style", "noscript"})


@lru_cache(maxsize=4096)  # pages of one template repeat the same few hundred class strings
def _marks(marking: str) -> tuple[bool, bool]:
    """(marks a byline, marks a place credit is never read from) for the words of an
    element's marking attributes (``class="ArticleByline author-name"``)."""
    tokens = {t.lower() for t in _TOKEN_SPLIT.split(marking) if t}
    return bool(tokens & _BYLINE_TOKENS), bool(tokens & _ELSEWHERE_TOKENS)


def _bylines(found: _Findings, tree: html.HtmlElement) -> None:
    """Bylines and author links. One pass in document order, each element's context
    (inside a byline? inside a caption, teaser or navigation?) inherited from its parent."""
    body = tree.find("body")
    if body is None:
        return
    # element -> (levels below the nearest byline-marked element or None, elsewhere?)
    context: dict[Any, tuple[int | None, bool]] = {body: (None, False)}
    for element in body.iterdescendants():
        tag = element.tag
        if not isinstance(tag, str) or tag in _SKIPPED_TAGS:
            continue
        depth, elsewhere = context.get(element.getparent(), (None, False))
        marking = " ".join([v for a, v in element.items() if a in _MARK_ATTRIBUTES])
        byline, other_place = _marks(marking) if marking else (False, False)
        elsewhere = elsewhere or other_place or tag in _ELSEWHERE_TAGS
        if byline:
            depth = 0
        elif depth is not None:
            depth = depth + 1 if depth < BYLINE_DEPTH else None
        context[element] = (depth, elsewhere)
        if elsewhere:
            continue
        href = element.get("href") if tag == "a" else None
        if href and (agencies := agencies_in_url(href)):
            found.add("author link", urlsplit(href).path, agencies)
        if depth is not None:
            value = " ".join(element.text_content().split())
            found.add("byline", value, agencies_in_credit(value))


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def _dateline(found: _Findings, text: str) -> None:
    # A standfirst or a stray caption line may come before the dateline.
    for paragraph in _paragraphs(text)[:3]:
        if match := _DATELINE.match(paragraph):
            found.add("dateline", match.group(0), [match.group(1)])
            return


def _closing_lines(found: _Findings, text: str) -> None:
    for paragraph in _paragraphs(text)[-3:]:
        line = " ".join(paragraph.split())
        if len(line) > 300:
            continue
        if _REUTERS_SIGNOFF.match(line):
            found.add("sign-off", line, ["Reuters"])
        elif match := _REPORTING_BY.match(line):
            found.add("credit line", line, _named_agencies(match.group(1)))
        elif match := _COPYRIGHT.match(line):
            found.add("copyright", line, _named_agencies(match.group(1)))
        elif len(line) <= MAX_CREDIT_CHARS and (match := _CREDIT_LINE.match(line)):
            found.add("credit line", line, _named_agencies(match.group(1)))


def _named_agencies(text: str) -> list[str]:
    return [agency for agency, pattern in AGENCIES.items() if pattern.search(text)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]

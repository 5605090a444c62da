"""Is this article about Libya? A score a reviewer can read, not a black box.

Where and how Libya is named matters more than how often:

- a Libya term in the headline makes the story about Libya; in the lead (its first sentence)
  it counts double; in the rest of the text each mention counts once;
- a term that is one item of an enumeration ("arrivals from Tunisia, Libya, Turkey and
  Morocco", a row of a producers' output table) names Libya as one of many: it counts for
  1/n of a mention, n being the number of items;
- when neither the headline nor the lead names Libya, later mentions are asides in a story
  about something else (a neighbour, OPEC, US-French talks) unless Libya is named throughout
  the text: asides count a third.

With the default threshold of 3, a headline mention passes alone; a lead mention needs one more
mention; a story about something else passes only when Libya runs through it or is named
again and again.

Before any of that, ``pipelines.precheck.PreCheck`` spares the extraction of a page that names
no term at all.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crawler.items import Article
from pipelines.precheck import terms_that_may_occur

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 2.0
BODY_WEIGHT = 1.0
MAX_PER_TERM = 5  # one name repeated twenty times is still one topic
# The lead is a story's first sentence: what agency copy says first, and where a story about
# Libya names it. Counting sentences, not paragraphs, keeps a page that puts its whole text in
# one block (or breaks every line into a paragraph) from making all (or none) of it "lead".
LEAD_SENTENCES = 1
# Three or more names in an enumeration are a list ("Tunisia, Libya and Turkey"); two names
# joined by "and" are usually the story's two parties ("Chad and Libya").
LIST_MIN_ITEMS = 3
# An item of a list is a short name: "Libya", "Saudi Arabia", "United Arab Emirates",
# "Democratic Republic of the Congo" (connectors such as "of" and "the" are not counted).
MAX_ITEM_WORDS = 3
# When the headline and lead do not name Libya, Libya is still a subject if it runs through the
# text: at least this share of the sentences after the lead name it. Measured: stories about
# Libya (Reuters 1987 set, synthetic and BBC pages) name it in 40-100% of those sentences; stories
# about others that mention Libya (an OPEC survey, US-French talks, a Fiat bond) in 0-25%.
FOCUS_SHARE = 0.3
# A mention in a story about something else counts a third: a reader keeps such a story only
# when it comes back to Libya again and again (nine asides, e.g. three paragraphs of three).
ASIDE_WEIGHT = 1 / 3
# Names other countries use too (South Africa had a Government of National Unity, Ghana a
# GNA): they add to the score only when a term that is Libya's alone also appears.
CONTEXT_TERMS = frozenset({"GNA", "GNU", "LNA"})

# Term label -> pattern. Labels are what reviewers see in matched_terms.
DEFAULT_TERMS: dict[str, str] = {
    "Libya": r"\bLibya\b",
    "Libyan": r"\bLibyans?\b",
    # Tripoli is also Lebanon's second city.
    "Tripoli": r"\bTripoli\b(?!,?\s+(?:in\s+)?(?:northern\s+)?Lebanon)",
    "Benghazi": r"\bBenghazi\b",
    "Misrata": r"\bMisr?[au]ta\b",
    "Sirte": r"\bSirte\b",
    "Fezzan": r"\bFezzan\b",
    "Derna": r"\bDerna\b",
    "Tobruk": r"\bTobruk\b",
    "Sabha": r"\bSebha\b|\bSabha\b",
    "Zawiya": r"\bZawiy?a\b",
    "Ajdabiya": r"\bAjdabiya\b",
    "Ras Lanuf": r"\bRas Lanuf\b",
    "Kufra": r"\bKufra\b",
    "al-Jufra": r"\b(?:al-)?Jufra\b",
    "Haftar": r"\bHaft[ae]r\b|\bHifter\b",
    "Dbeibah": r"\bDbeib[ae]h?\b|\bDbeiba\b",
    "Qaddafi": r"\b(?:Qadd?afi|Gadd?afi|Kadd?afi|Gadhafi)\b",
    "Menfi": r"\bMenfi\b",
    "Bashagha": r"\bBashagha\b",
    "Serraj": r"\bSarr?aj\b|\bSerraj\b",
    # Acronyms match in capitals only ("GNU toolchain" is not Libya's government).
    "GNA": r"(?-i:\bGNA\b)|Government of National Accord",
    "GNU": r"(?-i:\bGNU\b)|Government of National Unity",
    "LNA": r"(?-i:\bLNA\b)|Libyan National Army",
    "UNSMIL": r"(?-i:\bUNSMIL\b)",
    "ليبيا": r"ليبيا",
    "ليبي": r"ليبي(?!ا)",
    "طرابلس": r"طرابلس",
    "بنغازي": r"بنغازي",
    "مصراتة": r"مصراتة",
    "سرت": r"(?<![\u0621-\u064A])سرت(?![\u0621-\u064A])",
    "حفتر": r"حفتر",
    "الدبيبة": r"الدبيبة",
    "القذافي": r"القذافي",
    "Libye": r"\bLibye\b|\blibyens?\b|\blibyennes?\b",
    "Libyen": r"\bLibyen\b|\blibysche[nrms]?\b",
}


@dataclass(frozen=True)
class Relevance:
    score: float
    matched: dict[str, int]  # term label -> mentions
    reason: str
    # Libya named, not as one item of a list, in the headline or the lead.
    subject: bool = False
    # Share of the sentences after the lead that name Libya (not in a list).
    focus: float = 0.0

    def is_relevant(self, threshold: float) -> bool:
        return self.score >= threshold


def compile_terms(terms: Any = None) -> dict[str, re.Pattern[str]]:
    """NEWSMON_RELEVANCE_TERMS (None, a list of regexes, or {label: regex}) compiled."""
    if terms is None:
        terms = DEFAULT_TERMS
    elif isinstance(terms, str):
        terms = [t.strip() for t in terms.split(",") if t.strip()]
    if isinstance(terms, list):
        terms = {t: t for t in terms}
    if not isinstance(terms, dict) or not terms:
        raise ValueError("NEWSMON_RELEVANCE_TERMS must be a list of regexes or {label: regex}")
    try:
        return {str(k): re.compile(str(v), re.IGNORECASE) for k, v in terms.items()}
    except re.error as exc:
        raise ValueError(f"NEWSMON_RELEVANCE_TERMS has an invalid regex: {exc}") from None


@dataclass(frozen=True)
class _Mention:
    label: str
    place: str  # headline, lead or text
    sentence: int  # index of its sentence within the place
    items: int  # 1, or the number of items of the list it is one of


def score(title: str, text: str, terms: dict[str, re.Pattern[str]]) -> Relevance:
    """How strongly ``title`` and ``text`` are about the terms' subject. Never raises.

    Only the terms that may occur in them are looked for, sentence by sentence: the literal
    text each term needs (``pipelines.precheck``) is looked for first, which is several times
    cheaper than running some thirty regexes over every sentence; an article that names no
    term skips the sentence analysis altogether. The result is the same as ``score_all``'s.
    """
    present = terms_that_may_occur(terms, title, text)
    if not present:
        return Relevance(0.0, {}, _reason([], False, False, 0, 0))
    return score_all(title, text, present)


def score_all(title: str, text: str, terms: dict[str, re.Pattern[str]]) -> Relevance:
    """``score``, looking for every term in every sentence."""
    lead, body = _lead_and_body(text or "")
    parts = {"headline": [title] if title else [], "lead": lead, "text": body}
    rows = len(_TABLE_ROW.findall(text or ""))
    mentions = [
        mention
        for place, sentences in parts.items()
        for index, sentence in enumerate(sentences)
        for mention in _mentions(sentence, place, index, terms, rows)
    ]
    matched: dict[str, int] = {}
    for mention in mentions:
        matched[mention.label] = matched.get(mention.label, 0) + 1
    subject = any(m.items == 1 and m.place != "text" for m in mentions)
    naming = {m.sentence for m in mentions if m.place == "text" and m.items == 1}
    focus = len(naming) / len(body) if body else 0.0
    asides = not subject and focus < FOCUS_SHARE
    total = 0.0
    counted: dict[str, int] = {}
    for mention in mentions:
        counted[mention.label] = counted.get(mention.label, 0) + 1
        if counted[mention.label] <= MAX_PER_TERM:
            weight = _WEIGHTS[mention.place] / mention.items
            total += weight * (ASIDE_WEIGHT if asides and mention.place == "text" else 1.0)
    if matched and set(matched) <= CONTEXT_TERMS:
        return Relevance(0.0, matched, "only names other countries share: " + ", ".join(matched))
    reason = _reason(mentions, subject, asides, len(naming), len(body))
    return Relevance(round(total, 1), matched, reason, subject=subject, focus=round(focus, 2))


_WEIGHTS = {"headline": TITLE_WEIGHT, "lead": LEAD_WEIGHT, "text": BODY_WEIGHT}


def _reason(mentions: list[_Mention], subject: bool, asides: bool, naming: int, of: int) -> str:
    """Where the terms were found ("mentions: headline, 2 in lead, 9 in text") and why some
    counted less (one item of a list, asides)."""
    if not mentions:
        return "no Libya terms"
    places = []
    for place in ("headline", "lead", "text"):
        hits = sum(1 for m in mentions if m.place == place)
        if hits:
            places.append("headline" if place == "headline" else f"{hits} in {place}")
    reason = "mentions: " + ", ".join(places)
    listed = [m.items for m in mentions if m.items > 1]
    if listed:
        reason += f"; {len(listed)} as one item of a list (of {max(listed)})"
    if not subject and any(m.place == "text" for m in mentions):
        share = f"named in {naming} of {of} sentences after the lead"
        reason += f"; not in headline or lead, {share}" + (", asides" if asides else "")
    return reason


# A sentence ends at . ! ? (Arabic ؟; not an ellipsis) and closing quotes, before a letter that
# is not lower case.
_SENTENCE_END = re.compile(r"(?<!\.\.)(?<=[.!?؟])[\"'”’»)\]]*\s+(?=[\"'“‘«(\[]?[^\W\d_])")
# "U.S. officials", "Mr. Dbeibah", "Gen. Haftar", "Jan. 5": no sentence ends there.
_ABBREVIATION = re.compile(r"(?:\b[A-Z]\.|\b[A-Z][a-z]{1,2}\.)[\"'”’»)\]]*\s+$")


def _sentences(paragraph: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for end in _SENTENCE_END.finditer(paragraph):
        following = paragraph[end.end()]
        if following.islower() or _ABBREVIATION.search(paragraph, start, end.end()):
            continue
        sentences.append(paragraph[start : end.start()])
        start = end.end()
    sentences.append(paragraph[start:])
    return [s.strip() for s in sentences if s.strip()]


def _lead_and_body(text: str) -> tuple[list[str], list[str]]:
    """The lead's sentences and the other sentences. A first paragraph that stops mid-sentence
    (a page breaking its text at every line) runs on into the next ones."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    first = 0
    opening = paragraphs[0] if paragraphs else ""
    while (
        first + 1 < len(paragraphs)
        and not re.search(r"[.!?؟:][\"'”’»)\]]*\s*$", opening)
        and len(opening) < 400
    ):
        first += 1
        opening += " " + paragraphs[first]
    sentences = _sentences(opening)
    rest = [s for p in paragraphs[first + 1 :] for s in _sentences(p)]
    return sentences[:LEAD_SENTENCES], sentences[LEAD_SENTENCES:] + rest


def _mentions(
    sentence: str, place: str, index: int, terms: dict[str, re.Pattern[str]], rows: int
) -> list[_Mention]:
    found = [(label, m.span()) for label, p in terms.items() for m in p.finditer(sentence)]
    spans = [span for _, span in found]
    return [
        _Mention(label, place, index, _list_items(sentence, span, spans, rows))
        for label, span in found
    ]


# Separators of an enumeration: commas, semicolons, slashes, "and"/"or" (and their French,
# German, Spanish and Italian forms).
_SEPARATOR = re.compile(
    r"\s*(?:,\s*(?:(?:and|or|et|und|y|e|o|ou|oder)\s+)?|;|/|\s(?:and|or|&|et|und|y|e|o|ou|oder)\s)\s*",
    re.IGNORECASE,
)
_CONNECTORS = frozenset(
    {"of", "the", "de", "du", "des", "la", "le", "el", "al", "bin", "von", "der"}
)
_PUNCTUATION = "\"'“”‘’«»()[]:."
# A term followed by two numbers is a table cell: "LIBYA 0.95 0.95 0.948".
_TABLE_CELL = re.compile(r"(?:\s+[^\W\d_][\w'.-]*){0,2}\s+[-+]?\d[\d.,]*\s+[-+]?\d[\d.,]*")
_TABLE_ROW = re.compile(
    r"(?<![\w.,])[^\W\d_][\w'.-]*(?:\s+[^\W\d_][\w'.-]*){0,2}\s+[-+]?\d[\d.,]*\s+[-+]?\d[\d.,]*"
)


def _list_items(
    sentence: str, span: tuple[int, int], spans: list[tuple[int, int]], rows: int
) -> int:
    """How many items the enumeration naming ``span`` has: 1 when the name is not in a list,
    or when most of the list's items are Libya terms themselves ("Tripoli, Misrata and
    Benghazi" is about Libya)."""
    if _TABLE_CELL.match(sentence, span[1]):
        return max(rows, LIST_MIN_ITEMS)
    bounds = [0]
    for separator in _SEPARATOR.finditer(sentence):
        bounds += [separator.start(), separator.end()]
    bounds.append(len(sentence))
    segments = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
    own = next((i for i, (a, b) in enumerate(segments) if a <= span[0] < b), None)
    if own is None:
        return 1
    words = len(_words(sentence))
    shouting = words >= 4 and sum(w[0].isupper() for w in _words(sentence)) >= 0.7 * words
    most = 2 if shouting else MAX_ITEM_WORDS  # in Title Case, capitals say little
    a, b = segments[own]
    before = _words(sentence[a : span[0]])
    after = _words(sentence[span[1] : b])
    left_open = _name_run(before, from_end=True) == len(before)
    right_open = _name_run(after, from_end=False) == len(after)
    if _capitals([*before, "X", *after]) > most + 1:
        return 1
    items = [(span[0], span[1])]
    for step, open_ in ((-1, left_open), (1, right_open)):
        j = own + step
        while open_ and 0 <= j < len(segments):
            a, b = segments[j]
            tokens = _words(sentence[a:b])
            run = _name_run(tokens, from_end=step < 0)
            kept = tokens[-run:] if step < 0 and run else tokens[:run]
            if not run or _capitals(kept) > most:
                break
            items.append((a, b))
            open_ = run == len(tokens)
            j += step
    if len(items) < LIST_MIN_ITEMS:
        return 1
    libyan = sum(1 for a, b in items if any(a <= s < b for s, _ in spans))
    return 1 if libyan * 2 >= len(items) else len(items)


def _words(text: str) -> list[str]:
    return [w.strip(_PUNCTUATION) for w in text.split() if w.strip(_PUNCTUATION)]


def _is_name_word(word: str) -> bool:
    return (
        word[0].isupper()
        or word.lower() in _CONNECTORS
        or re.match(r"(?:[a-z][’']|(?:al|el|ad|as|ash|at|az|ar)-)[^\W\d_]", word) is not None
    )


def _name_run(words: list[str], *, from_end: bool) -> int:
    """How many words at the end (or start) of ``words`` form a name."""
    run = 0
    for word in reversed(words) if from_end else words:
        if not _is_name_word(word):
            break
        run += 1
    return run


def _capitals(words: list[str]) -> int:
    return sum(1 for w in words if w[0].isupper())


class RelevancePipeline:
    def __init__(self, crawler: Crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.enabled = settings.getbool("NEWSMON_RELEVANCE_FILTER", True)
        self.threshold = settings.getfloat("NEWSMON_RELEVANCE_MIN_SCORE", 3.0)
        self.terms = compile_terms(settings.get("NEWSMON_RELEVANCE_TERMS"))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RelevancePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        result = score(item.title, item.text, self.terms)
        item.relevance = result.score
        item.matched_terms = result.matched
        item.relevance_reason = result.reason
        if self.enabled and not result.is_relevant(self.threshold):
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("newsmon/rejected/irrelevant")
            from pipelines import Rejected  # Scrapy's DropItem: loaded by crawls only

            raise Rejected(
                "irrelevant", f"not about Libya (score {result.score}, {result.reason}): {item.url}"
            )
        return item

"""Is this article about Libya? A score a reviewer can read, not a black box.

Where a term appears matters more than how often: a Libya term in the headline makes the
story about Libya; in the lead it counts double; in the body each mention counts once. With
the default threshold of 3, one passing mention ("arrivals from Tunisia, Libya and Turkey")
is not enough, while a headline mention or three mentions in the text are.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from scrapy.crawler import Crawler

from crawler.items import Article
from pipelines import Rejected

logger = logging.getLogger(__name__)

TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 2.0
BODY_WEIGHT = 1.0
MAX_PER_TERM = 5  # one name repeated twenty times is still one topic
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


def score(title: str, text: str, terms: dict[str, re.Pattern[str]]) -> Relevance:
    """How strongly ``title`` and ``text`` are about the terms' subject. Never raises."""
    lead, _, body = (text or "").partition("\n\n")
    matched: dict[str, int] = {}
    places: list[str] = []
    total = 0.0
    for part, weight, name in (
        (title, TITLE_WEIGHT, "headline"),
        (lead, LEAD_WEIGHT, "lead"),
        (body, BODY_WEIGHT, "text"),
    ):
        hits = 0
        for label, pattern in terms.items():
            count = len(pattern.findall(part or ""))
            if count:
                counted = min(count, MAX_PER_TERM - min(matched.get(label, 0), MAX_PER_TERM))
                matched[label] = matched.get(label, 0) + count
                total += counted * weight
                hits += count
        if hits:
            places.append(f"{hits} in {name}" if name != "headline" else "headline")
    if matched and set(matched) <= CONTEXT_TERMS:
        return Relevance(0.0, matched, "only names other countries share: " + ", ".join(matched))
    reason = ("mentions: " + ", ".join(places)) if places else "no Libya terms"
    return Relevance(score=round(total, 1), matched=matched, reason=reason)


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
            raise Rejected(
                "irrelevant", f"not about Libya (score {result.score}, {result.reason}): {item.url}"
            )
        return item

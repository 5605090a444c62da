"""Wire credit by evidence: every real page is a labelled case, and the traps are refused.

The labels come from the pages' provenance (tests/fixtures/PROVENANCE.md and the shared
wire_credit/PROVENANCE.md): which agency's copy each page is, judged by a human. The agency
is computed as `newsmon extract` computes it (the page's URL decides the source's rules).
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from lxml import html

from crawler.sources import load_sites, load_sources
from pipelines.credit import Credit, agencies_in_credit, agencies_in_url, attribute, read_credit
from pipelines.explain import explain_page, source_for
from pipelines.extraction import Extracted, extract_page
from pipelines.metadata import read_metadata
from pipelines.relevance import compile_terms
from tests.siteserver import FIXTURES

# file under tests/fixtures -> (the page's public URL, the agency label a human gives it)
LABELLED = {
    "real/afp/pages/afp-faktencheck_2026-05-13_hantavirus.html": (
        "https://faktencheck.afp.com/doc.afp.com.B2LA2G3",
        "AFP",
    ),
    "real/afp/pages/berliner-zeitung_2023-04-28_afp_samenspender.html": (
        "https://www.berliner-zeitung.de/news/550-kinder-gezeugt-gericht-stoppt-uebereifrigen-samenspender-in-den-niederlanden-li.343191",
        "AFP",
    ),
    "real/afp/pages/lefigaro_2024-11-22_afp_ukraine.html": (
        "https://www.lefigaro.fr/international/guerre-en-ukraine-deux-morts-dans-des-frappes-russes-dans-le-nord-est-du-pays-20241122",
        "AFP",
    ),
    "real/afp/pages/france24_2015-05-12_newswires_bangladesh-blogger.html": (
        "https://www.france24.com/en/20150512-bangladesh-third-blogger-hacked-death",
        "AFP, Reuters",
    ),
    "real/reuters/pages/reuters_2014-12-29_uk-ebola-britain.html": (
        "http://uk.reuters.com/article/2014/12/29/uk-health-ebola-britain-idUKKBN0K71C820141229",
        "Reuters",
    ),
    "real/reuters/pages/reuters_2014-12-30_in-sensex-nifty.html": (
        "http://in.reuters.com/article/2014/12/30/india-sensex-nifty-idINKBN0K80A020141230",
        "Reuters",
    ),
    "real/reuters/pages/reuters_2014-12-30_uk-indonesia-airasia.html": (
        "http://uk.reuters.com/article/2014/12/30/uk-indonesia-airplane-idUKKBN0K601G20141230",
        "Reuters",
    ),
    "real/reuters/pages/reuters_2016-12-14_fed-lifts-rates.html": (
        "https://www.reuters.com/article/us-usa-fed-idUSKBN1430G4",
        "Reuters",
    ),
    "real/reuters/pages/reuters_2020-01-19_parasite-sag-awards.html": (
        "https://www.reuters.com/article/us-awards-sag/parasite-scores-upset-at-sag-awards-boosting-oscar-chances-idUSKBN1ZI0EH",
        "Reuters",
    ),
    "real/reuters/pages/reuters_2023-04-25_nepal-flydubai-bird-strike.html": (
        "https://www.reuters.com/business/aerospace-defense/nepal-says-no-proof-flydubai-plane-suffered-bird-strike-2023-04-25/",
        "Reuters",
    ),
    "real/reuters/pages/reuters_2024-03-04_pakistan-imran-khan-reserved-seats.html": (
        "https://www.reuters.com/world/asia-pacific/pakistans-imran-khan-backed-party-not-eligible-reserved-parliament-seats-poll-2024-03-04/",
        "Reuters",
    ),
    "real/rferl_pangea_sibling/pages/voanews_2024-04-28_child-care-crisis.html": (
        "https://www.voanews.com/a/america-s-child-care-crisis-is-holding-back-moms-without-college-degrees-/7585813.html",
        "AP",
    ),
    "real/wire_credit/venturebeat.com_2019-11-18_wework-nyag-investigation.html": (
        "https://venturebeat.com/2019/11/18/new-york-state-attorney-general-investigating-wework-and-former-ceo/",
        "Reuters",
    ),
    "real/wire_credit/sciencealert.com_2019-11-19_titan-geological-map.html": (
        "https://www.sciencealert.com/we-finally-have-a-global-geological-map-of-saturn-s-moon-titan",
        "Reuters",
    ),
    "real/wire_credit/english.ahram.org.eg_2020-05-11_anti-lockdown-protests-germany.html": (
        "https://english.ahram.org.eg/NewsContent/2/9/369076/World/International/Antilockdown-protests-threaten-Germanys-coronaviru.aspx",
        "Reuters",
    ),
    "real/wire_credit/reuters.com_2020-01-13_skoda-2019-deliveries.html": (
        "https://www.reuters.com/article/us-volkswagen-skoda-idUSKBN1ZC1DA",
        "Reuters",
    ),
    "real/wire_credit/reuters.com_2016-12-14_fed-lifts-rates.html": (
        "https://www.reuters.com/article/us-usa-fed-idUSKBN1430G4",
        "Reuters",
    ),
    "real/wire_credit/news.bbc.co.uk_2004-09-06_libya-outlines-oil-contract-plans.html": (
        "http://news.bbc.co.uk/2/hi/business/3630986.stm",
        None,
    ),
    "real/wire_credit/voanews.com_2020-05-11_new-zealand-further-eases-coronavirus-restrictions.html": (
        "https://www.voanews.com/east-asia-pacific/new-zealand-further-eases-coronavirus-restrictions",
        None,
    ),
    "real/wire_credit/slobodnaevropa.org_2020-06-22_jutarnji-program-za-srbiju.html": (
        "https://www.slobodnaevropa.org/a/30657941.html",
        None,
    ),
}
WIRES = ("AFP", "Reuters")
EVIDENCE_KINDS = (
    "site: ",
    "json-ld ",
    "meta ",
    "byline: ",
    "author link: ",
    "dateline: ",
    "sign-off: ",
    "credit line: ",
    "copyright: ",
    "url: ",
)
SOURCES = load_sources()


def agency_of(file: str, url: str) -> tuple[str | None, list[str]]:
    """The agency and evidence newsmon gives a saved page, as `newsmon extract` does."""
    page = (FIXTURES / file).read_text(encoding="utf-8", errors="replace")
    result = explain_page(
        page,
        url,
        source_for(url, SOURCES),
        quirks=load_sites(),
        terms=compile_terms(),
        threshold=3.0,
        min_chars=200,
    )
    return result.credit.agency, list(result.credit.evidence)


def test_every_real_page_in_the_shared_set_is_labelled():
    real = {p.relative_to(FIXTURES).as_posix() for p in (FIXTURES / "real").rglob("*.html")}
    assert real == set(LABELLED)


@pytest.mark.parametrize("file", sorted(LABELLED), ids=lambda f: f.rsplit("/", 1)[-1][:50])
def test_real_page_gets_its_labelled_agency_with_evidence(file):
    url, expected = LABELLED[file]
    agency, evidence = agency_of(file, url)
    assert agency == expected, evidence
    if expected:
        assert evidence and all(e.startswith(EVIDENCE_KINDS) for e in evidence), evidence
    else:
        assert evidence == []


def wire_labels(agency: str | None) -> set[str]:
    return {a for a in (agency or "").split(", ") if a in WIRES}


def test_agency_label_precision_and_recall_over_the_real_pages(capsys):
    true_pos = false_pos = false_neg = 0
    for file, (url, expected) in LABELLED.items():
        got, want = wire_labels(agency_of(file, url)[0]), wire_labels(expected)
        true_pos += len(got & want)
        false_pos += len(got - want)
        false_neg += len(want - got)
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    with capsys.disabled():
        print(
            f"\ncredit: precision {precision:.2f}, recall {recall:.2f} over {len(LABELLED)} pages"
        )
    assert precision >= 0.95 and recall >= 0.95


# --- templates never seen: credit in any markup ---------------------------------------------


def credit_of(body: str, head: str = "", text: str = "") -> Credit:
    tree = html.fromstring(f"<html><head>{head}</head><body>{body}</body></html>")
    return read_credit(tree, read_metadata(tree), text)


@pytest.mark.parametrize(
    ("body", "head", "expected"),
    [
        ('<div class="name">AFP, MANILA</div>', "", "byline: AFP, MANILA"),
        ('<span itemprop="author">Agence France-Presse</span>', "", "byline: Agence"),
        ('<a rel="author" href="/people/x">Reuters</a>', "", "byline: Reuters"),
        ('<p data-test="byline">By Reuters Staff</p>', "", "byline: By Reuters Staff"),
        ('<div id="ContentPlaceHolder1_source">Reuters , Monday</div>', "", "byline: Reuters"),
        ('<p class="art-byline">Arab Weekly/AFP</p>', "", "byline: Arab Weekly/AFP"),
        ('<a href="/writers/reuters/12">More</a>', "", "author link: /writers/reuters/12"),
        ("", '<meta property="article:author" content="https://x.fr/auteur/2005-afp">', "meta"),
        ("", '<meta name="author" content="AFP/The Local">', "meta author: AFP/The Local"),
        (
            "",
            '<script type="application/ld+json">{"@type": "NewsArticle", "creator": "AFP"}</script>',
            "json-ld creator: AFP",
        ),
        (
            "",
            '<script type="application/ld+json">{"@type": "NewsArticle", "sourceOrganization":'
            ' {"@type": "Organization", "name": "Thomson Reuters"}}</script>',
            "json-ld sourceOrganization: Thomson Reuters",
        ),
    ],
)
def test_credit_is_found_in_bylines_and_metadata_of_unseen_templates(body, head, expected):
    credit = credit_of(body, head)
    assert credit.agencies and any(e.startswith(expected) for e in credit.evidence), credit


@pytest.mark.parametrize(
    ("text", "agency"),
    [
        ("TRIPOLI (AFP) - Clashes broke out.\n\nMore text here.", "AFP"),
        ("A standfirst.\n\nTRIPOLI, May 29 (Reuters) - Clashes broke out.", "Reuters"),
        ("(Reuters) — The company said.\n\nMore.", "Reuters"),
        ("Text.\n\n(Reporting by Ahmed Elumami; Editing by Tom Brown)", "Reuters"),
        ("Text.\n\n© Reuters", "Reuters"),
        ("Text.\n\nArab Weekly/AFP", "AFP"),
        ("Text.\n\nwith AFP", "AFP"),
        ("Text.\n\n(FRANCE 24 with AFP, REUTERS)", "AFP"),
        ("Text.\n\nBased on reporting by Reuters", "Reuters"),
    ],
)
def test_datelines_and_closing_credit_lines_are_evidence(text, agency):
    assert agency in credit_of("<p>x</p>", text=text).agencies


# --- traps: mentions of an agency that are not credit ---------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '<figure><img src="a.jpg"><figcaption>Smoke rises. AFP via Getty Images</figcaption></figure>',
        '<span class="photo-credit">Photo: AFP</span>',
        '<div class="author">Photo: AFP</div>',
        '<div class="image-source">REUTERS/Ayman al-Sahili</div>',
        '<aside class="related"><div class="byline">Reuters</div><p>TRIPOLI (Reuters) - x</p></aside>',
        '<div class="byline">AFP photographer Mahmud Turkia</div>',
        '<nav><a href="/author/reuters/">Reuters</a></nav>',
    ],
)
def test_photo_credits_teasers_and_navigation_are_not_credit(body):
    assert credit_of(body).agencies == ()


@pytest.mark.parametrize(
    "text",
    [
        "Libya's oil output fell, officials told AFP on Sunday.\n\nMore text follows here.",
        "Clashes broke out in Tripoli, AFP reported.\n\nMore.",
        "An AFP photographer saw the damage in Derna.\n\nMore.",
        "Text.\n\nMore text.\n\nRelated: TRIPOLI (Reuters) - Another story.",
        "Text.\n\nThe minister said, according to Reuters.",
    ],
)
def test_quotes_and_mentions_in_the_text_are_not_credit(text):
    assert credit_of("<p>x</p>", text=text).agencies == ()


def test_short_credit_values_refuse_photo_credits_and_quotes():
    assert agencies_in_credit("By AFP") == ["AFP"]
    assert agencies_in_credit("AFP via Getty Images") == []
    assert agencies_in_credit("Photo: REUTERS") == []
    assert agencies_in_credit("told AFP") == []
    assert agencies_in_url("https://venturebeat.com/author/reuters/") == ["Reuters"]
    assert agencies_in_url("https://x.com/world/reuters-poll-shows-x") == []


def test_a_licensees_own_reporting_gets_no_agency_and_a_url_hint_is_evidence():
    afp, reuters = SOURCES["afp"], SOURCES["reuters"]
    own = Credit(("Reuters",), ("byline: Reuters",))
    assert attribute(own, "https://www.france24.com/en/africa/20230916-x", afp) == Credit()
    ahram = "https://english.ahram.org.eg/NewsContent/2/8/1/World/Region/x.aspx"
    assert attribute(own, ahram, reuters).agency == "Reuters"
    home = attribute(Credit(), "https://www.reuters.com/world/x-2024-01-01/", reuters)
    assert home.agency == "Reuters" and home.evidence[0].startswith("site: www.reuters.com")
    hinted = reuters.licensees[0].__class__(
        host="noticias.uol.com.br",
        publisher="UOL",
        discovery=(),
        article_patterns=(re.compile("."),),
        credit_hints=(re.compile(r"/ultimas-noticias/reuters/"),),
    )
    source = reuters.__class__(
        **{**reuters.__dict__, "licensees": (hinted,), "licensee_domains": (hinted.host,)}
    )
    uol = "https://noticias.uol.com.br/ultimas-noticias/reuters/2024/01/01/x.htm"
    assert attribute(Credit(), uol, source).evidence == ("url: /ultimas-noticias/reuters/",)


AHRAM = "real/wire_credit/english.ahram.org.eg_2020-05-11_anti-lockdown-protests-germany.html"


def ahram_extracted() -> Extracted:
    """The real Ahram Online capture, extracted with the site's declared quirks."""
    url = LABELLED[AHRAM][0]
    result = explain_page(
        (FIXTURES / AHRAM).read_text(encoding="utf-8"),
        url,
        source_for(url, SOURCES),
        quirks=load_sites(),
        terms=compile_terms(),
        threshold=3.0,
        min_chars=200,
    )
    assert result.extracted is not None
    return result.extracted


def test_a_site_that_writes_its_date_only_in_the_source_box_gets_it_by_declaration():
    assert ahram_extracted().published == "2020-05-11T00:00:00Z"


def test_a_section_path_a_site_appends_to_its_titles_is_cut_by_declaration():
    # og:title: "Anti-lockdown protests threaten Germany's coronavirus battle: Politicians -
    # International - World"
    title = ahram_extracted().title
    assert title == "Anti-lockdown protests threaten Germany's coronavirus battle: Politicians"


def page_titled(og_title: str, headline: str | None = None) -> str:
    ld = f'<script type="application/ld+json">{{"headline": "{headline}"}}</script>'
    head = f'<meta property="og:title" content="{og_title}">' + (ld if headline else "")
    return f"<html><head>{head}</head><body><p>{'Tripoli was quiet. ' * 20}</p></body></html>"


AHRAM_QUIRKS = replace(load_sites()["english.ahram.org.eg"], text_selectors=("p",))


@pytest.mark.parametrize(
    ("og_title", "headline"),
    [
        ("Why Libya matters - Op-Ed - Opinion", "Why Libya matters"),
        ("Cairo's new museum - Museums & Heritage - Life & Style", "Cairo's new museum"),
        ("U.S. - Egypt talks - Region - World", "U.S. - Egypt talks"),  # its own " - " stays
        ("Clashes in Tripoli - Region - World - Ahram Online", "Clashes in Tripoli"),  # <title>
    ],
)
def test_ahram_section_path_is_cut_whatever_the_section(og_title, headline):
    url = "https://english.ahram.org.eg/NewsContent/2/8/1/World/Region/x.aspx"
    extracted = extract_page(page_titled(og_title), url, quirks=AHRAM_QUIRKS)
    assert extracted is not None and extracted.title == headline


def test_a_json_ld_headline_is_never_cut_by_a_title_rule():
    url = "https://english.ahram.org.eg/NewsContent/2/8/1/World/Region/x.aspx"
    page = page_titled("Libya - Tunisia - Algeria - Region - World", "Libya - Tunisia - Algeria")
    extracted = extract_page(page, url, quirks=AHRAM_QUIRKS)
    assert extracted is not None and extracted.title == "Libya - Tunisia - Algeria"

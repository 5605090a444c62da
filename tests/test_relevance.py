"""pipelines/relevance.py: is an article about Libya?"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.relevance import compile_terms, score, score_all
from tests.wire_stories import load_stories, wire_paragraphs

SEED = (
    Path(__file__).parent
    / "fixtures/seed/rferl_2020-12-16_un-security-council-libya-russia-foreign-fighters.txt"
)
THRESHOLD = 3.0
TERMS = compile_terms()


def test_seed_story_is_relevant_and_names_libya():
    title, _, text = SEED.read_text(encoding="utf-8").partition("\n\n")
    result = score(title.strip(), text, TERMS)
    assert result.is_relevant(THRESHOLD)
    assert result.score >= 3
    assert result.matched["Libya"] >= 5
    assert {"Tripoli", "Haftar", "GNA", "Libyan"} <= set(result.matched)
    assert "headline" in result.reason


def test_seed_story_is_relevant_even_without_its_headline():
    _, _, text = SEED.read_text(encoding="utf-8").partition("\n\n")
    assert score("", text, TERMS).is_relevant(THRESHOLD)


def test_one_passing_mention_in_a_country_list_is_not_enough():
    text = (
        "EU leaders met in Brussels to discuss migration.\n\n"
        "Arrivals from Tunisia, Libya and Turkey rose sharply this year, officials said.\n\n"
        "The summit ended without agreement on quotas."
    )
    result = score("EU Migration Summit Ends Without Deal", text, TERMS)
    assert result.score < 3
    assert not result.is_relevant(THRESHOLD)
    assert result.matched == {"Libya": 1}


def test_a_mention_in_the_lead_counts_double_but_is_still_not_enough():
    result = score("Summit", "Ministers from Libya met on Monday.\n\nMore.", TERMS)
    assert result.score == 2.0
    assert result.subject
    assert not result.is_relevant(THRESHOLD)


def test_one_item_of_a_list_in_the_lead_counts_for_its_share_of_the_list():
    result = score("Summit", "Arrivals from Tunisia, Libya and Turkey rose.\n\nMore.", TERMS)
    assert result.score == round(2.0 / 3, 1)
    assert not result.subject
    assert "1 as one item of a list (of 3)" in result.reason


def test_a_headline_mention_alone_passes_the_threshold():
    result = score("Clashes Erupt In Libya", "Nothing else here.\n\nOr here.", TERMS)
    assert result.score >= 3
    assert result.is_relevant(THRESHOLD)
    assert result.reason == "mentions: headline"


def test_three_body_mentions_pass_the_threshold():
    text = "Lead.\n\nLibya one. Benghazi two. Haftar three."
    assert score("Untitled", text, TERMS).score == 3.0


def test_one_term_repeated_many_times_is_capped():
    result = score("", "Lead.\n\n" + "Libya. " * 20, TERMS)
    assert result.matched["Libya"] == 20
    assert result.score == 5.0


@pytest.mark.parametrize(
    "text",
    [
        "Fighting broke out in Tripoli, Lebanon, on Sunday.",
        "Fighting broke out in Tripoli Lebanon on Sunday.",
        "Fighting broke out in Tripoli in northern Lebanon on Sunday.",
    ],
)
def test_tripoli_in_lebanon_is_not_libya(text):
    result = score("", text, TERMS)
    assert "Tripoli" not in result.matched
    assert result.score == 0


def test_tripoli_in_libya_matches():
    result = score("", "Fighting broke out in Tripoli on Sunday.", TERMS)
    assert result.matched == {"Tripoli": 1}


def test_arabic_text_matches_arabic_terms():
    result = score("", "اشتباكات في طرابلس ... ليبيا", TERMS)
    assert result.matched == {"طرابلس": 1, "ليبيا": 1}
    assert result.score == 4.0
    assert result.is_relevant(THRESHOLD)


def test_arabic_libyan_adjective_is_not_counted_as_libya_twice():
    result = score("", "الجيش الليبي", TERMS)
    assert result.matched == {"ليبي": 1}


def test_text_without_terms_scores_zero():
    result = score("Ukraine Talks", "Nothing about North Africa.\n\nAt all.", TERMS)
    assert result.score == 0
    assert result.matched == {}
    assert result.reason == "no Libya terms"


def test_custom_terms_as_a_list_of_regexes():
    terms = compile_terms([r"\bSudan\b", r"Khartoum"])
    assert set(terms) == {r"\bSudan\b", "Khartoum"}
    result = score("Sudan Crisis", "Fighting in Khartoum.", terms)
    assert result.matched == {r"\bSudan\b": 1, "Khartoum": 1}
    assert score("Libya", "Libya", terms).score == 0


def test_custom_terms_as_a_label_to_regex_dict():
    terms = compile_terms({"Sudan": r"\bSudan(?:ese)?\b"})
    result = score("", "Sudanese refugees", terms)
    assert result.matched == {"Sudan": 1}


def test_custom_terms_as_comma_separated_string():
    terms = compile_terms("Sudan, Chad")
    assert set(terms) == {"Sudan", "Chad"}


def test_terms_are_case_insensitive():
    assert score("", "LIBYA and libya", compile_terms({"L": "Libya"})).matched == {"L": 2}


def test_invalid_regex_is_a_clear_value_error():
    with pytest.raises(ValueError, match=r"NEWSMON_RELEVANCE_TERMS has an invalid regex"):
        compile_terms(["Libya", "(unclosed"])


@pytest.mark.parametrize("terms", [[], {}, "", 42])
def test_empty_or_wrong_type_terms_are_a_value_error(terms):
    with pytest.raises(ValueError, match="NEWSMON_RELEVANCE_TERMS"):
        compile_terms(terms)


@settings(max_examples=300, deadline=None)
@given(title=st.text(alphabet=st.characters()), text=st.text(alphabet=st.characters()))
def test_score_never_raises_and_is_not_negative(title, text):
    result = score(title, text, TERMS)
    assert result.score >= 0
    assert all(count > 0 for count in result.matched.values())


_MIXED = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("ليبياطرابلسبنغازي حفتر")),
        st.sampled_from(list("Libya Tripoli Lebanon,\n")),
        st.characters(),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(title=_MIXED, text=_MIXED)
def test_score_on_mixed_scripts_never_raises_and_headline_mention_only_adds(title, text):
    base = score(title, text, TERMS)
    assert base.score >= 0
    assert score(title + " Libya", text, TERMS).score >= base.score


def test_shared_acronyms_alone_do_not_make_a_story_about_libya():
    terms = compile_terms()
    south_africa = score(
        "ANC joins a Government of National Unity",
        "The GNU will govern South Africa.\n\nThe GNU cabinet met in Pretoria.",
        terms,
    )
    assert not south_africa.is_relevant(3)
    software = score("GNU toolchain release", "The gnu project released gcc.", terms)
    assert software.matched == {"GNU": 1}  # the lower-case "gnu" is not the acronym
    assert software.score == 0


def test_acronyms_count_beside_a_libyan_name():
    result = score(
        "Clashes near Tripoli", "The GNA said LNA forces shelled the city.", compile_terms()
    )
    assert result.matched == {"Tripoli": 1, "GNA": 1, "LNA": 1}
    assert result.is_relevant(3)


def test_a_name_in_a_list_of_countries_counts_for_its_share_of_the_list():
    text = "Lead about Soviet exports.\n\nTalks with China, Syria, Libya and Iraq will fail."
    result = score("Soviet Energy", text, TERMS)
    assert result.matched == {"Libya": 1}
    assert "1 as one item of a list (of 4)" in result.reason
    assert result.score < 1


def test_a_list_of_libyan_places_is_about_libya_not_one_item_of_many():
    result = score("", "Forces in Tripoli, Misrata and Benghazi clashed on Sunday.", TERMS)
    assert "list" not in result.reason
    assert result.score == 6.0  # three lead mentions
    assert result.subject


def test_two_parties_joined_by_and_are_not_a_list():
    result = score("Chad and Libya trade fire", "Lead.\n\nMore.", TERMS)
    assert result.score == 3.0
    assert result.subject


def test_a_title_case_headline_with_commas_is_not_taken_for_a_list():
    result = score("Libya, Chad Trade Blame, Vow Revenge", "Lead.\n\nMore.", TERMS)
    assert result.score == 3.0


def test_a_french_list_is_a_list():
    result = score("", "Lead.\n\nDes migrants venus de Tunisie, de Libye et du Maroc.", TERMS)
    assert "as one item of a list (of 3)" in result.reason


def test_a_row_of_a_statistics_table_counts_as_one_row_of_the_table():
    rows = ["ALGERIA 0.64 0.64", "IRAN 1.80 2.20", "LIBYA 0.95 0.95", "NIGERIA 1.00 1.14"]
    text = "OPEC output fell in March, a survey shows.\n\n" + "\n\n".join(rows)
    result = score("OPEC Output Falls", text, TERMS)
    assert result.matched == {"Libya": 1}
    assert "as one item of a list (of 4)" in result.reason
    assert result.score < 0.5


def test_asides_in_a_story_about_something_else_count_a_third():
    text = (
        "The U.S. expects harmonious talks with France this week.\n\n"
        "Officials said the Libyan bombing was a thing of the past. Trade dominated. "
        "Grain was discussed. Japan came up. Tariffs were averted. Farm policy remains.\n\n"
        "France refused overflights during the raid on Libya last year. Relations improved."
    )
    result = score("U.S. Sees Harmony In Talks With France", text, TERMS)
    assert result.matched == {"Libyan": 1, "Libya": 1}
    assert not result.subject
    assert result.focus < 0.3
    assert result.score == round(2 / 3, 1)
    assert "not in headline or lead" in result.reason and "asides" in result.reason


def test_libya_running_through_the_text_is_a_subject_without_headline_or_lead():
    text = (
        "Oil output fell sharply this month.\n\n"
        "Libya's output halved. Fighting near Sirte closed ports. "
        "The Libyan oil company declared force majeure. Exports from Benghazi stopped."
    )
    result = score("Oil Output Falls", text, TERMS)
    assert not result.subject
    assert result.focus == 1.0
    assert result.is_relevant(THRESHOLD)
    assert "asides" not in result.reason


def test_the_lead_is_the_first_sentence_even_when_the_page_has_one_block():
    one_block = "The U.S. expects harmonious talks with France. The Libyan raid is past."
    result = score("Talks", one_block, TERMS)
    assert result.matched == {"Libyan": 1}
    assert not result.subject  # the second sentence is not the lead


def test_a_lead_broken_over_lines_runs_on_to_its_sentence_end():
    result = score("Talks", "Libyan troops are\n\nleaving Chad, sources said.\n\nMore.", TERMS)
    assert result.subject
    assert result.score == 2.0


# Spellings at the edges of what the terms' literals cover: case and the letters a
# case-insensitive regex folds to ASCII, hyphens, variants, phrases broken over lines,
# case-sensitive acronyms, Arabic and the French and German forms.
_EDGES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "Libya",
                "LİBYA",
                "libyan",
                "Libyans",
                "Misruta",
                "Misata",
                "al-Jufra",
                "Jufra",
                "Haftar",
                "Hifter",
                "Gadhafi",
                "GNA",
                "gna",
                "GNU",
                "Government of",
                "National\nAccord",
                "Ras  Lanuf",
                "Tripoli, Lebanon",
                "UNSMIL",
                "Libye",
                "libyennes",
                "libyschen",
                "ليبيا",
                "ليبي",
                "سرت",
                "حفتر",
                "Tunisia, ",
                " and ",
                ", ",
                ". ",
                "\n\n",
                " ",
                "Lib\u00adya",
                "Sebha",
                "Zawiya",
            ]
        ),
        st.characters(),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(title=_EDGES, text=_EDGES)
def test_looking_only_for_the_terms_that_may_occur_gives_the_full_score(title, text):
    assert score(title, text, TERMS) == score_all(title, text, TERMS)


def test_the_narrowed_score_is_the_full_score_on_every_labelled_story():
    for story in load_stories():
        text = "\n\n".join(wire_paragraphs(story.text))
        for title in (story.title, ""):
            assert score(title, text, TERMS) == score_all(title, text, TERMS), story.id
    seed = SEED.read_text(encoding="utf-8")
    assert score("", seed, TERMS) == score_all("", seed, TERMS)
    assert score("", seed, TERMS).matched


def test_custom_terms_with_no_literal_are_always_looked_for():
    terms = compile_terms([r"\w+ville"])
    assert score("", "Events in Bentonville.", terms).matched == {r"\w+ville": 1}

"""Relevance on real wire copy: the labelled Reuters set, read as pages through the real
extraction, then judged by the relevance score (what `newsmon crawl` and `newsmon extract` do)."""

from __future__ import annotations

import pytest

from pipelines.extract import extract_page
from pipelines.relevance import compile_terms, score
from tests.wire_stories import LAYOUTS, Story, load_stories, story_html

THRESHOLD = 3.0  # NEWSMON_RELEVANCE_MIN_SCORE's default
TERMS = compile_terms()
STORIES = load_stories()


def kept(story: Story, layout: str) -> bool:
    extracted = extract_page(story_html(story, layout), f"https://www.reuters.com/{story.id}")
    if extracted is None:  # a wire item with no headline (a list of dividends): no article
        return False
    return score(extracted.title, extracted.text, TERMS).is_relevant(THRESHOLD)


def test_the_set_has_stories_on_both_sides_and_stories_naming_libya_that_are_not_about_it():
    assert len(STORIES) == 289
    assert sum(s.about_libya for s in STORIES) == 4
    naming = [s for s in STORIES if not s.about_libya and TERMS["Libya"].search(s.text)]
    assert len(naming) >= 5


@pytest.mark.parametrize("layout", LAYOUTS)
def test_precision_and_recall_on_real_reuters_wire_copy_are_at_least_095(layout):
    judged = [(story, kept(story, layout)) for story in STORIES]
    true_pos = sum(1 for s, k in judged if k and s.about_libya)
    false_pos = [f"{s.id} {s.title}" for s, k in judged if k and not s.about_libya]
    false_neg = [f"{s.id} {s.title}" for s, k in judged if not k and s.about_libya]
    precision = true_pos / (true_pos + len(false_pos)) if true_pos + len(false_pos) else 0.0
    recall = true_pos / (true_pos + len(false_neg))
    assert precision >= 0.95, f"kept but not about Libya: {false_pos}"
    assert recall >= 0.95, f"about Libya but not kept: {false_neg}"


def story(story_id: str) -> Story:
    return next(s for s in STORIES if s.id == story_id)


def judgement(story_id: str):
    extracted = extract_page(story_html(story(story_id)), "https://www.reuters.com/x")
    assert extracted is not None
    return score(extracted.title, extracted.text, TERMS)


def test_a_producers_output_table_names_libya_as_one_row_of_many():
    result = judgement("reuters21578-1990")  # EARLY MARCH OPEC OUTPUT SEEN WELL BELOW CEILING
    assert result.matched == {"Libya": 1}
    assert "as one item of a list (of 14)" in result.reason
    assert result.score < 0.5


def test_paragraphs_on_libya_in_a_story_about_opec_are_asides():
    result = judgement("reuters21578-5244")  # MEES SAYS SECOND WEEK MARCH OPEC OUTPUT 14 MLN BPD
    assert sum(result.matched.values()) == 5
    assert not result.subject
    assert result.focus < 0.3
    assert "asides" in result.reason
    assert not result.is_relevant(THRESHOLD)


def test_a_story_about_libyans_in_egypt_is_about_libya():
    result = judgement("reuters21578-892")  # EGYPT ALLOWS FUGITIVE LIBYANS STAY
    assert result.subject
    assert result.is_relevant(THRESHOLD)

"""Reviewing stories in Datasette: the stories table, a story's page, the saved queries, and
the way from an article to its story; once in a real headless Chromium with screenshots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.test_review import (  # the crawled fixture archive and its Datasette helpers
    CHROMIUM,
    SCREENSHOT_DIR,
    archive,
    get,
    rows,
    served,
)

__all__ = ["archive", "served"]  # pytest fixtures used by name below

SEED_URL_KEY = "rferl:31003211"


def shared_story(db_path: Path) -> int:
    (row,) = rows(db_path, f"/news/articles.json?url_key={SEED_URL_KEY}&_labels=off")
    return int(row["story_id"])


def test_stories_are_newest_first_with_counts_and_sources(archive: Path) -> None:
    found = rows(archive, "/news/stories.json")
    latest = [row["last_published"] for row in found]
    assert latest == sorted(latest, reverse=True)
    shared = next(row for row in found if row["articles"] == 3)
    assert json.loads(shared["sources"]) == ["afp", "reuters", "rferl"]
    page = get(archive, "/news/stories").text
    assert "afp, reuters, rferl" in page  # sources as words, not JSON
    assert f'href="/news/story?id={shared["id"]}"' in page


def test_a_story_page_lists_its_articles_in_time_order_with_roles_and_links(
    archive: Path,
) -> None:
    story = shared_story(archive)
    found = rows(archive, f"/news/story.json?id={story}")
    assert [r["published"] for r in found] == sorted(r["published"] for r in found)
    assert [(r["site"], r["role"]) for r in found] == [
        ("www.reuters.com", "original"),
        ("www.france24.com", "original"),
        ("www.rferl.org", "rewrite"),
    ]
    write_up = found[-1]
    assert write_up["links"].count("based_on") == 2
    page = get(archive, f"/news/story?id={story}").text
    assert f'<a href="/news/articles/{write_up["article_id"]}">Russia Backs' in page
    assert "based_on AFP <a href=" in page


def test_an_article_links_to_its_story(archive: Path) -> None:
    (article,) = rows(archive, f"/news/articles.json?url_key={SEED_URL_KEY}")
    page = get(archive, f"/news/articles/{article['id']}").text
    assert f'href="/news/story?id={shared_story(archive)}"' in page


def test_saved_queries_list_recent_stories_and_those_of_several_sources(archive: Path) -> None:
    several = rows(archive, "/news/stories_several_sources.json")
    assert [row["story"] for row in several] == [shared_story(archive)]
    recent = {row["story"] for row in rows(archive, "/news/stories_24_hours.json")}
    assert shared_story(archive) in recent  # the crawl stored it just now
    assert len(recent) == len(rows(archive, "/news/stories.json"))
    assert recent == {row["story"] for row in rows(archive, "/news/stories_7_days.json")}


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)
def test_a_reviewer_follows_a_story_from_the_stories_table_in_a_real_browser(
    served, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    _, base = served
    screenshots = SCREENSHOT_DIR or tmp_path
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(base + "/news/stories")
        page.screenshot(path=str(screenshots / "stories.png"))
        page.click("td.col-title a >> text=U.N. Security Council urges")
        page.wait_for_url("**/news/story?id=*")
        sites = page.locator("td.col-site").all_inner_texts()
        roles = page.locator("td.col-role").all_inner_texts()
        page.screenshot(path=str(screenshots / "story.png"), full_page=True)
        page.click("td.col-title a >> text=Russia Backs")
        page.wait_for_url("**/news/articles/*")
        story_link = page.locator("td.col-story_id a").inner_text()
        browser.close()
    assert sites == ["www.reuters.com", "www.france24.com", "www.rferl.org"]
    assert roles == ["original", "original", "rewrite"]
    assert story_link.startswith("U.N. Security Council urges")
    assert (screenshots / "story.png").stat().st_size > 10_000

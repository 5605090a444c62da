"""crawler/middlewares.py block_reason: bot-protection pages are recognised, real pages are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.http import HtmlResponse

from crawler.middlewares import block_reason

FIXTURES = Path(__file__).parent / "fixtures"
DATADOME_PAGE = (FIXTURES / "synthetic/reuters/reuters_block_datadome_synthetic.html").read_bytes()
REUTERS_ARTICLE = (
    FIXTURES / "real/reuters/pages/reuters_2023-04-25_nepal-flydubai-bird-strike.html"
).read_bytes()
URL = "https://www.reuters.com/world/africa/libya-synthetic-oil-blockade-haftar-2023-04-26/"


def _response(status: int, body: bytes, headers: dict[str, str] | None = None) -> HtmlResponse:
    return HtmlResponse(URL, status=status, body=body, headers=headers or {}, encoding="utf-8")


def test_datadome_401_is_a_block_naming_status_and_datadome():
    reason = block_reason(_response(401, DATADOME_PAGE, {"x-datadome": "protected"}))
    assert reason is not None
    assert "401" in reason
    assert "DataDome" in reason


def test_datadome_page_without_header_is_still_recognised_by_its_body():
    reason = block_reason(_response(401, DATADOME_PAGE))
    assert reason is not None and "DataDome captcha page" in reason


@pytest.mark.parametrize("status", [401, 403])
def test_block_statuses_are_blocks_even_with_an_empty_body(status):
    reason = block_reason(_response(status, b""))
    assert reason is not None and str(status) in reason


def test_real_article_served_through_datadome_is_not_a_block():
    assert REUTERS_ARTICLE.startswith(b"<") and len(REUTERS_ARTICLE) > 20000
    assert block_reason(_response(200, REUTERS_ARTICLE, {"x-datadome": "protected"})) is None


def test_real_article_without_protection_headers_is_not_a_block():
    assert block_reason(_response(200, REUTERS_ARTICLE)) is None


def test_200_captcha_page_is_a_block():
    body = b'<html><body><script src="https://ct.captcha-delivery.com/c.js"></script></body></html>'
    reason = block_reason(_response(200, body))
    assert reason is not None and "DataDome" in reason


def test_200_datadome_page_with_header_is_a_block():
    reason = block_reason(_response(200, DATADOME_PAGE, {"x-datadome": "protected"}))
    assert reason is not None and "captcha" in reason


def test_cloudflare_challenge_header_is_a_block():
    reason = block_reason(_response(403, b"<html></html>", {"cf-mitigated": "challenge"}))
    assert reason == "HTTP 403 Forbidden, Cloudflare challenge"


@pytest.mark.parametrize("status", [200, 404, 500])
def test_ordinary_responses_are_not_blocks(status):
    assert block_reason(_response(status, b"<html><body><p>Libya</p></body></html>")) is None

"""Smoke runs of the speed and memory benchmarks with small N and one extraction worker:
they run and print their figures (the figures themselves are measured by hand,
docs/PERFORMANCE.md)."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.crawl_throughput import make_pages, templates
from bench.processes import cpu_seconds, kind_of
from pipelines.extract import content_hash
from pipelines.extraction import extract_page
from tests.conftest import ROOT


def bench(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_throughput_pages_are_distinct_articles_whatever_their_template() -> None:
    count = 2 * len(templates())
    pages = make_pages(count)
    texts = set()
    for i, page in enumerate(pages):
        extracted = extract_page(page.decode(), f"https://bench.newsmon.test/article/{i}")
        assert extracted is not None
        texts.add(content_hash(extracted.text))
    assert len(texts) == count


def test_process_kinds_and_cpu_seconds_are_read_from_proc() -> None:
    assert kind_of("python -c import x; from pipelines.workers import main") == "extraction worker"
    assert kind_of("python -m scrapy crawl rferl -s NEWSMON_DB=x") == "scrapy crawl (reactor)"
    assert kind_of("python -m scheduler crawl") == "newsmon crawl (the CLI)"
    assert kind_of("python -m scheduler crawl", "crawl rferl") == "scrapy crawl (reactor)"
    spent = cpu_seconds()
    assert 0 < spent <= cpu_seconds(os.getpid())


def test_crawl_throughput_bench_runs() -> None:
    output = bench("bench.crawl_throughput", "--pages", "6", "--concurrency", "2", "--workers", "1")
    assert "articles stored:            6 (duplicates 0" in output
    assert "ratio crawl / alone" in output
    assert "scrapy crawl (reactor)" in output and "loopback server" in output


def test_crawl_throughput_bench_runs_with_the_relevance_filter_on() -> None:
    output = bench(
        "bench.crawl_throughput", "--pages", "3", "--concurrency", "2", "--workers", "1",
        "--relevance-filter",
    )  # fmt: skip
    assert "articles stored:            0 (duplicates 0, other rejections 3, errors 0)" in output


def test_nochange_bench_runs_and_its_reruns_fetch_no_article_page() -> None:
    output = bench("bench.nochange", "--repeat", "1", "--source", "rferl")
    assert "ratio rerun / empty spider" in output
    assert "article pages requested by the reruns: 0" in output
    assert "extraction workers started by the reruns: none" in output


def test_crawl_memory_bench_runs() -> None:
    output = bench("bench.crawl_memory", "--source", "rferl", "--workers", "1")
    assert "peak, all processes together" in output
    assert "extraction workers started:     none" in output  # the rerun's


def test_reextract_bench_runs_and_corrects_every_stale_article() -> None:
    output = bench("bench.reextract", "--pages", "3", "--workers", "1")
    assert "archive: 3 articles stored by the crawl" in output
    assert "Read 3 kept page(s): 0 corrected; 3 as stored;" in output
    assert "Read 3 kept page(s): 3 corrected; 0 as stored;" in output
    assert "Trafilatura alone:" in output

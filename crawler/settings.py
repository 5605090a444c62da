"""Scrapy settings for newsmon.

Politeness comes first: the three sites are watched for years, so a crawl must never look like
an attack. Every value here can be overridden per run with ``-s NAME=VALUE``.
"""

import os

from crawler.components import base_without_optional

BOT_NAME = "newsmon"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
# One spider per declared source, generated from the declarations (crawler/sources.toml).
SPIDER_LOADER_CLASS = "crawler.spiderloader.SourceSpiderLoader"

USER_AGENT = "newsmon/0.1 (Libya news monitor; +https://github.com/newsmon/newsmon)"
ROBOTSTXT_OBEY = True

# At most one request at a time per site, two seconds apart, slower when the site is slow.
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 2.0
# Scrapy 2.19 varies each delay by ±50% by default (1-3 s for a 2 s delay); newsmon does not
# disguise its rhythm, so the delay is a floor: requests to a site start at least this far
# apart, more when AutoThrottle or the site's robots.txt Crawl-delay (crawler.handler) asks.
DOWNLOAD_DELAY_JITTER = 0.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 2**20  # a news page or sitemap over 10 MiB is not what we came for
DOWNLOAD_WARNSIZE = 2 * 2**20
DOWNLOAD_VERIFY_CERTIFICATES = True
RETRY_TIMES = 2
# 401/403 are blocks, not transient failures: retrying them only hammers the site.
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
REDIRECT_MAX_TIMES = 5

# A crawl that runs away is stopped rather than left to run for ever.
CLOSESPIDER_TIMEOUT = 3600
CLOSESPIDER_ERRORCOUNT = 100
MEMUSAGE_ENABLED = True
MEMUSAGE_LIMIT_MB = 1024

TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
COOKIES_ENABLED = False
LOG_LEVEL = "INFO"
# Dropped items are logged as one line, not as the whole page.
LOG_FORMATTER = "crawler.logformatter.LogFormatter"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# Below every middleware: the origin map (so they all see public URLs only), and no request
# to a host that has blocked this run.
# Nothing but http(s): a hostile sitemap listing file:///etc/passwd or s3://... gets no
# handler at all (crawler.offsite refuses such URLs before they get this far).
DOWNLOAD_HANDLERS = {
    "http": "crawler.handler.DownloadHandler",
    "https": "crawler.handler.DownloadHandler",
    "file": None,
    "data": None,
    "s3": None,
    "ftp": None,
}
# Discovery URLs once a run; articles deduped by pipelines.dedupe.SeenUrlsMiddleware.
DUPEFILTER_CLASS = "pipelines.dedupe.RunDupeFilter"

# Components that are off (COOKIES_ENABLED, REMOTE_CONTROL_ENABLED) are left out of Scrapy's
# base lists, so that they are not even imported; a run that turns one on gets it back
# (crawler/components.py).
DOWNLOADER_MIDDLEWARES_BASE = base_without_optional("DOWNLOADER_MIDDLEWARES_BASE")
EXTENSIONS_BASE = base_without_optional("EXTENSIONS_BASE")
ADDONS = {"crawler.components.OptionalComponents": 0}
DOWNLOADER_MIDDLEWARES = {
    # First of all, whatever dont_filter says: only http(s) on the source's domains.
    "crawler.offsite.SourceBoundsMiddleware": 40,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.RobotsTxtMiddleware": 100,
    # After the offsite check (50): skip article URLs already judged in an earlier run.
    "pipelines.dedupe.SeenUrlsMiddleware": 60,
    # After it: a backfill's --max-pages counts only pages not already judged.
    "crawler.backfill.PageBudgetMiddleware": 65,
    # Between decompression (590) and retries (550): sees the real body, and a block is
    # never retried.
    "crawler.middlewares.BlockDetectionMiddleware": 560,
    # Before the redirect middleware (600) follows a redirect out of the source's domains.
    "crawler.middlewares.OffsiteRedirectMiddleware": 610,
}

ITEM_PIPELINES = {
    "pipelines.extract.ExtractPipeline": 100,
    "pipelines.relevance.RelevancePipeline": 200,
    "pipelines.dedupe.DedupePipeline": 300,
    "pipelines.store.StorePipeline": 400,
}

EXTENSIONS = {
    # First: a bad -s value stops the crawl before anything is recorded.
    "crawler.settings_check.SettingsCheck": 0,
    "pipelines.runs.RunRecorder": 100,
    "crawler.backfill.BackfillProgress": 200,  # backfill runs only
}

# --- newsmon's own settings -------------------------------------------------------------
NEWSMON_DB = os.environ.get("NEWSMON_DB", "newsmon.db")
# The source declarations; None means the packaged crawler/sources.toml.
NEWSMON_SOURCES = os.environ.get("NEWSMON_SOURCES")
# {"https://www.rferl.org": "http://127.0.0.1:8001"}: fetch from a mirror, store public URLs.
NEWSMON_ORIGIN_MAP: dict[str, str] = {}
# Set by `newsmon crawl` so it can find this run's row in crawl_runs.
NEWSMON_RUN_ID = ""
NEWSMON_RELEVANCE_FILTER = True
# None means the built-in term list (pipelines/relevance.py); a list of regexes or a
# {label: regex} dict replaces it.
NEWSMON_RELEVANCE_TERMS = None
NEWSMON_RELEVANCE_MIN_SCORE = 3.0
# Extraction runs in this many worker processes (0: one per core).
NEWSMON_EXTRACT_WORKERS = 0
NEWSMON_EXTRACT_TIMEOUT = 60
# A 429/503 asking to wait longer than this (Retry-After, seconds) ends the run for that host;
# shorter waits are honoured before the next request to it.
NEWSMON_MAX_RETRY_AFTER = 120
# Pages whose text is shorter than this are not articles (teasers, galleries, block pages).
NEWSMON_MIN_TEXT_CHARS = 200
# A live crawl reads discovery entries of the last N days (each source's `live_days`, 7 by
# default); set this to override them all for a run, 0 for no window (history: backfill).
NEWSMON_LIVE_DAYS = None
# Known pages published in the last N hours are asked again (conditionally: an unchanged
# page costs a 304), at most NEWSMON_RECHECK_BUDGET of them per run; pages whose discovery
# entry says they changed are always asked again.
NEWSMON_RECHECK_HOURS = 48
NEWSMON_RECHECK_BUDGET = 20

# --- backfill (`newsmon backfill`, crawler/backfill.py) ------------------------------------
# A date (YYYY[-MM[-DD]]) turns the run into a backfill of the source's archive_index sitemaps.
NEWSMON_BACKFILL_SINCE = ""
NEWSMON_BACKFILL_UNTIL = ""  # inclusive; empty: up to now
NEWSMON_BACKFILL_ALL_URLS = False  # every URL in the window, not only relevant-looking slugs
NEWSMON_BACKFILL_MAX_PAGES = 0  # 0: no cap on the article pages fetched
# Regexes that must match one whole word of a URL's path; empty means the built-in list
# (crawler/backfill.py DEFAULT_SLUG_TERMS).
NEWSMON_BACKFILL_SLUG_TERMS: list[str] = []
# Where the run writes its progress (JSON) for `newsmon backfill` to show.
NEWSMON_BACKFILL_PROGRESS = ""

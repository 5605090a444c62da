"""The states of a crawl run that the scheduler reads without loading Scrapy."""

INTERRUPTED = "interrupted"
KILLED_REASON = "the crawl process ended before it could record its run (killed)"

"""The states of a crawl run that the scheduler reads without loading Scrapy."""

INTERRUPTED = "interrupted"
KILLED_REASON = "the crawl process ended before it could record its run (killed)"
# The stat in which the run recorder leaves the id of the run's crawl_runs row, for the store
# to write into every article and version the run stores.
RUN_ROW_STAT = "newsmon/run_row"

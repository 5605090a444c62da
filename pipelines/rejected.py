"""Why an item was not stored."""

from scrapy.exceptions import DropItem


class Rejected(DropItem):
    """An item deliberately not stored; ``outcome`` is remembered for its URL in seen_urls
    (irrelevant, duplicate, no_text, no_agency_credit, failed, gone)."""

    def __init__(self, outcome: str, message: str, *, duplicate_of: str | None = None):
        super().__init__(message)
        self.outcome = outcome
        self.duplicate_of = duplicate_of

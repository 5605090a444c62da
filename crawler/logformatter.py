"""Log lines for items: one short line each, never a whole page of HTML."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import logformatter
from scrapy.http import Response
from twisted.python.failure import Failure


class LogFormatter(logformatter.LogFormatter):
    def dropped(
        self,
        item: Any,
        exception: BaseException,
        response: Response | Failure | None,
        spider: Any = None,
    ) -> logformatter.LogFormatterResult:
        # A rejection (irrelevant, duplicate, ...) is a normal outcome, not a warning.
        return {
            "level": logging.INFO,
            "msg": "Not stored: %(reason)s",
            "args": {"reason": exception},
        }

    def scraped(
        self, item: Any, response: Response | Failure | None, spider: Any = None
    ) -> logformatter.LogFormatterResult:
        url = getattr(item, "url", "")
        return {"level": logging.DEBUG, "msg": "Scraped %(url)s", "args": {"url": url}}

    def item_error(
        self,
        item: Any,
        exception: BaseException,
        response: Response | Failure | None,
        spider: Any = None,
    ) -> logformatter.LogFormatterResult:
        url = getattr(item, "url", "")
        return {"level": logging.ERROR, "msg": "Error processing %(url)s", "args": {"url": url}}

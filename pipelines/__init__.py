"""Item pipelines: extract -> relevance -> dedupe -> store, plus the archive they share.

``Rejected`` is a Scrapy ``DropItem``, so it lives in ``pipelines.rejected`` and is imported
from here on first use only: the extraction workers and the ``newsmon`` CLI import modules
of this package (extraction, the database) and must not pay for loading Scrapy (about a
second of CPU and 28 MiB a process; docs/PERFORMANCE.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.rejected import Rejected

__all__ = ["Rejected"]


def __getattr__(name: str) -> Any:
    if name == "Rejected":
        from pipelines.rejected import Rejected

        return Rejected
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""What the ``newsmon schedule`` daemon of an archive runs with, kept in the archive.

``newsmon status`` runs in another process (cron, a monitor, a person), often without the
daemon's command line at hand; without this it would compute next runs from the declared
intervals while the daemon runs ``--every 10s``. One row (``daemon`` table, id 1): the last
daemon started on this archive, its pid and host, when it started and stopped, and its
``--every`` in seconds (null: each source's declared interval).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import sqlite_utils

from crawler.dates import utc_now

ROW_ID = 1


@dataclass
class DaemonState:
    every: int | None
    started: str | None
    stopped: str | None
    pid: int | None
    host: str | None

    @property
    def running(self) -> bool:
        return self.started is not None and self.stopped is None


def record_start(db: sqlite_utils.Database, every: int | None) -> None:
    db.table("daemon").upsert(
        {
            "id": ROW_ID,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": utc_now(),
            "stopped": None,
            "every": every,
        },
        pk="id",
    )


def record_stop(db: sqlite_utils.Database) -> None:
    db.execute(
        "update daemon set stopped = ? where id = ? and pid = ?", [utc_now(), ROW_ID, os.getpid()]
    )
    db.conn.commit()


def last_daemon(db: sqlite_utils.Database) -> DaemonState | None:
    if "daemon" not in db.table_names():
        return None
    row = db.execute(
        "select every, started, stopped, pid, host from daemon where id = ?", [ROW_ID]
    ).fetchone()
    return DaemonState(*row) if row else None

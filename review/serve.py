"""`newsmon serve`: Datasette over the archive, with newsmon's metadata, read-only."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

# Generous enough for facets over a few hundred thousand articles on a small machine.
SETTINGS = {"sql_time_limit_ms": "3000", "facet_time_limit_ms": "1000", "truncate_cells_html": "0"}


def metadata_for(db: Path) -> dict[str, Any]:
    """The shipped metadata, its database part under this archive's Datasette name."""
    template = yaml.safe_load(files("review").joinpath("metadata.yml").read_text("utf-8"))
    database = template.pop("database")
    return {**template, "databases": {db.stem: database}}


def datasette_argv(db: Path, metadata: Path, host: str, port: int) -> list[str]:
    # A plain (not -i) file: Datasette opens it read-only and sees new rows as a crawl
    # writes them (WAL), which an immutable database would not.
    argv = [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(db),
        "--metadata",
        str(metadata),
        "--host",
        host,
        "--port",
        str(port),
    ]
    for name, value in SETTINGS.items():
        argv += ["--setting", name, value]
    return argv


def serve(db: Path, host: str, port: int) -> None:
    """Replace this process with Datasette (so signals and exit codes are Datasette's)."""
    # One file per archive, rewritten at each start (exec leaves no chance to clean up).
    digest = hashlib.sha256(str(db).encode()).hexdigest()[:12]
    metadata = Path(tempfile.gettempdir()) / f"newsmon-metadata-{db.stem}-{digest}.json"
    metadata.write_text(json.dumps(metadata_for(db)), encoding="utf-8")
    argv = datasette_argv(db, metadata, host, port)
    os.execv(argv[0], argv)

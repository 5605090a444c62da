"""A loopback HTTP server per public host, serving captured fixtures at their real paths.

Each host in tests/fixtures/sites/<host>/manifest.json gets its own server on 127.0.0.1,
reached from a crawl through ``--origin-map https://<host>=http://127.0.0.1:<port>``. Every
request is logged, so tests can assert what was (and was not) fetched.

Run it by hand, from the checkout's root, to try newsmon offline:  python -m tests.siteserver
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
SITES = FIXTURES / "sites"


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    # Faults below HTTP: "hang" (answer nothing), "reset" (half the body, then a TCP reset).
    fault: str = ""


Handler = Callable[[str], Route | None]


def load_manifest(host: str, name: str = "manifest.json") -> dict[str, Route]:
    """A host's routes; ``name`` picks another manifest of the host (e.g. its archive)."""
    manifest = json.loads((SITES / host / name).read_text())
    return {
        path: Route(
            status=entry.get("status", 200),
            body=(FIXTURES / entry["file"]).read_bytes(),
            content_type=entry.get("content_type", "text/html; charset=utf-8"),
            headers=entry.get("headers", {}),
        )
        for path, entry in manifest.items()
    }


class Site:
    """One host's server: a route table, optional override handler, and a request log."""

    def __init__(self, host: str, routes: dict[str, Route], handler: Handler | None = None):
        self.host = host
        self.routes = routes
        self.handler = handler
        self.requests: list[str] = []
        self.times: list[tuple[str, float]] = []  # (path, monotonic time) of each request
        site = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                site.times.append((self.path, time.monotonic()))
                route = (site.handler(self.path) if site.handler else None) or site.routes.get(
                    self.path, Route(404, b"not found", "text/plain")
                )
                if route.fault == "hang":
                    time.sleep(30)
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if route.fault == "reset":
                    self.wfile.write(route.body[: len(route.body) // 2])
                    self.wfile.flush()
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()
                    return
                self.wfile.write(route.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.server.daemon_threads = True
        # A client killed mid-request (the crash tests do that) is not a server error.
        self.server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def public_origin(self) -> str:
        return f"https://{self.host}"

    def start(self) -> Site:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class BrokenServer:
    """A loopback TCP server that misbehaves below HTTP: ``reset`` closes every connection
    at once with a TCP reset; ``hang`` accepts and never answers."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.held: list[socket.socket] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def start(self) -> BrokenServer:
        self.thread.start()
        return self

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self.held.append(conn)

    def stop(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def all_hosts() -> list[str]:
    return sorted(p.name for p in SITES.iterdir() if (p / "manifest.json").exists())


@contextmanager
def serve_sites(hosts: list[str] | None = None) -> Iterator[dict[str, Site]]:
    sites = {host: Site(host, load_manifest(host)).start() for host in hosts or all_hosts()}
    try:
        yield sites
    finally:
        for site in sites.values():
            site.stop()


def origin_map_args(sites: dict[str, Site]) -> list[str]:
    args = []
    for site in sites.values():
        args += ["--origin-map", f"{site.public_origin}={site.origin}"]
    return args


if __name__ == "__main__":
    with serve_sites() as running:
        print("Serving the fixture sites. Crawl them with:\n")
        print(
            "  newsmon crawl --db offline.db -s DOWNLOAD_DELAY=0 -s AUTOTHROTTLE_ENABLED=false "
            + " ".join(f"--origin-map {s.public_origin}={s.origin}" for s in running.values())
        )
        print("\nCtrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass

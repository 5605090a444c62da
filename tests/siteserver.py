"""A loopback HTTP server per public host, serving captured fixtures at their real paths.

Each host in tests/fixtures/sites/<host>/manifest.json gets its own server on 127.0.0.1,
reached from a crawl through ``--origin-map https://<host>=http://127.0.0.1:<port>``. Every
request is logged, so tests can assert what was (and was not) fetched.

Run it by hand, from the checkout's root, to try newsmon offline:  python -m tests.siteserver
(``--help`` for its options: fixed ports, the database its printed commands name, and
``--revised``, which serves one RFE/RL story as updated since: README, "News changes").
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from email.message import Message
from email.utils import parsedate_to_datetime
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


def etag(route: Route) -> str:
    return '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'


def not_modified(route: Route, headers: Message) -> bool:
    """A conditional GET the route's current body satisfies (RFC 9110: If-None-Match wins;
    If-Modified-Since counts only where the route declares a Last-Modified)."""
    if match := headers.get("If-None-Match"):
        return etag(route) in [tag.strip() for tag in match.split(",")]
    since, modified = headers.get("If-Modified-Since"), route.headers.get("Last-Modified")
    if since and modified:
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


class Site:
    """One host's server: a route table, optional override handler, and a request log."""

    def __init__(
        self,
        host: str,
        routes: dict[str, Route],
        handler: Handler | None = None,
        port: int = 0,
    ):
        self.host = host
        self.routes = routes
        self.handler = handler
        self.requests: list[str] = []
        self.not_modified: list[str] = []  # requests answered 304
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
                if route.status == 200 and not_modified(route, self.headers):
                    site.not_modified.append(self.path)
                    self.send_response(304)
                    self.send_header("ETag", etag(route))
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                if route.status == 200:
                    self.send_header("ETag", etag(route))
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

        self.server = ThreadingHTTPServer(("127.0.0.1", port), RequestHandler)
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
def serve_sites(hosts: list[str] | None = None, first_port: int = 0) -> Iterator[dict[str, Site]]:
    """One server per host; on ports ``first_port``, ``first_port + 1``, ... in host order
    when given (so a printed command works again after a restart), else on free ports."""
    hosts = hosts or all_hosts()
    sites = {
        host: Site(host, load_manifest(host), port=first_port + i if first_port else 0).start()
        for i, host in enumerate(hosts)
    }
    try:
        yield sites
    finally:
        for site in sites.values():
            site.stop()


# The discard port: a connection there is refused at once.
UNREACHABLE = "http://127.0.0.1:9"


def declared_hosts() -> set[str]:
    from crawler.sources import load_sources

    return {host for source in load_sources().values() for host in source.domains}


def origin_map_args(sites: dict[str, Site]) -> list[str]:
    """--origin-map arguments for the served sites; every other declared host (a licensee
    the test does not serve) is mapped to a refused port, so a test never leaves 127.0.0.1."""
    args = []
    for site in sites.values():
        args += ["--origin-map", f"{site.public_origin}={site.origin}"]
    for host in sorted(declared_hosts() - set(sites)):
        args += ["--origin-map", f"https://{host}={UNREACHABLE}"]
    return args


# The demo's news update: a story whose figures were revised after it was first published.
REVISED_STORY = "/a/wagner-libya-sirte-jufra-mercenaries-synthetic/31010001.html"
REVISION = (b"several hundred Wagner contractors", b"more than 1,000 Wagner contractors")


def publish_revision(site: Site) -> None:
    """The RFE/RL Wagner story as updated: one figure revised in its text, and its entry in
    the latest-articles sitemap given a new lastmod (now), as a CMS does on an edit."""
    story = site.routes[REVISED_STORY]
    assert REVISION[0] in story.body
    site.routes[REVISED_STORY] = replace(story, body=story.body.replace(*REVISION))
    latest = site.routes["/sitemap_8_latest.xml.gz"]
    xml = gzip.decompress(latest.body).decode("utf-8")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    xml = re.sub(r"(" + re.escape(REVISED_STORY) + r"</loc><lastmod>)[^<]+", rf"\g<1>{now}", xml)
    site.routes["/sitemap_8_latest.xml.gz"] = replace(latest, body=gzip.compress(xml.encode()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.siteserver",
        description="Serve the test fixtures (real captured pages and sitemaps of the "
        "sources' sites) on 127.0.0.1, one port per host, and print the commands that crawl "
        "them into an archive and browse it. Ctrl-C stops.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8101,
        help="first port; the hosts get consecutive ports from it, the same on every start "
        "(default: %(default)s; 0 for any free ports)",
    )
    parser.add_argument(
        "--db",
        default="offline.db",
        help="the archive the printed commands fill and serve (default: %(default)s)",
    )
    parser.add_argument(
        "--revised",
        action="store_true",
        help="serve one RFE/RL story as revised since (a figure changed, a new lastmod): "
        "crawl before and after to see a new version (README, 'News changes')",
    )
    args = parser.parse_args(argv)
    try:
        with serve_sites(first_port=args.port) as running:
            if args.revised:
                publish_revision(running["www.rferl.org"])
                print(f"Serving www.rferl.org{REVISED_STORY} as revised (one figure changed).")
            print_commands(running, args.db)
            while True:
                time.sleep(3600)
    except OSError as exc:
        parser.exit(2, f"{parser.prog}: error: cannot listen from port {args.port}: {exc}\n")
    except KeyboardInterrupt:
        pass


def print_commands(running: dict[str, Site], db: str) -> None:
    for site in running.values():
        print(f"{site.public_origin} is served at {site.origin}")
    print("\nCrawl them with:\n")
    print(
        f"  newsmon crawl --db {db} -s DOWNLOAD_DELAY=0 -s AUTOTHROTTLE_ENABLED=false "
        # The captures are years old: no live window, or nothing would be read.
        "-s NEWSMON_LIVE_DAYS=0 " + " ".join(origin_map_args(running))
    )
    print(f"\nthen browse the archive with:\n\n  newsmon serve --db {db}\n")
    print("Ctrl-C to stop.", flush=True)


if __name__ == "__main__":
    main()

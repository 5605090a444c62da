"""Canonical article URLs, so one story reached by many links is fetched and stored once.

Feeds, sitemaps and social links decorate the same article URL with tracking parameters,
AMP paths, http/https and host-case variants; these functions undo that before a URL is
requested and again on the page's own rel=canonical after it is fetched.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crawler.sources import Source

# Query parameters that only say how a reader arrived, never which article it is.
_TRACKING = re.compile(
    r"^(utm_\w*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|ref|ref_src|"
    r"cmpid|xtor|feedType|feedName|taid|ito|smid|outputType|amp|at_\w+)$",
    re.IGNORECASE,
)
_AMP_SUFFIX = re.compile(r"^(.+?)/amp/?$")


def canonicalize_url(url: str) -> str:
    """The canonical form of an article URL: https, lower-case host, no default port, no
    fragment, no tracking parameters, no trailing /amp, remaining query sorted. Site-specific
    AMP forms (RFE/RL's /amp/<slug>/<id>.html) are the source's ``url_rewrites``.

    Idempotent: canonicalize_url(canonicalize_url(u)) == canonicalize_url(u).
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return url.strip()
    host = parts.hostname.lower()
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = parts.path.strip() or "/"
    # <path>/amp is the AMP copy of <path> on many CMSs.
    if match := _AMP_SUFFIX.match(path):
        path = match.group(1).strip() + ("/" if path.endswith("/") else "")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query = sorted((k, v) for k, v in query if not _TRACKING.match(k))
    return urlunsplit(("https", netloc, path, urlencode(query), ""))


def article_url(url: str, source: Source) -> str:
    """The canonical form of one of ``source``'s article URLs, its declared rewrites applied."""
    url = canonicalize_url(url)
    for pattern, replacement in source.url_rewrites:
        url = pattern.sub(replacement, url)
    return canonicalize_url(url)


def article_key(url: str, source: Source) -> str:
    """The dedupe key of an article URL: the site's own article id where the source declares
    one (RFE/RL's numeric id), else the canonical URL."""
    canonical = article_url(url, source)
    article_id = source.article_id(canonical)
    return f"{source.name}:{article_id}" if article_id else canonical


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()

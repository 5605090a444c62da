"""Reviewing the archive in Datasette: shipped metadata, saved queries and cell rendering.

This package is also a Datasette plugin (registered under the ``datasette`` entry point in
pyproject.toml), so its hooks and ``static/`` files are active whenever Datasette serves a
newsmon archive.
"""

from review.access import permission_allowed
from review.plugin import (
    asgi_wrapper,
    extra_css_urls,
    extra_js_urls,
    extra_template_vars,
    menu_links,
    register_output_renderer,
    register_routes,
    render_cell,
    startup,
)

__all__ = [
    "asgi_wrapper",
    "extra_css_urls",
    "extra_js_urls",
    "extra_template_vars",
    "menu_links",
    "permission_allowed",
    "register_output_renderer",
    "register_routes",
    "render_cell",
    "startup",
]

"""Scrapy's default settings, read without importing the ``scrapy`` package.

``newsmon crawl`` and ``newsmon schedule`` check ``-s`` overrides against Scrapy's defaults
before any crawl starts, and the project settings filter Scrapy's base component lists. Both
need only the constants of ``scrapy/settings/default_settings.py``, but importing it runs
``scrapy/__init__.py`` first (Twisted, the HTTP stack, TLS) and the module itself imports
``scrapy`` for its version: about 0.35 s of CPU on every command, a fifth of a no-change
rerun's start-up (docs/PERFORMANCE.md). So outside a crawl the file is run statement by
statement, leaving out the one statement that would import Scrapy; a process that has already
imported Scrapy (a crawl) gets Scrapy's own module.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from functools import cache
from pathlib import Path
from typing import Any

_MODULE = "scrapy.settings.default_settings"


def scrapy_default_settings() -> dict[str, Any]:
    """Every setting Scrapy declares, with its default; ``None`` for the few whose default
    needs Scrapy itself to compute (``USER_AGENT`` names Scrapy's version)."""
    loaded = sys.modules.get(_MODULE)
    if loaded is None:
        try:
            return dict(_read_from_file())
        except OSError:  # not a plain file (a zipped install): import it, the slow way
            loaded = importlib.import_module(_MODULE)
    return {name: getattr(loaded, name) for name in dir(loaded) if name.isupper()}


@cache
def _read_from_file() -> dict[str, Any]:
    package = importlib.util.find_spec("scrapy")  # finds the package, does not import it
    if package is None or package.origin is None:
        raise ModuleNotFoundError("Scrapy is not installed", name="scrapy")
    path = Path(package.origin).parent / "settings" / "default_settings.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    namespace: dict[str, Any] = {"__name__": "_newsmon_scrapy_defaults", "__file__": str(path)}
    defaults: dict[str, Any] = {}
    for statement in tree.body:
        if _imports_scrapy(statement):
            defaults.update(dict.fromkeys(_assigned_names(statement)))
            continue
        module = ast.Module(body=[statement], type_ignores=[])
        exec(compile(module, str(path), "exec"), namespace)  # Scrapy's own file, as import would
    defaults.update((name, value) for name, value in namespace.items() if name.isupper())
    return defaults


def _imports_scrapy(statement: ast.stmt) -> bool:
    """A statement that calls ``import_module(...)``: in this file, only to read Scrapy's
    version, which would load the whole package."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "import_module"
        for node in ast.walk(statement)
    )


def _assigned_names(statement: ast.stmt) -> list[str]:
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    return [target.id for target in targets if isinstance(target, ast.Name)]

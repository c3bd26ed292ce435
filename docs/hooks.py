"""MkDocs hooks for the disentkit docs (registered in mkdocs.yml ``hooks:``).

* ``<!-- options: package.module:Class -->`` on a line of its own is replaced by
  ``disentkit.options.options_markdown(Class)``: the options table generated from the config
  dataclass's fields, the same source as the CLI flags. A marker that cannot be resolved stops the
  build with the reason (no page is built with a missing table).
* The site's home page is the repository's README.md and ``benchmarks.md`` is benchmarks/RESULTS.md,
  both read at build time (one source each), their repository-relative links rewritten for the site.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

MARKER = re.compile(r"^<!--\s*options:\s*(?P<target>\S*)\s*-->[ \t]*$", re.MULTILINE)
ANY_MARKER = re.compile(r"<!--\s*options:")

#: repository files published as site pages: repository path → page path
GENERATED_PAGES = {"README.md": "index.md", "benchmarks/RESULTS.md": "benchmarks.md"}
#: links as written in those files (relative to the repository root) → links from the site's root
LINK_REWRITES = (("](docs/", "]("), ("](benchmarks/RESULTS.md", "](benchmarks.md"))


def _resolve(target: str, page: str):
    """``module:Class`` → the class; any failure is a PluginError naming the page and the marker."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise PluginError(f"{page}: options marker {target!r} is not of the form package.module:Class")
    try:
        options_markdown = importlib.import_module("disentkit.options").options_markdown
    except (ImportError, AttributeError) as error:
        raise PluginError(
            f"{page}: the options marker {target!r} needs disentkit.options.options_markdown(cls) "
            f"-> str, which could not be imported ({type(error).__name__}: {error})"
        ) from error
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise PluginError(
            f"{page}: options marker {target!r}: cannot import {attr} from {module_name} "
            f"({type(error).__name__}: {error})"
        ) from error
    return options_markdown, cls


def render_options(markdown: str, page: str = "<page>") -> str:
    """Replace every options marker of ``markdown`` with the generated table."""

    def table(match: re.Match) -> str:
        options_markdown, cls = _resolve(match.group("target"), page)
        text = options_markdown(cls)
        if not isinstance(text, str) or not text.strip():
            raise PluginError(f"{page}: options_markdown({cls.__name__}) returned no table")
        return text.strip()

    replaced = MARKER.sub(table, markdown)
    if ANY_MARKER.search(replaced):
        line = next(ln for ln in replaced.splitlines() if ANY_MARKER.search(ln))
        raise PluginError(f"{page}: malformed options marker (it must be a line of its own): {line.strip()}")
    return replaced


def on_files(files, config):
    """Add README.md and benchmarks/RESULTS.md as generated pages."""
    root = Path(config["config_file_path"]).parent
    for source, dest in GENERATED_PAGES.items():
        text = (root / source).read_text(encoding="utf-8")
        for old, new in LINK_REWRITES:
            text = text.replace(old, new)
        if files.get_file_from_path(dest) is not None:
            raise PluginError(f"docs/{dest} exists, but the hook builds that page from {source}")
        files.append(File.generated(config, dest, content=text))
    return files


def on_page_markdown(markdown, page, config, files):
    return render_options(markdown, page.file.src_uri)

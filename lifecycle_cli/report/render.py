"""Render a classify or diff result (its `to_dict()`) as Rich text, JSON, Markdown or HTML.

JSON is the result itself; the other formats draw its report (results.report: typed
sections) with one renderer each: terminal.py, markdown.py, html.py."""

from __future__ import annotations

import json
from typing import Any

from ..base.safe import json_safe, terminal_safe_tree

FORMATS = ("text", "json", "markdown", "html")


def render(result: dict[str, Any], fmt: str) -> str:
    """JSON, Markdown or HTML text of a result (text goes through `render_rich`)."""
    if fmt == "json":
        return json_safe(json.dumps(result, indent=2, ensure_ascii=False)) + "\n"
    if fmt == "markdown":
        return to_markdown(result)
    if fmt == "html":
        return to_html(result)
    raise ValueError(fmt)


def format_for_path(path: str) -> str:
    lowered = path.lower()
    for suffix, fmt in (
        (".json", "json"),
        (".md", "markdown"),
        (".markdown", "markdown"),
        (".html", "html"),
        (".htm", "html"),
    ):
        if lowered.endswith(suffix):
            return fmt
    return "text"


def render_rich(result: dict[str, Any], console) -> None:
    """The text report. Values from the exports (names, stage labels, file names) are shown with
    their control characters escaped and never read as Rich markup."""
    from . import terminal
    from .results import report

    # Escaped before the report is made: short stage names are cut from the escaped labels.
    terminal.render(report(terminal_safe_tree(result)), console)


def to_markdown(result: dict[str, Any]) -> str:
    from . import markdown
    from .results import report

    return markdown.render(report(result))


def to_html(result: dict[str, Any]) -> str:
    from . import html
    from .results import report

    return html.render(report(result))

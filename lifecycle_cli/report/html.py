"""Any report (sections.py) as one self-contained HTML page, drawn by Jinja2 templates.

The templates (templates/) escape every value they print: autoescape is on, and each value
goes through safe.html_safe first (entities, and control characters written out), so text
from the files never becomes markup. Jinja2 is imported only when a page is drawn."""

from __future__ import annotations

import functools
import re
from typing import Any

from ..base.safe import html_safe
from .changes_table import page_view
from .sections import HTML, MOVE_WORDS, NUMERIC_ON_A_PAGE, Report, Transitions, cell_text, plain

#: A move's class on a page (its colour).
MOVE_CLASS = {
    "promotion": "up",
    "demotion": "down",
    "sideways": "side",
    "unchanged": "dim",
    "newly_staged": "",
    "cleared": "side",
}
#: A heatmap cell's colour, by move.
HEAT = {
    "promotion": (27, 122, 53),
    "demotion": (198, 40, 40),
    "sideways": (200, 140, 0),
    "newly_staged": (59, 111, 216),
    "cleared": (140, 60, 160),
    "unchanged": (120, 130, 145),
}
#: The heatmap's cell width and height, and the room left for the labels on its left and top.
CELL_W, CELL_H, LEFT, TOP = 96, 38, 150, 70


def render(report: Report) -> str:
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            leading=report.leading(HTML),
            body=[s for s in report.body(HTML) if s.lead is None],
        )
    )


def _escaped(value: Any):
    """Every printed value as the project escapes HTML (safe.html_safe), marked as done so
    that autoescape leaves it as it is; text with nothing to escape is left to autoescape
    (the same bytes, in about half the time on a large change list)."""
    if isinstance(value, _Markup):
        return value
    text = "" if value is None else str(value)
    if text.isprintable() and not _HTML_SPECIAL.search(text):
        return text
    return _Markup(html_safe(text))


#: What HTML escapes; the rest safe.html_safe escapes is not printable (str.isprintable).
_HTML_SPECIAL = re.compile("[&<>\"']")


_Markup: Any = None  #: markupsafe.Markup, imported with Jinja2 (environment())


@functools.cache
def environment():
    global _Markup
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup

    _Markup = Markup

    env = Environment(
        loader=PackageLoader("lifecycle_cli.report", "templates"),
        autoescape=True,
        finalize=_escaped,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = lambda value, kind: cell_text(kind, value)
    env.filters["count"] = lambda value: f"{value:,}"
    env.filters["plain"] = plain
    env.globals.update(
        NUMERIC=NUMERIC_ON_A_PAGE,
        MOVE_CLASS=MOVE_CLASS,
        MOVE_WORDS=MOVE_WORDS,
        heatmap=heatmap,
        page_view=page_view,
    )
    return env


def heatmap(section: Transitions) -> dict[str, Any]:
    """The transition matrix as places on an SVG heatmap: one cell per (before, after)."""
    stages = [sid for sid, _ in section.stages]
    peak = max((n for _, n in section.cells.values()), default=1) or 1
    width = LEFT + CELL_W * len(stages) + 10
    height = TOP + CELL_H * len(stages) + 10
    columns = [
        (LEFT + j * CELL_W + CELL_W / 2, section.label(stage)) for j, stage in enumerate(stages)
    ]
    rows = []
    for i, frm in enumerate(stages):
        y = TOP + i * CELL_H
        cells = []
        for j, to in enumerate(stages):
            cells.append(_heat_cell(section, frm, to, LEFT + j * CELL_W, y, peak))
        rows.append({"y": y + CELL_H / 2 + 4, "label": section.label(frm), "cells": cells})
    return {
        "width": width,
        "height": height,
        "corner": (LEFT - 8, TOP - 48),
        "label_x": LEFT - 8,
        "label_y": TOP - 12,
        "columns": columns,
        "rows": rows,
    }


def _heat_cell(section: Transitions, frm: str, to: str, x: int, y: int, peak: int) -> dict:
    found = section.cells.get((frm, to))
    cell: dict[str, Any] = {"x": x, "y": y, "w": CELL_W - 2, "h": CELL_H - 2, "found": bool(found)}
    if not found:
        return cell
    direction, count = found
    r, g, b = HEAT[direction]
    alpha = 0.15 + 0.85 * (count / peak) ** 0.5
    return cell | {
        "fill": f"rgba({r},{g},{b},{alpha:.2f})",
        "demotion": direction == "demotion",
        "title": f"{section.label(frm)} → {section.label(to)}: {count:,} ({MOVE_WORDS[direction]})",
        "text_x": x + CELL_W / 2 - 1,
        "text_y": y + CELL_H / 2 + 4,
        "ink": "#fff" if alpha > 0.55 else "#1d2330",
        "text": f"{MOVE_WORDS[direction][0]} {count:,}",
    }

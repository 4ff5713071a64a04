"""`lifecycle history`: the runs classify --history recorded, as a report (charts on a page,
tables and sparklines in a terminal)."""

from __future__ import annotations

from typing import Any

from ..io.history import sparkline, stage_series
from .sections import COUNT, HTML, TEXT, Chart, Column, Notes, Report, Table


def report(view: dict[str, Any]) -> Report:
    """The runs as a report: on a page two charts and every run; in a terminal the last runs,
    a sparkline per stage and the gates that tripped."""
    runs = view["runs"]
    gates = tuple(f"{run.get('at')}: {reason}" for run in runs for reason in run.get("gates") or [])
    sections = [
        stages_chart(runs),
        moves_chart(runs),
        runs_table(runs),
        recent_table(runs),
        trends_table(runs),
        Notes(tone="alarm", formats=ONLY_TEXT, lines=gates) if gates else None,
    ]
    return Report(
        title=f"lifecycle history: {view['folder']}",
        headline=f"{len(runs)} runs, oldest first.",
        framed=False,
        sections=tuple(s for s in sections if s is not None),
    )


def render_rich(view: dict[str, Any], console) -> None:
    from . import terminal

    terminal.render(report(view), console)


def to_html(view: dict[str, Any]) -> str:
    from . import html

    return html.render(report(view))


ONLY_TEXT, ONLY_HTML = frozenset({TEXT}), frozenset({HTML})
#: The counts of a run, as (column, where in the record) for the page's table of every run.
RUN_COUNTS = (
    ("Contacts", ("contacts",)),
    ("Changed", ("moves", "changed")),
    ("▲ up", ("moves", "promotions")),
    ("▼ down", ("moves", "demotions")),
    ("◆ Other", ("moves", "sideways")),
    ("Warnings", ("diagnostics", "warning")),
)


def _count(run: dict[str, Any], path: tuple[str, ...]) -> int:
    found: Any = run
    for key in path:
        found = (found or {}).get(key, 0) if isinstance(found, dict) else 0
    return found or 0


def runs_table(runs: list[dict[str, Any]]) -> Table:
    """Every run, the ones whose gate tripped marked."""
    return Table(
        title="Runs",
        formats=ONLY_HTML,
        columns=(
            Column("Run at (UTC)"),
            *(Column(name, COUNT) for name, _ in RUN_COUNTS),
            Column("Gate"),
        ),
        rows=tuple(
            (
                run.get("at"),
                *(_count(run, path) for _, path in RUN_COUNTS),
                "; ".join(run.get("gates") or []),
            )
            for run in runs
        ),
        # Drawn as a demotion is: the row to look at.
        marks=tuple("demotion" if run.get("gates") else "" for run in runs),
    )


def recent_table(runs: list[dict[str, Any]]) -> Table:
    """The runs in a terminal: short names, so that the table fits 80 columns."""
    short = ("Contacts", "Moved", "▲ up", "▼ down", "◆ Other", "Warn")
    return Table(
        formats=ONLY_TEXT,
        columns=(
            Column("Run (UTC)", whole=True),
            *(Column(name, COUNT, whole=True, alarm=name == "▼ down") for name in short),
            Column("Gate", whole=True, alarm=True),
        ),
        rows=tuple(
            (
                str(run.get("at") or "").replace("T", " ")[:16],
                *(_count(run, path) for _, path in RUN_COUNTS),
                "tripped" if run.get("gates") else "",
            )
            for run in runs
        ),
    )


def trends_table(runs: list[dict[str, Any]]) -> Table:
    return Table(
        title="Contacts per stage, oldest run first",
        formats=ONLY_TEXT,
        columns=(
            Column("Stage", whole=True),
            Column("Trend", whole=True),
            Column("First", COUNT, whole=True),
            Column("Last", COUNT, whole=True),
        ),
        rows=tuple(
            (label, sparkline(values), values[0], values[-1])
            for _, label, values in stage_series(runs)
            if any(values)
        ),
    )


_COLOURS = (
    "#3b6fd8",
    "#1b7a35",
    "#c62828",
    "#8a6100",
    "#8c3ca0",
    "#00838f",
    "#5d4037",
    "#455a64",
    "#ad1457",
    "#2e7d32",
)
#: A chart's size, and the room left for the axis labels on its left, top and bottom.
WIDTH, LEFT, TOP, BOTTOM = 760, 60, 20, 40


def _label(x: Any, y: Any, text: str, anchor: str = "end", size: int = 11):
    attributes = (("x", x), ("y", y), ("text-anchor", anchor), ("font-size", size))
    return ("text", attributes, None, text)


def stages_chart(runs: list[dict[str, Any]]) -> Chart:
    """Contacts per stage after each run: one line per stage."""
    series = stage_series(runs)
    height = 260
    peak = max([max(v) for _, _, v in series] + [1])
    n = max(len(runs) - 1, 1)
    x = lambda i: LEFT + (WIDTH - LEFT - 50) * i / n  # noqa: E731  (room for the last date)
    y = lambda v: TOP + (height - TOP - BOTTOM) * (1 - v / peak)  # noqa: E731
    axis = (("x1", LEFT), ("y1", y(0)), ("x2", WIDTH - 50), ("y2", y(0)), ("stroke", "#999"))
    shapes = [
        ("line", axis, None, None),
        _label(LEFT - 6, y(peak) + 4, f"{peak:,}"),
        _label(LEFT - 6, y(0) + 4, "0"),
    ]
    for i, (_, label, values) in enumerate(series):
        points = " ".join(f"{x(j):.1f},{y(v):.1f}" for j, v in enumerate(values))
        line = (
            ("fill", "none"),
            ("stroke", _COLOURS[i % len(_COLOURS)]),
            ("stroke-width", 2),
            ("points", points),
        )
        shapes.append(("polyline", line, f"{label}: {', '.join(f'{v:,}' for v in values)}", None))
    for j, run in enumerate(runs):
        day = str(run.get("at") or "")[:10]
        shapes.append(_label(f"{x(j):.1f}", height - BOTTOM + 16, day, "middle", 10))
    return Chart(
        title="Contacts per stage",
        width=WIDTH,
        height=height,
        label="Contacts per stage after each run",
        shapes=tuple(shapes),
        legend=tuple((_COLOURS[i % len(_COLOURS)], s[1]) for i, s in enumerate(series)),
    )


#: The moves a run's bars show: (key, words, colour).
MOVE_BARS = (
    ("promotions", "▲ up", "#1b7a35"),
    ("demotions", "▼ down", "#c62828"),
    ("sideways", "◆ to/from Other", "#c88c00"),
)


def moves_chart(runs: list[dict[str, Any]]) -> Chart:
    """Moves per run: a bar each for up, down and to or from Other."""
    height = 200
    peak = max([r["moves"].get(k, 0) for r in runs for k, _, _ in MOVE_BARS] + [1])
    slot = (WIDTH - LEFT - 20) / max(len(runs), 1)
    bar = max(min(slot / 4, 24), 2)
    base = height - BOTTOM
    shapes = [_label(LEFT - 6, TOP + 4, f"{peak:,}")]
    for j, run in enumerate(runs):
        for k, (key, words, colour) in enumerate(MOVE_BARS):
            value = run["moves"].get(key, 0)
            h = (base - TOP) * value / peak
            x = LEFT + slot * j + bar * k + (slot - 3 * bar) / 2
            box = (
                ("x", f"{x:.1f}"),
                ("y", f"{base - h:.1f}"),
                ("width", f"{bar:.1f}"),
                ("height", f"{h:.1f}"),
                ("fill", colour),
            )
            if run.get("gates") and key == "demotions":
                box += (("stroke", "#000"), ("stroke-width", 2))
            shapes.append(("rect", box, f"{run.get('at')}: {value:,} {words}", None))
        day = str(run.get("at") or "")[:10]
        shapes.append(_label(f"{LEFT + slot * j + slot / 2:.1f}", base + 16, day, "middle", 10))
    return Chart(
        title="Moves per run",
        width=WIDTH,
        height=height,
        label="Moves per run: up, down, to or from Other",
        shapes=tuple(shapes),
        legend=tuple((colour, words) for _, words, colour in MOVE_BARS),
        legend_note="(outlined: a gate tripped)",
    )

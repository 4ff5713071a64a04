"""Any report (sections.py) for a terminal, with Rich: one panel, a table per table section.

Text from the files is shown with its control characters escaped and never read as Rich
markup (the panel is printed with markup off; every string goes through terminal_safe)."""

from __future__ import annotations

import re
from typing import Any

from ..base.safe import terminal_safe
from .sections import (
    DELTA,
    LINE,
    MOVE,
    MOVE_WORDS,
    RECORD_ID,
    RIGHT,
    TEXT,
    Column,
    Diagnostics,
    Group,
    KeyValues,
    Notes,
    Report,
    Table,
    Transitions,
    cell_text,
    plain,
)

RICH_STYLES = {
    "promotion": "green",
    "demotion": "bold red",
    "sideways": "yellow",
    "newly_staged": "cyan",
    "cleared": "magenta",
    "unchanged": "dim",
}
#: How a terminal colours a line of notes, by tone.
TONES = {"note": "yellow", "alarm": "red"}
#: How a terminal colours a diagnostic's line, by severity.
SEVERITY_STYLES = {"warning": "yellow", "note": "dim"}


def render(report: Report, console) -> None:
    """Print `report` as one panel on `console`."""
    from rich.console import Group as RichGroup
    from rich.panel import Panel
    from rich.text import Text

    parts: list[Any] = []
    if not report.framed:
        parts.append(Text(terminal_safe(report.title), style="bold"))
    if report.facts is not None:
        parts += [key_values(report.facts), Text("")]
    if report.headline:
        parts.append(Text(terminal_safe(report.headline), style="bold"))
    parts += [
        Text(terminal_safe(line), style="bold red" if hit else "green")
        for hit, line in report.status
    ]
    for n, section in enumerate(report.body(TEXT)):
        # A listing (unframed) follows its title closely: no blank line before its first table.
        if section.kind in SPACED and (report.framed or n):
            parts.append(Text(""))
        parts += SECTIONS[section.kind](section, console.width)
    if not report.framed:
        for part in parts:
            console.print(part, markup=False)
        return
    console.print(
        Panel(
            RichGroup(*parts),
            title=Text(terminal_safe(report.title)),
            title_align="left",
            expand=False,
        ),
        markup=False,
    )


def key_values(section: KeyValues):
    from rich.table import Table as RichTable
    from rich.text import Text

    grid = RichTable.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value, given in section.rows:
        value = terminal_safe(value)
        grid.add_row(terminal_safe(name), value if given else Text(value, style="yellow"))
    return grid


def cell(column: Column, value: Any):
    from rich.text import Text

    kind, text = column.kind, terminal_safe(cell_text(column.kind, value))
    if column.alarm:
        return Text(text, style="red")
    if kind == MOVE:
        return Text(text, style=RICH_STYLES[value])
    if kind == DELTA:
        return Text(text, style="green" if value > 0 else "red" if value < 0 else "dim")
    return text


def table(section: Table, width: int = 0):
    from rich.table import Table as RichTable

    shown = section.shown(TEXT)
    drawn = RichTable(
        title=terminal_safe(section.title) or None, title_justify="left", show_edge=False
    )
    for i, column in shown:
        options: dict[str, Any] = {"justify": "right" if column.kind in RIGHT else "left"}
        if column.whole or column.kind in (LINE, RECORD_ID):  # an id: never cut
            options["no_wrap"] = True
        if column.kind == RECORD_ID:
            longest = max((len(cell_text(RECORD_ID, row[i])) for row in section.rows), default=0)
            options["min_width"] = max(longest, len(column.name))
        if column.fold:  # these give way first, folded onto more lines
            options["overflow"] = "fold"
        drawn.add_column(terminal_safe(column.name), **options)
    for row in section.rows:
        drawn.add_row(*(cell(column, row[i]) for i, column in shown))
    return drawn


def table_section(section: Table, width: int) -> list[Any]:
    from rich.text import Text

    parts = [table(section)]
    if section.note:
        parts.append(Text(terminal_safe(plain(section.note)), style="dim"))
    return parts


def group_section(section: Group, width: int) -> list[Any]:
    from rich.text import Text

    text = terminal_safe(f"{section.title}: {section.text}")
    parts: list[Any] = [Text(text, style="bold")]
    for part in section.parts:
        parts += [Text(""), table(part)]
    return parts


def notes_section(section: Notes, width: int) -> list[Any]:
    from rich.text import Text

    style = TONES.get(section.tone)
    return [Text(terminal_safe(plain(line)), style=style) for line in section.lines]


def diagnostics_section(section: Diagnostics, width: int) -> list[Any]:
    from rich.text import Text

    style = SEVERITY_STYLES.get(section.severity)
    return [Text(terminal_safe(f"{section.word}: {line}"), style=style) for line in section.lines]


def transitions_section(section: Transitions, width: int) -> list[Any]:
    from rich.text import Text

    matrix, legend = _matrix(section, width)
    caption = "Transitions (rows: before, columns: after; ▲ up ▼ down ◆ Other)"
    parts = [Text(caption, style="italic"), matrix]
    if legend:
        parts.append(Text(legend, style="dim"))
    return parts


#: Sections a framed report sets off with a blank line (lines of notes follow closely).
SPACED = frozenset({"table", "group", "transitions"})
SECTIONS = {
    "table": table_section,
    "group": group_section,
    "notes": notes_section,
    "diagnostics": diagnostics_section,
    "transitions": transitions_section,
}


# --------------------------------------------------------------------------- the matrix


def short_names(section: Transitions) -> dict[str, str]:
    """A short name per stage for a narrow terminal: the initials of a label of several words
    (Marketing Lead: ML), a short word as it is (Lead), else its first four letters (Oppo)."""
    names: dict[str, str] = {}
    for stage_id, text in section.stages:
        words = re.findall(r"\w+", text)
        if stage_id == "(empty)":
            short = "none"
        elif len(words) > 1:
            short = "".join(w[0].upper() for w in words)
        else:
            short = text if len(text) <= 5 else text[:4]
        while short in names.values():  # two stages alike: number the later one
            short = short[:-1] + str(len(names))
        names[stage_id] = short
    return names


def _compact(count: int) -> str:
    """1,234 as 1.2k, 12,345 as 12k, 1,234,567 as 1.2M: for a matrix that would not fit else."""
    if count < 1000:
        return str(count)
    if count < 10_000:
        return f"{count / 1000:.1f}k"
    if count < 1_000_000:
        return f"{count // 1000}k"
    return f"{count / 1_000_000:.1f}M"


def _layout(section: Transitions, level: int):
    """The rows, columns, stage names and cell text of the matrix at a level of shortening:
    0 all stages and labels, 1 only the stages moved from and to with short names, 2 also
    short counts."""
    stages = [sid for sid, _ in section.stages]
    shorts = short_names(section)
    if level == 0:
        rows = cols = stages
    else:
        rows = [s for s in stages if any(n for (f, _), (_, n) in section.cells.items() if f == s)]
        cols = [s for s in stages if any(n for (_, t), (_, n) in section.cells.items() if t == s)]
    name = section.label if level == 0 else shorts.get
    number = _compact if level == 2 else (lambda n: f"{n:,}")  # noqa: E731

    def cell(frm: str, to: str) -> str:
        found = section.cells.get((frm, to))
        if not found:
            return "·"
        direction, count = found
        glyph = "" if direction == "unchanged" else MOVE_WORDS[direction][0] + " "
        return f"{glyph}{number(count)}"

    return rows, cols, name, cell


def _matrix(section: Transitions, width: int):
    """The transition matrix as wide as the terminal allows: stage labels when it fits, else
    short names with a legend, only the stages contacts come from (rows) and go to (columns),
    then short counts (12k). Returns the table and the legend (None with labels)."""
    from rich.table import Table as RichTable
    from rich.text import Text

    for level in (0, 1, 2):
        rows, cols, name, cell = _layout(section, level)
        widths = [max([len("from \\ to")] + [len(name(r)) for r in rows])]
        widths += [max([len(name(c))] + [len(cell(r, c)) for r in rows]) for c in cols]
        # Columns, the spaces and rules between them, and the panel's borders and padding.
        if sum(widths) + 3 * len(widths) + 3 <= width or level == 2:
            break
    matrix = RichTable(show_edge=False)  # its title is a line of its own: the table may be narrow
    matrix.add_column("from \\ to", no_wrap=True)
    for stage_id in cols:
        matrix.add_column(terminal_safe(name(stage_id)), justify="right", no_wrap=True)
    for frm in rows:
        drawn = []
        for to in cols:
            found = section.cells.get((frm, to))
            style = RICH_STYLES[found[0]] if found else "dim"
            drawn.append(Text(cell(frm, to), style=style))
        matrix.add_row(terminal_safe(name(frm)), *drawn)
    legend = None
    if level:
        shorts = short_names(section)
        legend = "Stages: " + ", ".join(
            f"{shorts[s]} = {terminal_safe(label)}"
            for s, label in section.stages
            if shorts[s] != label
        )
        if level == 2:
            legend += "; counts: k = thousand, M = million"
    return matrix, legend

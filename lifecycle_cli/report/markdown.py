"""Any report (sections.py) as Markdown: a pull request comment, a CI job summary, a wiki page.

Text from the files is escaped (safe.markdown_safe): it never becomes a link, an image,
emphasis or a table cell break."""

from __future__ import annotations

from typing import Any

from ..base.safe import markdown_code, markdown_safe
from .sections import (
    CODE,
    MARKDOWN,
    MOVE_WORDS,
    RIGHT,
    Diagnostics,
    Group,
    Notes,
    Prose,
    Report,
    Table,
    Code,
    Transitions,
    cell_text,
)


class _Md(str):
    """Markdown the renderer writes itself (a bold label around escaped text): kept as it is."""


def _md(text: Any) -> str:
    """Text for a Markdown line or cell: one line, shown as written (safe.markdown_safe);
    prose with its code as code spans."""
    if isinstance(text, Prose):
        return "".join(
            markdown_code(p.text) if isinstance(p, Code) else markdown_safe(p) for p in text.parts
        )
    return text if isinstance(text, _Md) else markdown_safe(text)


def _cell(kind: str, value: Any) -> str:
    text = cell_text(kind, value)
    return _Md(markdown_code(text)) if kind == CODE else text


def _bold(text: Any) -> _Md:
    return _Md(f"**{markdown_safe(text)}**")


def md_table(headers: list[Any], rows: list[list[Any]], right: set[int] = frozenset()) -> list[str]:
    lines = [
        "| " + " | ".join(_md(h) for h in headers) + " |",
        "|" + "|".join("--:" if i in right else "---" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render(report: Report) -> str:
    out = [f"## {_md(report.title)}", ""]
    if report.headline:
        out += [f"**{_md(report.headline)}**", ""]
    if report.status:
        out += [f"- **{_md(line)}**" if hit else f"- {_md(line)}" for hit, line in report.status]
        out += [""]
    if report.facts is not None:
        out += md_table(["", ""], [[_bold(k), v] for k, v, _ in report.facts.rows])
    for section in report.body(MARKDOWN):
        out += SECTIONS[section.kind](section)
    return "\n".join(out).rstrip("\n") + "\n"


def table(section: Table) -> list[str]:
    shown = section.shown(MARKDOWN)
    return md_table(
        [c.name for _, c in shown],
        [[_cell(c.kind, row[i]) for i, c in shown] for row in section.rows],
        right={n for n, (_, c) in enumerate(shown) if c.kind in RIGHT},
    )


def table_section(section: Table) -> list[str]:
    out = [f"### {_md(section.title)}", ""] + table(section)
    if section.note:
        out += [_md(section.note), ""]
    return out


def group_section(section: Group) -> list[str]:
    out = [f"### {_md(section.title)}", "", _md(section.text), ""]
    for part in section.parts:
        out += table(part)
    return out


def notes_section(section: Notes) -> list[str]:
    return [_md(line) for line in section.lines] + [""]


def diagnostics_section(section: Diagnostics) -> list[str]:
    return [f"### {_md(section.title)}", ""] + [f"- {_md(line)}" for line in section.lines] + [""]


def transitions_section(section: Transitions) -> list[str]:
    stages = [sid for sid, _ in section.stages]
    rows = []
    for frm in stages:
        row: list[Any] = [_bold(section.label(frm))]
        for to in stages:
            found = section.cells.get((frm, to))
            row.append(f"{MOVE_WORDS[found[0]][0]} {found[1]:,}" if found else "·")
        rows.append(row)
    return [
        f"### {_md(section.title)}",
        "",
        "Rows: stage before; columns: stage after. ▲ up, ▼ down, ◆ to or from Other, = unchanged.",
        "",
    ] + md_table(
        ["from \\ to"] + [section.label(s) for s in stages],
        rows,
        right=set(range(1, len(stages) + 1)),
    )


SECTIONS = {
    "table": table_section,
    "group": group_section,
    "notes": notes_section,
    "diagnostics": diagnostics_section,
    "transitions": transitions_section,
}

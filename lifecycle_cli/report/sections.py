"""A report as typed sections: what a result says, apart from how each format draws it.

A command turns its result into a `Report` (a title, a headline, pass/fail lines, the facts
of the run and a list of sections); one renderer per format (terminal.py, markdown.py,
html.py) draws any report. A new section is one more entry in a command's list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..base.diagnostics import as_text

TEXT, MARKDOWN, HTML = "text", "markdown", "html"
EVERY = frozenset({TEXT, MARKDOWN, HTML})
TEXT_AND_MARKDOWN = frozenset({TEXT, MARKDOWN})

#: Words and glyphs for each kind of move: colour is never the only carrier of meaning.
MOVE_WORDS = {
    "promotion": "▲ up",
    "demotion": "▼ down",
    "sideways": "◆ to/from Other",
    "newly_staged": "+ new",
    "cleared": "− cleared",
    "unchanged": "= same",
}

# Column kinds: what a value is, which says how it is written and aligned.
#: Plain text from the files or the rules (names, labels, rule ids).
TEXT_KIND = "text"
#: A number of records: 1,234, right-aligned.
COUNT = "count"
#: A change in a count: +3, -1 or 0, right-aligned; a terminal colours its sign.
DELTA = "delta"
#: A kind of move (promotion, demotion, ...): its words and glyph, coloured by direction.
MOVE = "move"
#: A record's id: the one value needed to find it, never cut in a terminal.
RECORD_ID = "id"
#: A row number in a file: a label in a terminal and Markdown, tabular figures on a page.
LINE = "line"
#: Text from the rules that is code (a condition, a stored value): a code span in Markdown.
CODE = "code"
#: Before and after as two bars (a page only): the value is (before, after, peak).
BARS = "bars"
#: Kinds right-aligned in a terminal and Markdown; a page also sets LINE in tabular figures.
RIGHT = frozenset({COUNT, DELTA})
NUMERIC_ON_A_PAGE = RIGHT | {LINE}


def plain(text: str | Prose) -> str:
    """Text or prose as text (code between backticks)."""
    return text.plain() if isinstance(text, Prose) else text


def cell_text(kind: str, value: Any) -> str:
    """A cell's value as text, the same in every format (before each format's escaping)."""
    if kind == COUNT:
        return f"{value:,}"
    if kind == DELTA:
        return f"{value:+,}" if value else "0"
    if kind == MOVE:
        return MOVE_WORDS[value]
    return "" if value is None else str(value)


def finding_line(found: dict[str, Any]) -> str:
    """One diagnostic (as in `Diagnostic.to_dict()`) on one line of a report, with its hint:
    base/diagnostics.as_text, the one renderer of findings."""
    return as_text(found, inline=True)


@dataclass(frozen=True)
class Code:
    """A name or value to type as it is (a rule id, a key of the rules file)."""

    text: str


@dataclass(frozen=True)
class Prose:
    """A line of text and code: Markdown makes each `Code` a code span, the other formats
    show it between backticks."""

    parts: tuple[str | Code, ...]

    def plain(self) -> str:
        return "".join(f"`{p.text}`" if isinstance(p, Code) else p for p in self.parts)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = TEXT_KIND
    #: Long values fold onto more lines in a terminal: these columns give way first.
    fold: bool = False
    #: Never wrapped or cut in a terminal (a time, a count to read at a glance).
    whole: bool = False
    #: Values to see at once (red in a terminal).
    alarm: bool = False
    formats: frozenset[str] = EVERY


@dataclass(frozen=True, kw_only=True)
class Section:
    kind: ClassVar[str]
    title: str = ""
    formats: frozenset[str] = EVERY
    #: Rank among what needs a decision first (warnings, unknown values): a page, read from the
    #: top, shows these right after the headline; a terminal and Markdown keep them last.
    lead: int | None = None


@dataclass(frozen=True, kw_only=True)
class Table(Section):
    kind: ClassVar[str] = "table"
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    #: A mark per row for a page (`demotion` rows stand out); empty: none.
    marks: tuple[str, ...] = ()
    #: A line under the table (dim in a terminal).
    note: str | Prose | None = None

    def shown(self, fmt: str) -> list[tuple[int, Column]]:
        """The columns a format shows, with their index in a row."""
        return [(i, c) for i, c in enumerate(self.columns) if fmt in c.formats]


@dataclass(frozen=True, kw_only=True)
class KeyValues(Section):
    kind: ClassVar[str] = "key_values"
    #: (name, value, given): a value not given is marked (yellow in a terminal).
    rows: tuple[tuple[str, str, bool], ...]


@dataclass(frozen=True, kw_only=True)
class Notes(Section):
    """Lines of their own, without a heading."""

    kind: ClassVar[str] = "notes"
    lines: tuple[str | Prose, ...]
    #: note: to heed (yellow in a terminal); alarm: gone wrong (red); plain: just text.
    tone: str = "note"


@dataclass(frozen=True, kw_only=True)
class Diagnostics(Section):
    """A run's warnings or notes (their dicts), under a heading; one line each."""

    kind: ClassVar[str] = "diagnostics"
    severity: str
    found: tuple[dict[str, Any], ...]
    #: The word before each line in a terminal, where there is no heading.
    word: str = ""

    @property
    def lines(self) -> list[str]:
        return [finding_line(d) for d in self.found]


@dataclass(frozen=True, kw_only=True)
class Group(Section):
    """A heading, a line under it and tables (whose titles only a terminal shows)."""

    kind: ClassVar[str] = "group"
    text: str
    parts: tuple[Table, ...]


@dataclass(frozen=True, kw_only=True)
class Transitions(Section):
    """How many records went from each stage (rows) to each stage (columns), and which way."""

    kind: ClassVar[str] = "transitions"
    #: (stage id, label) in the rules' order.
    stages: tuple[tuple[str, str], ...]
    #: (from, to) -> (direction, count).
    cells: dict[tuple[str, str], tuple[str, int]]

    def label(self, stage_id: str) -> str:
        return next((name for sid, name in self.stages if sid == stage_id), stage_id)


@dataclass(frozen=True, kw_only=True)
class ChangeList(Section):
    """Every change as a filterable page table (see changes_table)."""

    kind: ClassVar[str] = "change_list"
    table_id: str
    data: dict[str, Any]


#: A shape of a chart: its SVG tag, its attributes in order, a tooltip and its text.
Shape = tuple[str, tuple[tuple[str, Any], ...], str | None, str | None]


@dataclass(frozen=True, kw_only=True)
class Chart(Section):
    """A drawing for a page, its shapes placed by the command; the other formats show the same
    numbers as a table."""

    kind: ClassVar[str] = "chart"
    formats: frozenset[str] = frozenset({HTML})
    width: int
    height: int
    #: What the chart shows, for a screen reader.
    label: str
    shapes: tuple[Shape, ...]
    #: (colour, words) under the chart, and a last word for the legend.
    legend: tuple[tuple[str, str], ...] = ()
    legend_note: str = ""


@dataclass(frozen=True)
class Report:
    title: str
    headline: str = ""
    #: (tripped, line): pass/fail lines right under the headline (a CI summary shows why).
    status: tuple[tuple[bool, str], ...] = ()
    #: The run's facts: on top in a terminal, after the headline in Markdown, a section on a page.
    facts: KeyValues | None = None
    sections: tuple[Section, ...] = field(default_factory=tuple)
    #: A terminal draws the report in one panel, a blank line between its sections; unframed,
    #: the title is a bold line and the sections follow it closely (a listing).
    framed: bool = True

    def body(self, fmt: str) -> list[Section]:
        """The sections a format shows, in order."""
        return [s for s in self.sections if fmt in s.formats]

    def leading(self, fmt: str) -> list[Section]:
        """The sections a page shows first, in their lead order."""
        return sorted((s for s in self.body(fmt) if s.lead is not None), key=lambda s: s.lead)

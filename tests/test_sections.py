"""The typed report sections: one section reaches every format, escaped in each, and the page's
templates (Jinja2) load only when a page is drawn."""

from __future__ import annotations

import io
import subprocess
import sys
from importlib.resources import files

from rich.console import Console

from lifecycle_cli.report import html, markdown, terminal
from lifecycle_cli.report.sections import (
    COUNT,
    DELTA,
    MOVE,
    TEXT_AND_MARKDOWN,
    Code,
    Column,
    Notes,
    Prose,
    Report,
    Table,
)

HOSTILE = "<script>alert(1)</script> **bold** [x](https://evil.example) \x1b[2J \u202e"


def report(*sections) -> Report:
    return Report(title="lifecycle test: a.csv", headline="3 moved", sections=sections)


def text_of(rep: Report, width: int = 120) -> str:
    buffer = io.StringIO()
    terminal.render(rep, Console(file=buffer, width=width, no_color=True, color_system=None))
    return buffer.getvalue()


def test_a_new_table_is_one_entry_and_reaches_every_format() -> None:
    new = Table(
        title="Owners",
        columns=(Column("Owner"), Column("Contacts", COUNT), Column("Change", DELTA)),
        rows=(("Ada", 1234, -2), ("Grace", 5, 0)),
    )
    rep = report(new)
    shown = text_of(rep)
    assert "Owners" in shown and "1,234" in shown and "-2" in shown
    md = markdown.render(rep)
    assert "### Owners\n\n| Owner | Contacts | Change |\n|---|--:|--:|\n| Ada | 1,234 | -2 |" in md
    page = html.render(rep)
    assert (
        '<h2>Owners</h2><table><thead><tr><th scope="col">Owner</th>'
        '<th class=n scope="col">Contacts</th>' in page
    )
    assert "<td>Ada</td><td class=n>1,234</td><td class=n>-2</td>" in page


def test_text_from_the_files_stays_text_in_every_format() -> None:
    rows = ((HOSTILE, 1, "demotion"),)
    columns = (Column("Name"), Column("Records", COUNT), Column("Move", MOVE))
    rep = Report(
        title=HOSTILE,
        headline=HOSTILE,
        sections=(Table(title=HOSTILE, columns=columns, rows=rows), Notes(lines=(HOSTILE,))),
    )
    shown = text_of(rep, width=400)
    assert "\x1b" not in shown and "\u202e" not in shown and "\\x1b[2J" in shown
    page = html.render(rep)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page and "\\u202e" in page
    assert '<span class="down">▼ down</span>' in page  # our own markup is kept
    md = markdown.render(rep)
    assert "<script>" not in md and "\\*\\*bold\\*\\*" in md and "\\[x\\]" in md


def test_a_section_for_some_formats_only() -> None:
    rep = report(
        Table(
            title="Only words",
            formats=TEXT_AND_MARKDOWN,
            columns=(Column("A"),),
            rows=(("a value wider than its title",),),
        )
    )
    assert "Only words" in text_of(rep) and "### Only words" in markdown.render(rep)
    assert "Only words" not in html.render(rep)


def test_code_is_a_code_span_in_markdown_only() -> None:
    line = Prose(("keep it (rule ", Code("a`b"), ")"))
    rep = report(Notes(lines=(line,), tone="plain"))
    assert "keep it (rule ``a`b``)" in markdown.render(rep)
    assert "keep it (rule `a`b`)" in text_of(rep)
    assert "<p>keep it (rule `a`b`)</p>" in html.render(rep)


def test_the_templates_are_package_data() -> None:
    templates = files("lifecycle_cli.report") / "templates"
    for name in ("report.html.j2", "sections.html.j2", "report.css"):
        assert (templates / name).is_file(), name


def test_jinja2_loads_only_when_a_page_is_drawn() -> None:
    code = (
        "import sys\n"
        "from lifecycle_cli.report import markdown, render\n"
        "from lifecycle_cli.report.sections import Report\n"
        "markdown.render(Report(title='t', headline='h'))\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 loaded for Markdown'\n"
        "from lifecycle_cli.report import html\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 loaded on import'\n"
        "html.render(Report(title='t', headline='h'))\n"
        "assert 'jinja2' in sys.modules\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr

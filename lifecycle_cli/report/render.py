"""Render a classify or diff result (its `to_dict()`) as Rich text, JSON, Markdown or HTML."""

from __future__ import annotations

import json
from typing import Any

from ..base.diagnostics import as_text, listed
from ..base.safe import html_safe, json_safe, markdown_safe, terminal_safe_tree

FORMATS = ("text", "json", "markdown", "html")
#: Words and glyphs for each kind of move: colour is never the only carrier of meaning.
MOVE_WORDS = {
    "promotion": "▲ up",
    "demotion": "▼ down",
    "sideways": "◆ to/from Other",
    "newly_staged": "+ new",
    "cleared": "− cleared",
    "unchanged": "= same",
}
RICH_STYLES = {
    "promotion": "green",
    "demotion": "bold red",
    "sideways": "yellow",
    "newly_staged": "cyan",
    "cleared": "magenta",
    "unchanged": "dim",
}


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


# --------------------------------------------------------------------------- shared wording


def label(result: dict[str, Any], stage_id: str) -> str:
    return next((s["label"] for s in result["stages"] if s["stage"] == stage_id), stage_id)


def title(result: dict[str, Any]) -> str:
    files = result["files"]
    if result["command"] == "diff":
        return f"lifecycle diff: {files['before']} → {files['after']}"
    # The mode comes before the path: a narrow terminal cuts the end of a panel title.
    mode = ", check only (nothing written)" if result.get("checked_only") else ""
    return f"lifecycle classify{mode}: {files['contacts']}"


def headline(result: dict[str, Any]) -> str:
    s = result["summary"]
    moves = (
        f"{s['promotions']:,} up, {s['demotions']:,} down, {s['sideways']:,} to or from Other, "
        f"{s['newly_staged']:,} newly staged"
    )
    if result["command"] == "diff":
        cleared = f", {s['cleared']:,} cleared" if s["cleared"] else ""
        return (
            f"{s['changed']:,} of {s['common']:,} records in both files changed stage: {moves}{cleared}; "
            f"{s['unchanged']:,} unchanged. {s['added']:,} added, {s['removed']:,} removed."
        )
    return f"{s['changed']:,} of {s['contacts']:,} contacts change stage: {moves}; {s['unchanged']:,} unchanged."


def file_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    files, rows = result["files"], []
    if result["command"] == "diff":
        s = result["summary"]
        rows.append(("Before", f"{files['before']} ({s['rows_before']:,} rows)"))
        rows.append(("After", f"{files['after']} ({s['rows_after']:,} rows)"))
        cols = result["columns"]
        rows.append(
            (
                "Matched on",
                f"{cols['key']}; stage column {cols['stage']}"
                + (f"; rule column {cols['rule']}" if cols["rule"] else ""),
            )
        )
    else:
        links = result["links"]
        rows.append(
            ("Contacts", f"{files['contacts']} ({result['summary']['contacts']:,} contacts)")
        )
        for role, what, total, matched, unknown, words in (
            (
                "Deals",
                "deals",
                "deal_rows",
                "deals_linked",
                "deals_with_unknown_contacts",
                "refer to contact ids not in the contacts file",
            ),
            (
                "Consent",
                "consent",
                "consent_rows",
                "consent_rows_matched",
                "consent_rows_unknown_contact",
                "for unknown contacts",
            ),
        ):
            if not files[what]:
                rows.append((role, "not given"))
                continue
            extra = f", {links.get(unknown, 0):,} {words}" if links.get(unknown) else ""
            if what == "deals" and "deals_linked_by_account" in links:
                # Salesforce opportunities without a contact role count for their account's contacts.
                extra = (
                    f" ({links['deals_linked_by_account']:,} through their account, to "
                    f"{links.get('contacts_linked_by_account', 0):,} contacts){extra}"
                )
            rows.append(
                (
                    role,
                    f"{files[what]} ({links.get(total, 0):,} rows, {links.get(matched, 0):,} matched to contacts{extra})",
                )
            )
        if files["output"]:
            rows.append(("Written", files["output"]))
    run = result.get("run") or {}
    rows.append(
        (
            "Rules",
            files["rules"] + (f" (hash {run['rules_hash']})" if run.get("rules_hash") else ""),
        )
    )
    if run.get("at"):
        rows.append(("Run at", run["at"].replace("T", " ").replace("Z", " UTC")))
    return rows


def present_stages(result: dict[str, Any]) -> list[str]:
    return [row["stage"] for row in result["stages"]]


def notes(result: dict[str, Any]) -> list[str]:
    found = [f"Note: {n}." for n in result.get("missing_sources", [])]
    where = result["files"].get("rules_found_by_itself")
    if where:
        found.append(
            f"Note: the rules file {result['files']['rules']} was found by itself "
            f"{where}, not named with --rules; check that it is yours."
        )
    unknown = result.get("unknown") or {}
    if unknown.get("caught"):
        found.append(
            f"Note: {unknown['caught']:,} contacts falling from a higher stage stopped at a rule that "
            "could not be decided (rule kept-unknown): the known facts do not say they belong lower."
        )
    if result.get("redacted"):
        found.append("Note: names and emails are left out of this report (redacted).")
    full = full_list(result)
    if full:
        found.append(f"Note: {full}.")
    return found


def full_list(result: dict[str, Any]) -> str | None:
    """Where the full list of changes is: the examples show a few rows, never all of them."""
    files, s = result["files"], result["summary"]
    moved = s["changed"] + s.get("added", 0) + s.get("removed", 0)
    companies = result.get("companies") or {}
    if not moved and not companies.get("changed"):
        return None
    parts = []
    if files.get("changes"):
        what = (
            "record whose stage changed, added or removed"
            if result["command"] == "diff"
            else "contact whose stage changed"
        )
        parts.append(f"the full list of changes is {files['changes']} (every {what}, one row each)")
    elif result["command"] == "classify" and files.get("output"):
        column = files.get("previous_stage_column") or "Previous Lifecycle Stage"
        parts.append(
            f"the full list of changes is {files['output']}, filtered on rows whose "
            f"'{column}' differs from their stage; --changes FILE writes them alone, "
            "one row each"
        )
    else:
        parts.append(
            "the examples show a few rows; --changes FILE writes the full list, one row each"
        )
    if companies.get("changed"):
        listed = files.get("companies_changes")
        parts.append(
            f"the companies' is {listed}"
            if listed
            else "--companies-changes FILE lists every changed company"
        )
    return "; ".join(parts)


def gate_lines(result: dict[str, Any]) -> list[tuple[bool, str]]:
    """The --fail-on gates given, each with whether it tripped and why (first in every report:
    a CI summary shows why the job failed)."""
    return [
        (g["tripped"], ("Gate tripped: " if g["tripped"] else "Gate passed: ") + g["reason"])
        for g in result.get("gates", [])
    ]


SAMPLE_HEADERS = ["Row", "Record ID", "Name", "From", "To", "Move", "Rule"]


def sample_columns(result: dict[str, Any], cells: list[Any]) -> list[Any]:
    """The example table's headers or one row's cells (in SAMPLE_HEADERS order), without the
    Name column when the report is redacted."""
    return [
        c
        for i, c in enumerate(cells)
        if not (result.get("redacted") and SAMPLE_HEADERS[i] == "Name")
    ]


MISSING_HEADERS = [
    "Missing column",
    "File",
    "Rules it leaves undecided",
    "Contacts kept at their stage",
]


def missing_rows(result: dict[str, Any]) -> list[list[str]]:
    """Columns the rules read that a file lacks: what they left undecided."""
    return [
        [m["header"], m["source"], ", ".join(m["rules"]), f"{m['kept']:,}"]
        for m in result.get("missing_columns", [])
    ]


def warning_lines(result: dict[str, Any], severity: str = "warning") -> list[str]:
    """Every warning (or note) of the run, with its hint."""
    return [
        as_text(d, inline=True) for d in result.get("diagnostics", []) if d["severity"] == severity
    ]


VOCABULARY_HEADERS = ["Column", "Value list", "Values no list names (rows)", "Rules left undecided"]


def vocabulary_rows(result: dict[str, Any]) -> list[list[str]]:
    """Values of the columns the rules read that no value list names: one row per column and list."""
    rows = []
    for entry in result.get("vocabulary", []):
        values = listed(
            (f"{v['value']} ({v['count']:,})" for v in entry["values"]),
            len(entry["values"]) + entry.get("more_values", 0),
        )
        where = (
            entry["header"]
            if entry["source"] == "contacts"
            else f"{entry['header']} ({entry['source']})"
        )
        rows.append([where, entry["list"], values, ", ".join(entry["rules"])])
    return rows


VOCABULARY_NOTE = (
    "A value no list names is unknown, not a no: contacts were kept or stopped on it, never moved. "
    "Sort each value into the list's `in` or `not_in` in the rules file."
)


def companies_headline(result: dict[str, Any]) -> str | None:
    c = result.get("companies")
    if c is None:
        return None
    kept = next((r["count"] for r in c["decided_by"] if r["rule"] == "kept-unknown"), 0)
    return (
        f"{c['changed']:,} of {c['companies']:,} companies in {c['file']} changed stage: {c['promotions']:,} up, "
        f"{c['demotions']:,} down, {c['sideways']:,} to or from Other, {c['newly_staged']:,} newly staged; "
        f"{kept:,} kept their stage (no contact that counts and no deal in the files)"
    )


def companies_stage_rows(result: dict[str, Any]) -> list[list[str]]:
    return [
        [
            r["label"],
            f"{r['before']:,}",
            f"{r['after']:,}",
            f"{r['delta']:+,}" if r["delta"] else "0",
        ]
        for r in result["companies"]["stages"]
    ]


def companies_moves(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The companies' moves, demotions first."""
    moves = [t for t in result["companies"]["transitions"] if t["direction"] != "unchanged"]
    return sorted(moves, key=lambda t: (t["direction"] != "demotion", -t["count"]))


# --------------------------------------------------------------------------- Rich


def render_rich(result: dict[str, Any], console) -> None:
    """The text report. Values from the exports (names, stage labels, file names) are shown with
    their control characters escaped and never read as Rich markup."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    result = terminal_safe_tree(result)

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    for name, value in file_rows(result):
        head.add_row(name, Text(value, style="yellow") if value == "not given" else value)

    counts = Table(title="Stages", title_justify="left", show_edge=False)
    for name, justify in (
        ("Stage", "left"),
        ("Before", "right"),
        ("After", "right"),
        ("Change", "right"),
    ):
        counts.add_column(name, justify=justify)
    for row in result["stages"]:
        delta = row["delta"]
        counts.add_row(
            row["label"],
            f"{row['before']:,}",
            f"{row['after']:,}",
            Text(
                f"{delta:+,}" if delta else "0",
                style="green" if delta > 0 else "red" if delta < 0 else "dim",
            ),
        )

    matrix, legend = _matrix(result, console.width)
    parts: list[Any] = [head, Text(""), Text(headline(result), style="bold")]
    parts += [Text(line, style="bold red" if hit else "green") for hit, line in gate_lines(result)]
    parts += [
        Text(""),
        counts,
        Text(""),
        Text("Transitions (rows: before, columns: after; ▲ up ▼ down ◆ Other)", style="italic"),
        matrix,
    ]
    if legend:
        parts.append(Text(legend, style="dim"))
    if result.get("decided_by"):
        rules = Table(title="Decided by", title_justify="left", show_edge=False)
        for name, justify in (("Rule", "left"), ("Contacts", "right"), ("What it means", "left")):
            rules.add_column(name, justify=justify)
        for row in result["decided_by"]:
            rules.add_row(row["rule"], f"{row['count']:,}", row["description"] or "")
        parts += [Text(""), rules]
    if result.get("column_changes"):
        changes = Table(title="Other columns that changed", title_justify="left", show_edge=False)
        changes.add_column("Column")
        changes.add_column("Records", justify="right")
        for column, n in result["column_changes"].items():
            changes.add_row(column, f"{n:,}")
        parts += [Text(""), changes]
    if result["samples"]:
        sample = Table(title="Examples of the changes", title_justify="left", show_edge=False)
        longest = max((len(str(r["record_id"] or "")) for r in result["samples"]), default=0)
        for name in sample_columns(result, SAMPLE_HEADERS):
            if name == "Record ID":  # the one value needed to find the contact: never cut
                sample.add_column(name, no_wrap=True, min_width=max(longest, len(name)))
            elif name == "Row":
                sample.add_column(name, no_wrap=True)
            else:  # these give way first, folded onto more lines
                sample.add_column(name, overflow="fold")
        for row in result["samples"]:
            kind = _move_of(result, row["from"], row["to"])
            sample.add_row(
                *sample_columns(
                    result,
                    [
                        str(row["row"]),
                        str(row["record_id"] or ""),
                        row["name"] or row["email"] or "",
                        label(result, row["from"]),
                        label(result, row["to"]),
                        Text(MOVE_WORDS[kind], style=RICH_STYLES[kind]),
                        row["rule"] or "",
                    ],
                )
            )
        parts += [Text(""), sample]
    if result.get("companies") is not None:
        companies = result["companies"]
        parts += [Text(""), Text(f"Companies: {companies_headline(result)}", style="bold")]
        table = Table(title="Company stages", title_justify="left", show_edge=False)
        for name, justify in (
            ("Stage", "left"),
            ("Before", "right"),
            ("After", "right"),
            ("Change", "right"),
        ):
            table.add_column(name, justify=justify)
        for row in companies_stage_rows(result):
            table.add_row(*row)
        parts += [Text(""), table]
        if companies_moves(result):
            moves = Table(title="Company moves", title_justify="left", show_edge=False)
            for name, justify in (
                ("From", "left"),
                ("To", "left"),
                ("Companies", "right"),
                ("Move", "left"),
            ):
                moves.add_column(name, justify=justify)
            for t in companies_moves(result):
                moves.add_row(
                    label(companies, t["from"]),
                    label(companies, t["to"]),
                    f"{t['count']:,}",
                    Text(MOVE_WORDS[t["direction"]], style=RICH_STYLES[t["direction"]]),
                )
            parts += [Text(""), moves]
    if missing_rows(result):
        missing = Table(
            title="Columns the files lack (unknown, not empty)",
            title_justify="left",
            show_edge=False,
        )
        for i, name in enumerate(MISSING_HEADERS):
            missing.add_column(name, justify="right" if i == 3 else "left")
        for row in missing_rows(result):
            missing.add_row(*row)
        parts += [Text(""), missing]
    if vocabulary_rows(result):
        vocab = Table(
            title="Vocabulary: values the rules do not know", title_justify="left", show_edge=False
        )
        for name in VOCABULARY_HEADERS:
            vocab.add_column(name)
        for row in vocabulary_rows(result):
            vocab.add_row(*row)
        parts += [Text(""), vocab, Text(VOCABULARY_NOTE, style="dim")]
    for note in notes(result):
        parts.append(Text(note, style="yellow"))
    for line in warning_lines(result):
        parts.append(Text(f"Warning: {line}", style="yellow"))
    for line in warning_lines(result, "note"):
        parts.append(Text(f"Note: {line}", style="dim"))
    console.print(
        Panel(Group(*parts), title=Text(title(result)), title_align="left", expand=False),
        markup=False,
    )


def short_names(result: dict[str, Any], stages: list[str]) -> dict[str, str]:
    """A short name per stage for a narrow terminal: the initials of a label of several words
    (Marketing Lead: ML), a short word as it is (Lead), else its first four letters (Oppo)."""
    import re

    names: dict[str, str] = {}
    for stage_id in stages:
        text = label(result, stage_id)
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


def _matrix(result: dict[str, Any], width: int):
    """The transition matrix as wide as the terminal allows: stage labels when it fits, else
    short names with a legend, only the stages contacts come from (rows) and go to (columns),
    then short counts (12k). Returns the table and the legend (None with labels)."""
    from rich.table import Table
    from rich.text import Text

    stages = present_stages(result)
    cells = {(t["from"], t["to"]): t for t in result["transitions"]}
    shorts = short_names(result, stages)
    for level in (0, 1, 2):
        rows = (
            stages
            if level == 0
            else [
                s
                for s in stages
                if any(t["count"] for t in result["transitions"] if t["from"] == s)
            ]
        )
        cols = (
            stages
            if level == 0
            else [
                s for s in stages if any(t["count"] for t in result["transitions"] if t["to"] == s)
            ]
        )
        name = (lambda s: label(result, s)) if level == 0 else shorts.get  # noqa: E731
        number = _compact if level == 2 else (lambda n: f"{n:,}")  # noqa: E731

        def cell(frm: str, to: str) -> str:
            t = cells.get((frm, to))
            if not t:
                return "·"
            glyph = "" if t["direction"] == "unchanged" else MOVE_WORDS[t["direction"]][0] + " "
            return f"{glyph}{number(t['count'])}"

        widths = [max([len("from \\ to")] + [len(name(r)) for r in rows])]
        widths += [max([len(name(c))] + [len(cell(r, c)) for r in rows]) for c in cols]
        # Columns, the spaces and rules between them, and the panel's borders and padding.
        if sum(widths) + 3 * len(widths) + 3 <= width or level == 2:
            break
    matrix = Table(show_edge=False)  # its title is a line of its own: the table may be narrow
    matrix.add_column("from \\ to", no_wrap=True)
    for stage_id in cols:
        matrix.add_column(name(stage_id), justify="right", no_wrap=True)
    for frm in rows:
        row = []
        for to in cols:
            t = cells.get((frm, to))
            style = RICH_STYLES[t["direction"]] if t else "dim"
            row.append(Text(cell(frm, to), style=style))
        matrix.add_row(name(frm), *row)
    legend = None
    if level:
        legend = "Stages: " + ", ".join(
            f"{shorts[s]} = {label(result, s)}" for s in stages if shorts[s] != label(result, s)
        )
        if level == 2:
            legend += "; counts: k = thousand, M = million"
    return matrix, legend


def _move_of(result: dict[str, Any], frm: str, to: str) -> str:
    return next(
        (t["direction"] for t in result["transitions"] if t["from"] == frm and t["to"] == to),
        "unchanged",
    )


# --------------------------------------------------------------------------- Markdown


class _Md(str):
    """Markdown the renderer writes itself (a bold label around escaped text): kept as it is."""


def _md(text: Any) -> str:
    """Text for a Markdown line or cell: one line, shown as written (safe.markdown_safe)."""
    return text if isinstance(text, _Md) else markdown_safe(text)


def _bold(text: Any) -> _Md:
    return _Md(f"**{markdown_safe(text)}**")


def _md_table(
    headers: list[str], rows: list[list[Any]], right: set[int] = frozenset()
) -> list[str]:
    lines = [
        "| " + " | ".join(_md(h) for h in headers) + " |",
        "|" + "|".join("--:" if i in right else "---" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines + [""]


def to_markdown(result: dict[str, Any]) -> str:
    out = [f"## {_md(title(result))}", "", f"**{_md(headline(result))}**", ""]
    if gate_lines(result):
        out += [
            f"- **{_md(line)}**" if hit else f"- {_md(line)}" for hit, line in gate_lines(result)
        ]
        out += [""]
    out += _md_table(["", ""], [[_bold(k), v] for k, v in file_rows(result)])
    out += ["### Stages", ""]
    out += _md_table(
        ["Stage", "Before", "After", "Change"],
        [
            [
                r["label"],
                f"{r['before']:,}",
                f"{r['after']:,}",
                f"{r['delta']:+,}" if r["delta"] else "0",
            ]
            for r in result["stages"]
        ],
        right={1, 2, 3},
    )
    stages = present_stages(result)
    cells = {(t["from"], t["to"]): t for t in result["transitions"]}
    out += [
        "### Transitions",
        "",
        "Rows: stage before; columns: stage after. ▲ up, ▼ down, ◆ to or from Other, = unchanged.",
        "",
    ]
    rows = []
    for frm in stages:
        row: list[Any] = [_bold(label(result, frm))]
        for to in stages:
            t = cells.get((frm, to))
            row.append(f"{MOVE_WORDS[t['direction']][0]} {t['count']:,}" if t else "·")
        rows.append(row)
    out += _md_table(
        ["from \\ to"] + [label(result, s) for s in stages],
        rows,
        right=set(range(1, len(stages) + 1)),
    )
    demotions = [t for t in result["transitions"] if t["direction"] == "demotion"]
    if demotions:
        out += ["### ▼ Demotions", ""]
        out += _md_table(
            ["From", "To", "Records"],
            [
                [label(result, t["from"]), label(result, t["to"]), f"{t['count']:,}"]
                for t in demotions
            ],
            right={2},
        )
    if result.get("decided_by"):
        out += ["### Decided by", ""]
        out += _md_table(
            ["Rule", "Contacts", "What it means"],
            [[r["rule"], f"{r['count']:,}", r["description"] or ""] for r in result["decided_by"]],
            right={1},
        )
    if result.get("column_changes"):
        out += ["### Other columns that changed", ""]
        out += _md_table(
            ["Column", "Records"],
            [[c, f"{n:,}"] for c, n in result["column_changes"].items()],
            right={1},
        )
    if result["samples"]:
        out += ["### Examples of the changes", ""]
        out += _md_table(
            sample_columns(result, SAMPLE_HEADERS),
            [
                sample_columns(
                    result,
                    [
                        r["row"],
                        r["record_id"],
                        r["name"] or r["email"] or "",
                        label(result, r["from"]),
                        label(result, r["to"]),
                        MOVE_WORDS[_move_of(result, r["from"], r["to"])],
                        r["rule"] or "",
                    ],
                )
                for r in result["samples"]
            ],
        )
    if result.get("companies") is not None:
        companies = result["companies"]
        out += ["### Companies", "", _md(companies_headline(result)), ""]
        out += _md_table(
            ["Stage", "Before", "After", "Change"], companies_stage_rows(result), right={1, 2, 3}
        )
        if companies_moves(result):
            out += _md_table(
                ["From", "To", "Companies", "Move"],
                [
                    [
                        label(companies, t["from"]),
                        label(companies, t["to"]),
                        f"{t['count']:,}",
                        MOVE_WORDS[t["direction"]],
                    ]
                    for t in companies_moves(result)
                ],
                right={2},
            )
    if missing_rows(result):
        out += ["### Columns the files lack (unknown, not empty)", ""]
        out += _md_table(MISSING_HEADERS, missing_rows(result), right={3})
    if vocabulary_rows(result):
        out += ["### Vocabulary: values the rules do not know", ""]
        out += _md_table(VOCABULARY_HEADERS, vocabulary_rows(result))
        out += [_Md(VOCABULARY_NOTE), ""]  # our own Markdown: `in` and `not_in` are code
    out += [_md(n) for n in notes(result)] + ([""] if notes(result) else [])
    if warning_lines(result):
        out += ["### Warnings", ""] + [f"- {_md(line)}" for line in warning_lines(result)] + [""]
    if warning_lines(result, "note"):
        out += (
            ["### Notes", ""] + [f"- {_md(line)}" for line in warning_lines(result, "note")] + [""]
        )
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.4rem;margin:0 0 8px}h2{font-size:1.1rem;margin:28px 0 8px}
.headline{font-size:1.05rem;font-weight:600;background:#fff;border-left:4px solid #3b6fd8;padding:10px 14px}
table{border-collapse:collapse;background:#fff;margin:6px 0}
th,td{padding:5px 10px;border-bottom:1px solid #e3e6eb;text-align:left;font-size:.92rem}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.demotion td{background:#fde8e8}tr.demotion td:first-child{border-left:4px solid #c62828}
.up{color:#1b7a35}.down{color:#c62828;font-weight:600}.side{color:#8a6100}.dim{color:#8a93a3}
.legend span{margin-right:16px}
svg text{font-family:inherit}
"""


def _e(text: Any) -> str:
    return html_safe(text)


def _table(
    headers: list[str],
    rows: list[list[str]],
    numeric: set[int] = frozenset(),
    row_classes: list[str] | None = None,
) -> str:
    head = "".join(
        f'<th{" class=n" if i in numeric else ""} scope="col">{_e(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        body.append(
            f"<tr{cls}>"
            + "".join(
                f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(row)
            )
            + "</tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_MOVE_CLASS = {
    "promotion": "up",
    "demotion": "down",
    "sideways": "side",
    "unchanged": "dim",
    "newly_staged": "",
    "cleared": "side",
}
_HEAT = {
    "promotion": (27, 122, 53),
    "demotion": (198, 40, 40),
    "sideways": (200, 140, 0),
    "newly_staged": (59, 111, 216),
    "cleared": (140, 60, 160),
    "unchanged": (120, 130, 145),
}


def _heatmap(result: dict[str, Any]) -> str:
    """The transition matrix as an inline SVG heatmap: one cell per (before, after), glyph + count in each."""
    stages = present_stages(result)
    cells = {(t["from"], t["to"]): t for t in result["transitions"]}
    peak = max((t["count"] for t in result["transitions"]), default=1) or 1
    cw, ch, left, top = 96, 38, 150, 70
    width, height = left + cw * len(stages) + 10, top + ch * len(stages) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="heat-title" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title id="heat-title">Transitions from the stage before (rows) to the stage after (columns)</title>',
        f'<text x="{left - 8}" y="{top - 48}" text-anchor="end" font-size="12" fill="#555">before ↓ / after →</text>',
    ]
    for j, stage in enumerate(stages):
        x = left + j * cw + cw / 2
        parts.append(
            f'<text x="{x}" y="{top - 12}" text-anchor="middle" font-size="12" font-weight="600">{_e(label(result, stage))}</text>'
        )
    for i, frm in enumerate(stages):
        y = top + i * ch
        parts.append(
            f'<text x="{left - 8}" y="{y + ch / 2 + 4}" text-anchor="end" font-size="12" font-weight="600">{_e(label(result, frm))}</text>'
        )
        for j, to in enumerate(stages):
            x = left + j * cw
            t = cells.get((frm, to))
            if not t:
                parts.append(
                    f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="#f0f1f4"/>'
                )
                continue
            r, g, b = _HEAT[t["direction"]]
            alpha = 0.15 + 0.85 * (t["count"] / peak) ** 0.5
            stroke = ' stroke="#c62828" stroke-width="2"' if t["direction"] == "demotion" else ""
            dark = alpha > 0.55
            glyph = MOVE_WORDS[t["direction"]][0]
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="rgba({r},{g},{b},{alpha:.2f})"{stroke}>'
                f"<title>{_e(label(result, frm))} → {_e(label(result, to))}: {t['count']:,} ({_e(MOVE_WORDS[t['direction']])})</title></rect>"
            )
            parts.append(
                f'<text x="{x + cw / 2 - 1}" y="{y + ch / 2 + 4}" text-anchor="middle" font-size="13" '
                f'fill="{"#fff" if dark else "#1d2330"}">{glyph} {t["count"]:,}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _bars(row: dict[str, Any], peak: int) -> str:
    w = 220
    b, a = (w * row["before"] / peak if peak else 0), (w * row["after"] / peak if peak else 0)
    return (
        f'<svg width="{w}" height="22" role="img" aria-label="before {row["before"]:,}, after {row["after"]:,}">'
        f'<rect x="0" y="2" width="{b:.1f}" height="8" fill="#9aa5b8"/><rect x="0" y="12" width="{a:.1f}" height="8" fill="#3b6fd8"/></svg>'
    )


def to_html(result: dict[str, Any]) -> str:
    from .changes_table import CSS, section

    peak = max([max(r["before"], r["after"]) for r in result["stages"]] or [1])
    # A count going up or down is neither good nor bad (Other +7): the moves carry the colours.
    stage_rows = [
        [
            _e(r["label"]),
            f"{r['before']:,}",
            f"{r['after']:,}",
            f"{r['delta']:+,}" if r["delta"] else "0",
            _bars(r, peak),
        ]
        for r in result["stages"]
    ]
    sections = [
        f"<h1>{_e(title(result))}</h1>",
        f'<p class="headline">{_e(headline(result))}</p>',
        *[
            f'<p class="{"down" if hit else "up"}">{_e(line)}</p>'
            for hit, line in gate_lines(result)
        ],
    ]
    # What needs a decision first: warnings, notes and values the rules do not know.
    for heading, severity in (("Warnings", "warning"), ("Notes", "note")):
        if warning_lines(result, severity):
            items = "".join(f"<li>{_e(line)}</li>" for line in warning_lines(result, severity))
            sections.append(f"<h2>{heading}</h2><ul>{items}</ul>")
    if vocabulary_rows(result):
        rows = [[_e(c) for c in row] for row in vocabulary_rows(result)]
        sections.append(
            "<h2>Vocabulary: values the rules do not know</h2>"
            + _table(VOCABULARY_HEADERS, rows)
            + f"<p>{_e(VOCABULARY_NOTE)}</p>"
        )
    if missing_rows(result):
        rows = [[_e(c) for c in row] for row in missing_rows(result)]
        sections.append(
            "<h2>Columns the files lack (unknown, not empty)</h2>"
            + _table(MISSING_HEADERS, rows, numeric={3})
        )
    sections += [
        "<h2>Files</h2>"
        + _table(["", ""], [[f"<strong>{_e(k)}</strong>", _e(v)] for k, v in file_rows(result)]),
        "<h2>Stages</h2>"
        + _table(
            ["Stage", "Before", "After", "Change", "Before (grey) / after (blue)"],
            stage_rows,
            numeric={1, 2, 3},
        ),
        "<h2>Transitions</h2>"
        + '<p class="legend"><span class="up">▲ up</span><span class="down">▼ down (outlined)</span>'
        '<span class="side">◆ to or from Other</span><span>+ newly staged</span><span class="dim">= unchanged</span></p>'
        + _heatmap(result),
    ]
    moves = [t for t in result["transitions"] if t["direction"] != "unchanged"]
    if moves:
        moves.sort(key=lambda t: (t["direction"] != "demotion", -t["count"]))
        sections.append(
            "<h2>Changes by transition (demotions first)</h2>"
            + _table(
                ["Move", "From", "To", "Records"],
                [
                    [
                        f'<span class="{_MOVE_CLASS[t["direction"]]}">{_e(MOVE_WORDS[t["direction"]])}</span>',
                        _e(label(result, t["from"])),
                        _e(label(result, t["to"])),
                        f"{t['count']:,}",
                    ]
                    for t in moves
                ],
                numeric={3},
                row_classes=["demotion" if t["direction"] == "demotion" else "" for t in moves],
            )
        )
    if result.get("change_list"):
        sections.append(section(result["change_list"], "all-changes", "Every change"))
    if result.get("decided_by"):
        sections.append(
            "<h2>Decided by</h2>"
            + _table(
                ["Rule", "Contacts", "What it means"],
                [
                    [_e(r["rule"]), f"{r['count']:,}", _e(r["description"])]
                    for r in result["decided_by"]
                ],
                numeric={1},
            )
        )
    if result.get("column_changes"):
        sections.append(
            "<h2>Other columns that changed</h2>"
            + _table(
                ["Column", "Records"],
                [[_e(c), f"{n:,}"] for c, n in result["column_changes"].items()],
                numeric={1},
            )
        )
    if result["samples"] and not result.get("change_list"):
        kinds = [_move_of(result, r["from"], r["to"]) for r in result["samples"]]
        sections.append(
            "<h2>Examples of the changes</h2>"
            + _table(
                sample_columns(result, SAMPLE_HEADERS),
                [
                    sample_columns(
                        result,
                        [
                            _e(r["row"]),
                            _e(r["record_id"]),
                            _e(r["name"] or r["email"] or ""),
                            _e(label(result, r["from"])),
                            _e(label(result, r["to"])),
                            f'<span class="{_MOVE_CLASS[k]}">{_e(MOVE_WORDS[k])}</span>',
                            _e(r["rule"] or ""),
                        ],
                    )
                    for r, k in zip(result["samples"], kinds)
                ],
                numeric={0},
                row_classes=["demotion" if k == "demotion" else "" for k in kinds],
            )
        )
    if result.get("companies") is not None:
        companies, moves = result["companies"], companies_moves(result)
        sections.append(
            "<h2>Companies</h2>"
            + f"<p>{_e(companies_headline(result))}</p>"
            + _table(
                ["Stage", "Before", "After", "Change"],
                [[_e(c) for c in row] for row in companies_stage_rows(result)],
                numeric={1, 2, 3},
            )
            + (
                _table(
                    ["Move", "From", "To", "Companies"],
                    [
                        [
                            f'<span class="{_MOVE_CLASS[t["direction"]]}">{_e(MOVE_WORDS[t["direction"]])}</span>',
                            _e(label(companies, t["from"])),
                            _e(label(companies, t["to"])),
                            f"{t['count']:,}",
                        ]
                        for t in moves
                    ],
                    numeric={3},
                    row_classes=["demotion" if t["direction"] == "demotion" else "" for t in moves],
                )
                if moves
                else ""
            )
        )
        if result.get("company_change_list"):
            sections.append(
                section(
                    result["company_change_list"], "company-changes", "Every company that changed"
                )
            )
    sections += [f"<p>{_e(n)}</p>" for n in notes(result)]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title(result))}</title><style>{_CSS}{CSS}</style></head>\n<body><main>\n"
        + "\n".join(sections)
        + "\n</main></body></html>\n"
    )

"""Render a result object: Rich for the terminal, JSON for machines."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

ARROWS = {"promotion": "▲ up", "demotion": "▼ down", "sideways": "◆ other", "newly_staged": "+ new", "unchanged": "= same"}
STYLES = {"promotion": "green", "demotion": "bold red", "sideways": "yellow", "newly_staged": "cyan", "unchanged": "dim"}


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"


def _label(stages: list[dict[str, Any]], stage_id: str) -> str:
    return next((s["label"] for s in stages if s["stage"] == stage_id), stage_id)


def render_classify(result: dict[str, Any], console: Console) -> None:
    s, files, stages = result["summary"], result["files"], result["stages"]
    title = "lifecycle classify — check only, nothing written" if result["checked_only"] else "lifecycle classify"
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("Contacts", f"{files['contacts']}  ({s['contacts']:,} contacts)")
    links = result["links"]
    for role, what, total, matched, unknown, unknown_words in (
        ("Deals", "deals", "deal_rows", "deals_linked", "deals_with_unknown_contacts", "refer to contact ids not in the contacts file"),
        ("Consent", "consent", "consent_rows", "consent_rows_matched", "consent_rows_unknown_contact", "for unknown contacts"),
    ):
        if not files[what]:
            head.add_row(role, Text("not given", style="yellow"))
            continue
        extra = f", {links.get(unknown, 0):,} {unknown_words}" if links.get(unknown) else ""
        head.add_row(role, f"{files[what]}  ({links.get(total, 0):,} rows, {links.get(matched, 0):,} matched to contacts{extra})")
    head.add_row("Rules", files["rules"])
    if files["output"]:
        head.add_row("Written", files["output"])
    summary = Text()
    summary.append(f"{s['changed']:,} of {s['contacts']:,} contacts change stage: ", style="bold")
    summary.append(f"{s['promotions']:,} up", style="green")
    summary.append(", ")
    summary.append(f"{s['demotions']:,} down", style="bold red")
    summary.append(f", {s['sideways']:,} to or from Other, {s['newly_staged']:,} newly staged; {s['unchanged']:,} unchanged.")

    counts = Table(title="Stages", title_justify="left", show_edge=False)
    counts.add_column("Stage")
    counts.add_column("Before", justify="right")
    counts.add_column("After", justify="right")
    counts.add_column("Change", justify="right")
    for row in stages:
        delta = row["delta"]
        counts.add_row(row["label"], f"{row['before']:,}", f"{row['after']:,}",
                       Text(f"{delta:+,}" if delta else "0", style="green" if delta > 0 else "red" if delta < 0 else "dim"))

    present = [row["stage"] for row in stages if row["before"] or row["after"]]
    matrix = Table(title="Transitions (rows: before, columns: after)", title_justify="left", show_edge=False)
    matrix.add_column("from \\ to")
    for stage_id in present:
        matrix.add_column(_label(stages, stage_id), justify="right")
    cells = {(t["from"], t["to"]): t for t in result["transitions"]}
    for frm in present:
        row = []
        for to in present:
            t = cells.get((frm, to))
            if not t:
                row.append(Text("·", style="dim"))
            else:
                row.append(Text(f"{t['count']:,}", style=STYLES[t["direction"]]))
        matrix.add_row(_label(stages, frm), *row)

    rules = Table(title="Decided by", title_justify="left", show_edge=False)
    rules.add_column("Rule")
    rules.add_column("Contacts", justify="right")
    rules.add_column("What it means")
    for row in result["decided_by"]:
        rules.add_row(row["rule"], f"{row['count']:,}", row["description"] or "")

    parts: list[Any] = [head, Text(""), summary, Text(""), counts, Text(""), matrix, Text(""), rules]
    if result["samples"]:
        sample = Table(title="Some of the changes", title_justify="left", show_edge=False)
        for name in ("Row", "Record ID", "Name", "From", "To", "Direction", "Rule"):
            sample.add_column(name)
        for row in result["samples"]:
            direction = _direction_of(result, row["from"], row["to"])
            sample.add_row(str(row["row"]), str(row["record_id"]), row["name"] or row["email"] or "",
                           _label(stages, row["from"]), _label(stages, row["to"]),
                           Text(ARROWS[direction], style=STYLES[direction]), row["rule"] or "")
        parts += [Text(""), sample]
    for note in result["missing_sources"]:
        parts += [Text(f"Note: {note}.", style="yellow")]
    console.print(Panel(Group(*parts), title=title, title_align="left", expand=False))


def _direction_of(result: dict[str, Any], frm: str, to: str) -> str:
    return next((t["direction"] for t in result["transitions"] if t["from"] == frm and t["to"] == to), "unchanged")

"""Run history: one JSON record per classify run in a folder, read back for reports and gates."""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any

from ..base.errors import InputError

KIND = "lifecycle-run"  #: the `kind` of every history record (other JSON files are not ours)
#: A record's file name: the run's time (UTC, colons as dashes) and a short hash of the run.
NAME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ-[0-9a-f]{8}\.json$")
LAST_RUNS = 10  #: how many earlier runs a `>Nx` gate compares with (their median)
#: The counts a record keeps per run, as the report's summary names them.
MOVES = ("changed", "promotions", "demotions", "sideways", "newly_staged")


def file_name(at: str, rules_hash: str | None, inputs: list[tuple[str, str]]) -> str:
    """`2026-12-05T12-00-00Z-1a2b3c4d.json`: the time and a hash of the rules, the inputs'
    names, sizes and modification times (known before anything is read) and this process, so
    that two runs in the same second never share a file."""
    digest = hashlib.sha256(f"{at}\0{rules_hash}\0{os.getpid()}\0{time.time_ns()}".encode())
    for role, path in inputs:
        try:
            st = os.stat(path)
            digest.update(f"\0{role}\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        except OSError:
            digest.update(f"\0{role}\0{path}".encode())
    return f"{at.replace(':', '-')}-{digest.hexdigest()[:8]}.json"


def input_facts(role: str, path: str) -> dict[str, Any]:
    """An input's name, size and sha256 (stdin and pipes: the name only, read once)."""
    facts: dict[str, Any] = {"role": role, "name": path, "size": None, "sha256": None}
    if path == "-" or not os.path.isfile(path):
        return facts
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    facts.update(size=os.path.getsize(path), sha256=digest.hexdigest())
    return facts


def record(result: dict[str, Any], inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The history record of a classify run, from its report (`result`, with `run` and `gates`)."""
    run = result.get("run") or {}
    severities = {"error": 0, "warning": 0, "note": 0}
    for found in result.get("diagnostics", []):
        severities[found["severity"]] = severities.get(found["severity"], 0) + 1
    summary = result["summary"]
    return {
        "kind": KIND,
        "version": 1,
        "at": run.get("at"),
        "rules": {"file": result["files"]["rules"], "hash": run.get("rules_hash")},
        "inputs": inputs,
        "contacts": summary["contacts"],
        "moves": {key: summary[key] for key in MOVES},
        "stages": [
            {k: s[k] for k in ("stage", "label", "before", "after")} for s in result["stages"]
        ],
        "transitions": [t for t in result["transitions"] if t["direction"] != "unchanged"],
        "diagnostics": severities,
        "gates": [g["reason"] for g in result.get("gates", []) if g["tripped"]],
    }


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load(folder: str) -> list[dict[str, Any]]:
    """Every run recorded in `folder`, oldest first. Files not named as records are left alone;
    a record that does not read is an error naming it."""
    path = Path(folder)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise InputError(
            f"{folder}: history folder {what}; give the folder classify --history writes into"
        )
    runs = []
    for entry in sorted(path.iterdir()):
        if not NAME.match(entry.name) or not entry.is_file():
            continue
        try:
            data = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not valid JSON"
            raise InputError(
                f"{entry}: cannot read this history record ({reason}); move it out of {folder}"
            ) from None
        if (
            not isinstance(data, dict)
            or data.get("kind") != KIND
            or not isinstance(data.get("moves"), dict)
        ):
            raise InputError(
                f"{entry}: not a lifecycle history record (expected a JSON object "
                f"with kind '{KIND}'); move it out of {folder}"
            )
        data["file"] = entry.name
        runs.append(data)
    return sorted(runs, key=lambda r: (str(r.get("at")), r["file"]))


def baseline(runs: list[dict[str, Any]], last: int = LAST_RUNS) -> dict[str, float]:
    """The median of each count over the last `last` runs (empty: no earlier runs)."""
    recent = runs[-last:]
    if not recent:
        return {}
    keys = {k for r in recent for k in r["moves"]}
    return {k: statistics.median(int(r["moves"].get(k) or 0) for r in recent) for k in keys} | {
        "runs": len(recent)
    }


# --------------------------------------------------------------------------- rendering

SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[3] * len(values)
    return "".join(SPARKS[round((v - low) / (high - low) * (len(SPARKS) - 1))] for v in values)


def stage_series(runs: list[dict[str, Any]]) -> list[tuple[str, str, list[int]]]:
    """(stage id, label, count after each run) for every stage any run had."""
    order: dict[str, str] = {}
    for run in runs:
        for s in run.get("stages", []):
            order.setdefault(s["stage"], s["label"])
    return [
        (
            sid,
            label,
            [
                next((s["after"] for s in run.get("stages", []) if s["stage"] == sid), 0)
                for run in runs
            ],
        )
        for sid, label in order.items()
    ]


def to_dict(folder: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"command": "history", "folder": folder, "runs": runs}


def render_rich(view: dict[str, Any], console) -> None:
    from rich.table import Table
    from rich.text import Text

    from ..base.safe import terminal_safe_tree

    view = terminal_safe_tree(view)
    runs = view["runs"]
    table = Table(
        title=f"Last {len(runs)} runs in {view['folder']}", title_justify="left", show_edge=False
    )
    for name, justify in (
        ("Run (UTC)", "left"),
        ("Contacts", "right"),
        ("Moved", "right"),
        ("▲ up", "right"),
        ("▼ down", "right"),
        ("◆ Other", "right"),
        ("Warn", "right"),
        ("Gate", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)
    for run in runs:
        m = run["moves"]
        at = str(run.get("at") or "").replace("T", " ")[:16]
        warnings = run.get("diagnostics", {}).get("warning", 0)
        table.add_row(
            at,
            f"{run.get('contacts', 0):,}",
            f"{m.get('changed', 0):,}",
            f"{m.get('promotions', 0):,}",
            Text(f"{m.get('demotions', 0):,}", style="red"),
            f"{m.get('sideways', 0):,}",
            f"{warnings:,}",
            Text("tripped", style="bold red") if run.get("gates") else "",
        )
    stages = Table(show_edge=False)
    for name, justify in (
        ("Stage", "left"),
        ("Trend", "left"),
        ("First", "right"),
        ("Last", "right"),
    ):
        stages.add_column(name, justify=justify, no_wrap=True)
    for _, label, values in stage_series(runs):
        if any(values):
            stages.add_row(label, sparkline(values), f"{values[0]:,}", f"{values[-1]:,}")
    console.print(table)
    console.print()
    console.print(Text("Contacts per stage after each run, oldest first", style="italic"))
    console.print(stages)
    for run in runs:
        for reason in run.get("gates") or []:
            console.print(Text(f"{run.get('at')}: {reason}", style="red"))


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


def _line_chart(runs: list[dict[str, Any]], e) -> str:
    series = stage_series(runs)
    width, height, left, top, bottom = 760, 260, 60, 20, 40
    peak = max([max(v) for _, _, v in series] + [1])
    n = max(len(runs) - 1, 1)
    x = lambda i: left + (width - left - 50) * i / n  # noqa: E731  (room for the last date)
    y = lambda v: top + (height - top - bottom) * (1 - v / peak)  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="stages-title">'
        '<title id="stages-title">Contacts per stage after each run</title>',
        f'<line x1="{left}" y1="{y(0)}" x2="{width - 50}" y2="{y(0)}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{y(peak) + 4}" text-anchor="end" font-size="11">{peak:,}</text>',
        f'<text x="{left - 6}" y="{y(0) + 4}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, (_, label, values) in enumerate(series):
        colour = _COLOURS[i % len(_COLOURS)]
        points = " ".join(f"{x(j):.1f},{y(v):.1f}" for j, v in enumerate(values))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
            f"<title>{e(label)}: {', '.join(f'{v:,}' for v in values)}</title></polyline>"
        )
    for j, run in enumerate(runs):
        day = e(str(run.get("at") or "")[:10])
        parts.append(
            f'<text x="{x(j):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'font-size="10">{day}</text>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<span style="color:{_COLOURS[i % len(_COLOURS)]}">■ {e(label)}</span> '
        for i, (_, label, _) in enumerate(series)
    )
    return "".join(parts) + f'<p class="legend">{legend}</p>'


def _moves_chart(runs: list[dict[str, Any]], e) -> str:
    kinds = (
        ("promotions", "▲ up", "#1b7a35"),
        ("demotions", "▼ down", "#c62828"),
        ("sideways", "◆ to/from Other", "#c88c00"),
    )
    width, height, left, top, bottom = 760, 200, 60, 20, 40
    peak = max([r["moves"].get(k, 0) for r in runs for k, _, _ in kinds] + [1])
    slot = (width - left - 20) / max(len(runs), 1)
    bar = max(min(slot / 4, 24), 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="moves-title">'
        '<title id="moves-title">Moves per run: up, down, to or from Other</title>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11">{peak:,}</text>',
    ]
    base = height - bottom
    for j, run in enumerate(runs):
        for k, (key, words, colour) in enumerate(kinds):
            value = run["moves"].get(key, 0)
            h = (base - top) * value / peak
            x = left + slot * j + bar * k + (slot - 3 * bar) / 2
            tripped = run.get("gates") and key == "demotions"
            outline = ' stroke="#000" stroke-width="2"' if tripped else ""
            parts.append(
                f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"{outline}><title>{e(run.get("at"))}: {value:,} '
                f"{e(words)}</title></rect>"
            )
        day = str(run.get("at") or "")[:10]
        parts.append(
            f'<text x="{left + slot * j + slot / 2:.1f}" y="{base + 16}" '
            f'text-anchor="middle" font-size="10">{e(day)}</text>'
        )
    parts.append("</svg>")
    legend = "".join(f'<span style="color:{c}">■ {e(w)}</span> ' for _, w, c in kinds)
    return "".join(parts) + f'<p class="legend">{legend}(outlined: a gate tripped)</p>'


def to_html(view: dict[str, Any]) -> str:
    from ..base.safe import html_safe as e

    runs = view["runs"]
    rows = []
    for run in runs:
        m = run["moves"]
        gate = "; ".join(run.get("gates") or [])
        rows.append(
            f"<tr{' class=tripped' if gate else ''}><td>{e(run.get('at'))}</td>"
            + "".join(
                f"<td class=n>{n:,}</td>"
                for n in (
                    run.get("contacts", 0),
                    m.get("changed", 0),
                    m.get("promotions", 0),
                    m.get("demotions", 0),
                    m.get("sideways", 0),
                    run.get("diagnostics", {}).get("warning", 0),
                )
            )
            + f"<td>{e(gate)}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Run at (UTC)",
            "Contacts",
            "Changed",
            "▲ up",
            "▼ down",
            "◆ Other",
            "Warnings",
            "Gate",
        )
    )
    css = (
        "body{font-family:system-ui,sans-serif;margin:24px;color:#1d2330}"
        "table{border-collapse:collapse}th,td{padding:4px 10px;border-bottom:1px solid #ddd}"
        "td.n{text-align:right}tr.tripped td{background:#fde8e8}.legend span{margin-right:14px}"
    )
    title = f"lifecycle history: {view['folder']}"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{css}</style></head><body>\n"
        f"<h1>{e(title)}</h1><p>{len(runs)} runs, oldest first.</p>\n"
        f"<h2>Contacts per stage</h2>{_line_chart(runs, e)}\n"
        f"<h2>Moves per run</h2>{_moves_chart(runs, e)}\n"
        f"<h2>Runs</h2><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>\n"
        "</body></html>\n"
    )

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

"""`--fail-on` gates for CI: which findings make a run exit 1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import LifecycleError
from .rules import Rules

#: Gate name -> (summary key that must be > 0, what it means).
NAMED = {
    "any": ("changed", "any contact changed stage"),
    "changed": ("changed", "any contact changed stage"),
    "demotion": ("demotions", "a contact moved down a stage"),
    "promotion": ("promotions", "a contact moved up a stage"),
    "sideways": ("sideways", "a contact moved to or from Other"),
    "added": ("added", "a record is in AFTER but not in BEFORE"),
    "removed": ("removed", "a record is in BEFORE but not in AFTER"),
}


@dataclass(frozen=True)
class Gate:
    spec: str
    key: str | None = None  # a summary count, or
    meaning: str = ""
    transition: tuple[str, str] | None = None  # stage ids, "*" for any


def parse_gates(specs: list[str], rules: Rules) -> tuple[Gate, ...]:
    lookup = rules.stage_lookup()
    gates = []
    for spec in specs:
        text = spec.strip().lower()
        name = text[:-1] if text.endswith("s") and text[:-1] in NAMED else text
        if name in NAMED:
            gates.append(Gate(spec, key=NAMED[name][0], meaning=NAMED[name][1]))
            continue
        if "->" in text:
            frm, to = (part.strip() for part in text.split("->", 1))
            ids = []
            for part in (frm, to):
                if part == "*":
                    ids.append("*")
                elif part in lookup:
                    ids.append(lookup[part])
                else:
                    known = ", ".join(s.id for s in rules.stages)
                    raise LifecycleError(f"--fail-on '{spec}': unknown stage '{part}' (stages: {known}, or * for any)")
            gates.append(Gate(spec, transition=(ids[0], ids[1])))
            continue
        raise LifecycleError(
            f"--fail-on '{spec}': expected one of {', '.join(k for k in NAMED if k != 'changed')}, "
            "or a transition such as customer->lead"
        )
    return tuple(gates)


def tripped(gates: tuple[Gate, ...], result: dict[str, Any]) -> list[str]:
    """A line for every gate the result trips."""
    out = []
    summary = result["summary"]
    for gate in gates:
        if gate.key is not None:
            count = summary.get(gate.key, 0)
            if count:
                out.append(f"--fail-on {gate.spec}: {gate.meaning} ({count:,})")
            continue
        frm, to = gate.transition
        count = sum(
            t["count"] for t in result["transitions"]
            if t["from"] != t["to"] and frm in ("*", t["from"]) and to in ("*", t["to"])
        )
        if count:
            out.append(f"--fail-on {gate.spec}: {count:,} contacts moved {frm} -> {to}")
    return out

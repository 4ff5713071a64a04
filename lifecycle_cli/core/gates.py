"""`--fail-on` gates for CI: which findings make a run exit 1."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..base.diagnostics import quantity
from ..base.errors import LifecycleError
from ..rules.model import Rules

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
#: `demotion>3x` (more than 3 times the median of the last runs in --history), `demotion>2%`
#: (more than 2% of the contacts) or `demotion>40` (more than 40).
THRESHOLD = re.compile(r"^([a-z_]+)\s*>\s*([0-9]+(?:\.[0-9]+)?)\s*(x|%)?$")


@dataclass(frozen=True)
class Gate:
    spec: str
    key: str | None = None  # a summary count, or
    meaning: str = ""
    transition: tuple[str, str] | None = None  # stage ids, "*" for any
    limit: float | None = None  #: with a key: trips when the count exceeds this (times `unit`)
    unit: str = ""  #: "" (a count), "x" (times the median of earlier runs) or "%" (of the contacts)

    @property
    def needs_history(self) -> bool:
        return self.unit == "x"


def parse_gates(specs: list[str], rules: Rules) -> tuple[Gate, ...]:
    lookup = rules.stage_lookup()
    gates = []
    for spec in specs:
        text = spec.strip().lower()
        name = text[:-1] if text.endswith("s") and text[:-1] in NAMED else text
        if name in NAMED:
            gates.append(Gate(spec, key=NAMED[name][0], meaning=NAMED[name][1]))
            continue
        limit = THRESHOLD.match(text)
        if limit:
            count = limit.group(1)
            count = count[:-1] if count not in NAMED and count[:-1] in NAMED else count
            if count not in NAMED:
                raise LifecycleError(
                    f"--fail-on '{spec}': unknown count '{limit.group(1)}' (expected one of "
                    f"{', '.join(k for k in NAMED if k != 'changed')}, as in demotion>3x)"
                )
            key, meaning = NAMED[count]
            gates.append(
                Gate(
                    spec,
                    key=key,
                    meaning=meaning,
                    limit=float(limit.group(2)),
                    unit=limit.group(3) or "",
                )
            )
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
                    raise LifecycleError(
                        f"--fail-on '{spec}': unknown stage '{part}' (stages: {known}, or * for "
                        "any)"
                    )
            gates.append(Gate(spec, transition=(ids[0], ids[1])))
            continue
        raise LifecycleError(
            f"--fail-on '{spec}': expected one of {', '.join(k for k in NAMED if k != 'changed')}, "
            "a transition such as customer->lead, or a limit such as demotion>3x (times the median "
            "of the last runs in --history), demotion>2% (of the contacts) or demotion>40"
        )
    return tuple(gates)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def evaluate(
    gates: tuple[Gate, ...], result: dict[str, Any], earlier: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """Every gate with whether it tripped and why, in words (`earlier`: the medians of the last
    runs, see history.baseline; a `>Nx` gate without earlier runs is not judged)."""
    out = []
    summary = result["summary"]
    for gate in gates:
        if gate.key is not None and gate.limit is not None:
            out.append(_limit(gate, summary, earlier or {}, result["command"]))
            continue
        if gate.key is not None:
            count = summary.get(gate.key, 0)
            out.append(
                {
                    "gate": gate.spec,
                    "tripped": bool(count),
                    "reason": f"--fail-on {gate.spec}: {gate.meaning} ({count:,})"
                    if count
                    else f"--fail-on {gate.spec}: none",
                }
            )
            continue
        frm, to = gate.transition
        count = sum(
            t["count"]
            for t in result["transitions"]
            if t["from"] != t["to"] and frm in ("*", t["from"]) and to in ("*", t["to"])
        )
        out.append(
            {
                "gate": gate.spec,
                "tripped": bool(count),
                "reason": f"--fail-on {gate.spec}: {quantity(count, 'contact')} moved "
                f"{frm} -> {to}",
            }
        )
    return out


def _limit(gate: Gate, summary: dict[str, Any], earlier: dict[str, float], command: str) -> dict:
    count = summary.get(gate.key, 0)
    words = gate.key.replace("_", " ")
    if gate.unit == "x":
        if gate.key not in earlier:
            return {
                "gate": gate.spec,
                "tripped": False,
                "reason": f"--fail-on {gate.spec}: not judged: no earlier runs in the history "
                f"to compare with ({count:,} {words} in this run)",
            }
        median = earlier[gate.key]
        bound = gate.limit * median
        runs = int(earlier.get("runs", 0))
        how = (
            f"{count:,} {words}, {'more' if count > bound else 'not more'} than "
            f"{_number(gate.limit)} × {_number(median)} (the median of the last {runs} runs)"
        )
    elif gate.unit == "%":
        total = summary.get("contacts", summary.get("common", 0))
        bound = total * gate.limit / 100
        share = 100 * count / total if total else 0.0
        noun = "contacts" if command == "classify" else "records in both files"
        how = (
            f"{count:,} {words}, {share:.1f}% of {total:,} {noun}, "
            f"{'more' if count > bound else 'not more'} than {_number(gate.limit)}%"
        )
    else:
        bound = gate.limit
        how = f"{count:,} {words}, {'more' if count > bound else 'not more'} than {_number(bound)}"
    return {"gate": gate.spec, "tripped": count > bound, "reason": f"--fail-on {gate.spec}: {how}"}


def tripped(
    gates: tuple[Gate, ...], result: dict[str, Any], earlier: dict[str, float] | None = None
) -> list[str]:
    """A line for every gate the result trips."""
    return [g["reason"] for g in evaluate(gates, result, earlier) if g["tripped"]]

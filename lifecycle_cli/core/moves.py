"""Stage moves (from -> to counts) summarised the same way for classify and diff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from ..rules.model import Rules

EMPTY = "(empty)"  #: how a contact without a stage appears in counts
#: Kinds of move, in the order reports list them. "sideways" is a move to or from an
#: unranked stage (Other), which is neither a promotion nor a demotion.
DIRECTIONS = ("demotion", "promotion", "sideways", "newly_staged", "cleared", "unchanged")


def direction(frm: str, to: str, rank: dict[str, int]) -> str:
    if frm == to:
        return "unchanged"
    if frm == EMPTY:
        return "newly_staged"
    if to == EMPTY:
        return "cleared"
    if rank.get(frm, -1) < 0 or rank.get(to, -1) < 0:
        return "sideways"
    return "promotion" if rank[to] > rank[frm] else "demotion"


@dataclass(frozen=True)
class MoveSummary:
    transitions: tuple[dict[str, Any], ...]  # from, to, count, direction
    stages: tuple[dict[str, Any], ...]  # stage, label, before, after, delta
    totals: dict[str, int]  # per direction


def summarize_moves(moves: pl.DataFrame, rules: Rules) -> MoveSummary:
    """`moves` has columns from, to (stage ids or EMPTY) and count."""
    rank = {s.id: s.rank for s in rules.stages}
    label = {s.id: s.label for s in rules.stages}
    order = {EMPTY: -1} | {s.id: i for i, s in enumerate(rules.stages)}
    totals = dict.fromkeys(DIRECTIONS, 0)
    transitions = []
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    for row in sorted(
        moves.iter_rows(named=True),
        key=lambda r: (order.get(r["from"], 99), order.get(r["to"], 99)),
    ):
        kind = direction(row["from"], row["to"], rank)
        totals[kind] += row["count"]
        before[row["from"]] = before.get(row["from"], 0) + row["count"]
        after[row["to"]] = after.get(row["to"], 0) + row["count"]
        transitions.append(
            {"from": row["from"], "to": row["to"], "count": row["count"], "direction": kind}
        )
    stages = []
    for stage_id in order:
        b, a = before.get(stage_id, 0), after.get(stage_id, 0)
        if a or b:
            stages.append(
                {
                    "stage": stage_id,
                    "label": label.get(stage_id, EMPTY),
                    "before": b,
                    "after": a,
                    "delta": a - b,
                }
            )
    return MoveSummary(tuple(transitions), tuple(stages), totals)


def sample_order(frm: str | None, to: str | None, rules: Rules) -> int:
    """Demotions first: they are what a reviewer checks."""
    rank = {s.id: s.rank for s in rules.stages}
    return DIRECTIONS.index(direction(frm or EMPTY, to or EMPTY, rank))

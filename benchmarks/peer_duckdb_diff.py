"""Peer for bench_diff.py: what `lifecycle diff BEFORE AFTER --format json` summarises, as a DuckDB
FULL OUTER JOIN.

    python benchmarks/peer_duckdb_diff.py BEFORE AFTER OUT.json

Reads both contacts files with all_varchar, reads each `Lifecycle Stage` as a stage id
(every spelling of rules.yaml's default stages, any case, trimmed; empty: no stage),
joins the two on the trimmed `Record ID` with one FULL OUTER JOIN and counts, in one
GROUP BY: rows on each side, added, removed, common and changed contacts, and contacts
per (from, to) stage pair. Python then sorts the few pairs into directions (promotion,
demotion, sideways, newly staged, cleared, unchanged) as lifecycle's report does, and
writes {"summary": {...}, "transitions": [...]} in the shape of lifecycle's JSON report.
No input checks (repeated or missing ids, unknown stages), unlike lifecycle.
"""

from __future__ import annotations

import json
import os
import sys

import duckdb
import peer_vocabulary as vocab

EMPTY = "(empty)"
#: rules.yaml's stage order; Other is unranked (neither a promotion nor a demotion).
RANK = {stage: i for i, stage in enumerate(s for s in vocab.STAGES if s != "other")} | {"other": -1}


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def stage_id(column: str) -> str:
    return (
        "CASE lower(trim("
        + column
        + ")) "
        + " ".join(
            f"WHEN {lit(spelling.lower())} THEN {lit(stage)}"
            for stage, spellings in vocab.STAGES.items()
            for spelling in spellings
        )
        + " END"
    )


def query(before: str, after: str) -> str:
    side = (
        'SELECT trim("Record ID") AS id, {stage} AS stage '
        "FROM read_csv({path}, header = true, all_varchar = true)"
    )
    return f"""
WITH b AS ({side.format(stage=stage_id('"Lifecycle Stage"'), path=lit(before))}),
     a AS ({side.format(stage=stage_id('"Lifecycle Stage"'), path=lit(after))})
SELECT b.id IS NOT NULL AS in_before, a.id IS NOT NULL AS in_after,
       coalesce(b.stage, {lit(EMPTY)}) AS "from", coalesce(a.stage, {lit(EMPTY)}) AS "to",
       count(*) AS n
FROM b FULL OUTER JOIN a ON a.id = b.id
GROUP BY ALL
"""


def direction(frm: str, to: str) -> str:
    if frm == to:
        return "unchanged"
    if frm == EMPTY:
        return "newly_staged"
    if to == EMPTY:
        return "cleared"
    if RANK[frm] < 0 or RANK[to] < 0:
        return "sideways"
    return "promotion" if RANK[to] > RANK[frm] else "demotion"


def main(before: str, after: str, out: str) -> None:
    con = duckdb.connect()
    limit = os.environ.get("DUCKDB_MEMORY_LIMIT")
    if limit:
        con.execute(f"SET memory_limit = {lit(limit)}")
    groups = con.execute(query(before, after)).fetchall()
    common = [(frm, to, n) for in_b, in_a, frm, to, n in groups if in_b and in_a]
    totals = dict.fromkeys(
        ("promotions", "demotions", "sideways", "newly_staged", "cleared", "unchanged"), 0
    )
    plural = {"promotion": "promotions", "demotion": "demotions"}
    transitions = []
    for frm, to, n in sorted(common):
        kind = direction(frm, to)
        totals[plural.get(kind, kind)] += n
        transitions.append({"from": frm, "to": to, "count": n, "direction": kind})
    summary = {
        "rows_before": sum(n for in_b, _, _, _, n in groups if in_b),
        "rows_after": sum(n for _, in_a, _, _, n in groups if in_a),
        "added": sum(n for in_b, _, _, _, n in groups if not in_b),
        "removed": sum(n for _, in_a, _, _, n in groups if not in_a),
        "common": sum(n for _, _, n in common),
        "changed": sum(n for frm, to, n in common if frm != to),
        **totals,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"summary": summary, "transitions": transitions}, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(f"usage: {sys.argv[0]} BEFORE AFTER OUT.json")
    main(*sys.argv[1:])

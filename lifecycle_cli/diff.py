"""Compare two exports of the same CRM: whose stage changed, in which direction, and how many."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .errors import InputError
from .facts import all_canonical, stage_id, unknown_spelling
from .moves import EMPTY, sample_order, summarize_moves
from .problems import LISTED, missing_ids, repeated_ids, unknown_stages, with_rows
from .rules import ColumnSpec, Rules
from .sources import Source, explain_read_error

SAMPLES_PER_TRANSITION = 2
MAX_SAMPLES = 20


@dataclass(frozen=True)
class DiffResult:
    """Everything a diff report shows; `to_dict()` is the JSON report."""

    before_file: str
    after_file: str
    rules_file: str
    key_column: str
    stage_column: str
    rows_before: int
    rows_after: int
    added: int
    removed: int
    common: int
    changed: int
    totals: dict[str, int]
    stages: tuple[dict[str, Any], ...]
    transitions: tuple[dict[str, Any], ...]
    samples: tuple[dict[str, Any], ...]
    column_changes: dict[str, int] = field(default_factory=dict)
    rule_column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "diff",
            "files": {"before": self.before_file, "after": self.after_file, "rules": self.rules_file},
            "columns": {"key": self.key_column, "stage": self.stage_column, "rule": self.rule_column},
            "summary": {
                "rows_before": self.rows_before, "rows_after": self.rows_after, "added": self.added, "removed": self.removed,
                "common": self.common, "changed": self.changed, "unchanged": self.totals["unchanged"],
                "promotions": self.totals["promotion"], "demotions": self.totals["demotion"],
                "sideways": self.totals["sideways"], "newly_staged": self.totals["newly_staged"], "cleared": self.totals["cleared"],
            },
            "stages": list(self.stages),
            "transitions": list(self.transitions),
            "samples": list(self.samples),
            "column_changes": dict(self.column_changes),
        }


def diff_columns(rules: Rules, key: str | None, stage: str | None) -> dict[str, ColumnSpec]:
    """The contact columns a diff reads, with --key / --stage overriding the rules' headers."""
    columns = dict(rules.columns["contacts"])
    # A diff compares stages: unlike classify, it needs the stage column in both files.
    columns["stage"] = dataclasses.replace(columns["stage"], optional=False)
    if key:
        columns["record_id"] = ColumnSpec("record_id", (key,), "str")
    if stage:
        columns["stage"] = ColumnSpec("stage", (stage,), "str")
    return columns


def _project(source: Source, rules: Rules, extra: list[str], rule_header: str | None) -> pl.LazyFrame:
    """Only what the diff needs, in small types: the rest of each file is never held in memory."""
    raw = pl.col(source.resolved["stage"]).cast(pl.String)
    stage = stage_id(raw, rules)
    exprs = [
        source.text("record_id").alias("key"),
        stage.cast(pl.Enum([s.id for s in rules.stages])).alias("stage"),
        unknown_spelling(raw, stage).alias("raw"),  # for the error message
    ]
    if rule_header:
        exprs.append(pl.col(rule_header).cast(pl.Categorical).alias("rule"))
    exprs += [pl.col(h).cast(pl.String).alias(f"col:{h}") for h in extra]
    return source.frame.select(exprs).with_row_index("row")


def _integer_keys(*frames: pl.DataFrame) -> tuple[pl.DataFrame, ...]:
    """Plain-number ids (no leading zeros) as integers in every frame, or all left as text."""
    if all(all_canonical(f["key"]) for f in frames):
        return tuple(f.with_columns(pl.col("key").str.to_integer()) for f in frames)
    return frames


def _check(df: pl.DataFrame, source: Source, rules: Rules) -> list[str]:
    header = source.resolved["record_id"]
    missing = df.filter(pl.col("key").is_null())["row"]
    # Only the repeated ids are grouped: a group per id of a 10M-row file would cost a gigabyte.
    repeated = (
        df.filter(pl.col("key").is_not_null() & pl.col("key").is_duplicated())
        .group_by("key").agg(pl.len().alias("n"), pl.col("row").min().alias("first"))
    )
    problems = [
        *(message for _, message in unknown_stages(df, "raw", "row", source, rules)),
        repeated_ids(with_rows(repeated, df, "key", "row"), "key", source.display, header),
        missing_ids(len(missing), missing.head(LISTED).to_list(), source.display, header),
    ]
    return [p for p in problems if p]


def diff(before: Source, after: Source, rules: Rules, *, columns: tuple[str, ...] = ()) -> DiffResult:
    for source in (before, after):
        absent = [c for c in columns if c not in source.headers]
        if absent:
            raise InputError(f"{source.display}: --columns names columns the file does not have: {', '.join(absent)}")
    rule_header = next((h for h in after.headers if h.strip().lower() == rules.rule_column.lower()), None)
    try:
        # Both files in one go (read side by side), then plain-number ids as integers before the
        # checks: finding repeated ids among integers is several times cheaper than among text.
        b, a = _integer_keys(*pl.collect_all([_project(before, rules, list(columns), None),
                                              _project(after, rules, list(columns), rule_header)]))
    except pl.exceptions.PolarsError as exc:
        raise explain_read_error([before, after], exc) from None
    problems = _check(b, before, rules) + _check(a, after, rules)
    if problems:
        raise InputError("cannot compare:\n  " + "\n  ".join(problems))

    b, a = b.drop("raw"), a.drop("raw")
    joined = b.join(a, on="key", how="full", coalesce=True, suffix="_after")
    in_before, in_after = pl.col("row").is_not_null(), pl.col("row_after").is_not_null()
    both = joined.filter(in_before & in_after)
    frm = pl.col("stage").cast(pl.String).fill_null(EMPTY)
    to = pl.col("stage_after").cast(pl.String).fill_null(EMPTY)
    moves = summarize_moves(both.group_by(frm.alias("from"), to.alias("to")).agg(pl.len().alias("count")), rules)
    changed = both.filter(pl.col("stage").ne_missing(pl.col("stage_after")))
    column_changes = {c: int(both.select(pl.col(f"col:{c}").ne_missing(pl.col(f"col:{c}_after")).sum()).item()) for c in columns}
    samples = _samples(changed, after, rules, rule_header is not None)
    return DiffResult(
        before_file=before.display, after_file=after.display, rules_file=rules.path,
        key_column=after.resolved["record_id"], stage_column=after.resolved["stage"],
        rows_before=b.height, rows_after=a.height,
        added=int(joined.select((~in_before).sum()).item()), removed=int(joined.select((~in_after).sum()).item()),
        common=both.height, changed=changed.height, totals=moves.totals, stages=moves.stages,
        transitions=moves.transitions, samples=samples, column_changes=column_changes,
        rule_column=rule_header,
    )


def _samples(changed: pl.DataFrame, after: Source, rules: Rules, has_rule: bool) -> tuple[dict[str, Any], ...]:
    changed = changed.with_columns(pl.col("stage", "stage_after").cast(pl.String))
    picked = (
        changed.sort("row_after")
        .group_by("stage", "stage_after", maintain_order=True).head(SAMPLES_PER_TRANSITION)
    )
    rows = sorted(picked.iter_rows(named=True), key=lambda r: (sample_order(r["stage"], r["stage_after"], rules), r["row_after"]))[:MAX_SAMPLES]
    if not rows:
        return ()
    # Ids, names and emails only for the few sampled rows: one more pass over AFTER, by row number.
    wanted = [r["row_after"] for r in rows]
    found = after.rows_at(wanted, after.text("record_id").alias("key"),
                          *[after.text(n).alias(n) for n in ("first_name", "last_name", "email")])
    people = {}
    for row in found.iter_rows(named=True):
        name = " ".join(v for v in (row["first_name"], row["last_name"]) if v)
        people[row["row"]] = (row["key"], name or None, row["email"])
    return tuple(
        {
            "row": r["row_after"] + 2, "record_id": people.get(r["row_after"], (None,) * 3)[0],
            "name": people.get(r["row_after"], (None,) * 3)[1], "email": people.get(r["row_after"], (None,) * 3)[2],
            "from": r["stage"] or EMPTY, "to": r["stage_after"] or EMPTY,
            "rule": str(r["rule"]) if has_rule and r.get("rule") is not None else None,
        }
        for r in rows
    )

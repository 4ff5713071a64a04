"""Compare two exports of the same CRM: whose stage changed, in which direction, and how many."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..base.errors import InputError
from ..io.sources import Source, explain_read_error
from ..rules.model import ColumnSpec, Rules
from .facts import plain_number, stage_id, unknown_spelling
from .moves import EMPTY, sample_order, summarize_moves
from .problems import LISTED, missing_ids, repeated_ids, unknown_stages, with_rows

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
    rules_found_by_itself: str | None = None  #: where the rules file was found when nobody named it
    changes_file: str | None = None  #: the --changes file: every change, added and removed record

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "diff",
            "files": {
                "before": self.before_file,
                "after": self.after_file,
                "rules": self.rules_file,
                "rules_found_by_itself": self.rules_found_by_itself,
                "changes": self.changes_file,
            },
            "columns": {
                "key": self.key_column,
                "stage": self.stage_column,
                "rule": self.rule_column,
            },
            "summary": {
                "rows_before": self.rows_before,
                "rows_after": self.rows_after,
                "added": self.added,
                "removed": self.removed,
                "common": self.common,
                "changed": self.changed,
                "unchanged": self.totals["unchanged"],
                "promotions": self.totals["promotion"],
                "demotions": self.totals["demotion"],
                "sideways": self.totals["sideways"],
                "newly_staged": self.totals["newly_staged"],
                "cleared": self.totals["cleared"],
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


def _project(
    source: Source, extra: list[str], rule_header: str | None, integer: bool
) -> pl.LazyFrame:
    """Only what the diff needs, in small types: the rest of each file is never held in memory.

    The stage stays as the file spells it, as a category (a small number per row): the few
    distinct spellings are read as stages afterwards, not every row's. `integer`: the ids read
    as integers, with `bad` marking an id that is not a plain number (then ids are compared as
    text: `_project(..., integer=False)`).
    """
    exprs = [pl.col(source.resolved["stage"]).cast(pl.String).cast(pl.Categorical).alias("stage")]
    if integer:
        raw = pl.col(source.resolved["record_id"]).cast(pl.String)
        # Only ids written as plain numbers (no sign, leading zero or spaces): 0123 is not 123.
        number = plain_number(raw)
        exprs += [number.alias("key"), (raw.is_not_null() & number.is_null()).alias("bad")]
    else:
        exprs.append(source.text("record_id").alias("key"))
    if rule_header:
        exprs.append(pl.col(rule_header).cast(pl.String).alias("rule"))
    exprs += [pl.col(h).cast(pl.String).alias(f"col:{h}") for h in extra]
    return source.frame.select(exprs).with_row_index("row")


def _read(
    before: Source, after: Source, extra: list[str], rule_header: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both files, one after the other (side by side costs as much time, and twice the reading
    memory). Plain-number ids are compared as integers: finding repeats and joining are several
    times cheaper than on text, and no id is held as text."""
    b = _project(before, extra, None, True).collect()
    a = _project(after, extra, rule_header, True).collect()
    if b["bad"].any() or a["bad"].any():
        return _project(before, extra, None, False).collect(), _project(
            after, extra, rule_header, False
        ).collect()
    return b.drop("bad"), a.drop("bad")


def _stage_ids(spellings: pl.Series, rules: Rules) -> pl.DataFrame:
    """Each distinct spelling of the stage column: `stage` (as read), `id` (the stage id, null when
    blank or unknown) and `unknown` (the spelling, where the rules do not know it)."""
    raw = pl.col("stage").cast(pl.String)
    return (
        pl.DataFrame({"stage": spellings})
        .unique()
        .with_columns(
            (sid := stage_id(raw, rules)).alias("id"), unknown_spelling(raw, sid).alias("unknown")
        )
    )


def _check(df: pl.DataFrame, source: Source, rules: Rules) -> list[str]:
    header = source.resolved["record_id"]
    problems = []
    stages = _stage_ids(df["stage"].unique(), rules)
    unknown = stages.filter(pl.col("unknown").is_not_null())["stage"]
    if unknown.len():  # the rows of unknown spellings, to name them
        found = df.filter(pl.col("stage").is_in(unknown.implode())).select(
            "row", pl.col("stage").cast(pl.String).alias("raw")
        )
        problems += [message for _, message in unknown_stages(found, "raw", "row", source, rules)]
    if df["key"].n_unique() < df.height:  # some id is repeated (or missing more than once)
        # Only the repeated ids are grouped: a group per id of a 10M-row file would cost a gigabyte.
        repeated = (
            df.filter(pl.col("key").is_not_null() & pl.col("key").is_duplicated())
            .group_by("key")
            .agg(pl.len().alias("n"), pl.col("row").min().alias("first"))
        )
        problems.append(
            repeated_ids(with_rows(repeated, df, "key", "row"), "key", source.display, header)
        )
    missing = df.filter(pl.col("key").is_null())["row"]
    problems.append(
        missing_ids(len(missing), missing.head(LISTED).to_list(), source.display, header)
    )
    return [p for p in problems if p]


def diff(
    before: Source, after: Source, rules: Rules, *, columns: tuple[str, ...] = ()
) -> DiffResult:
    for source in (before, after):
        absent = [c for c in columns if c not in source.headers]
        if absent:
            raise InputError(
                f"{source.display}: --columns names columns the file does not have: "
                f"{', '.join(absent)}"
            )
    rule_header = next(
        (h for h in after.headers if h.strip().lower() == rules.rule_column.lower()), None
    )
    try:
        b, a = _read(before, after, list(columns), rule_header)
    except pl.exceptions.PolarsError as exc:
        raise explain_read_error([before, after], exc) from None
    problems = _check(b, before, rules) + _check(a, after, rules)
    if problems:
        raise InputError("cannot compare:\n  " + "\n  ".join(problems))

    # Ids are unique in each file (checked above), so the join is a lookup: each AFTER id is looked
    # up among BEFORE's, sorted. Then one grouping by the pair of spellings (a few hundred groups at
    # most) counts everything; the spellings become stages afterwards.
    extra = [f"col:{c}" for c in columns]
    b = b.select("key", "stage", *extra).sort("key")
    if b.height:
        at = b["key"].search_sorted(a["key"], side="left").clip(0, b.height - 1)
        hit = (b["key"].gather(at) == a["key"]).fill_null(False)
        looked_before = [pl.when(hit).then(b[c].gather(at)).alias(c) for c in ("stage", *extra)]
    else:  # nothing to look up in
        hit = pl.Series([False] * a.height, dtype=pl.Boolean)
        looked_before = [pl.lit(None, dtype=b.schema[c]).alias(c) for c in ("stage", *extra)]
    looked_up = a.select(
        "row", pl.col("stage").alias("stage_after"), *[pl.col(c).alias(f"{c}_after") for c in extra]
    )
    looked_up = looked_up.with_columns(hit.alias("in_before"), *looked_before)
    pair = ("stage", "stage_after")
    groups = (
        looked_up.lazy()
        .group_by("in_before", *pair)
        .agg(
            pl.len().alias("count"),
            *[pl.col(c).ne_missing(pl.col(f"{c}_after")).sum().alias(c) for c in extra],
        )
        .collect()
    )
    ids = _stage_ids(pl.concat([groups["stage"], groups["stage_after"]]), rules).select(
        "stage", "id"
    )
    groups = groups.join(ids, on="stage", how="left").join(
        ids.rename({"stage": "stage_after", "id": "id_after"}), on="stage_after", how="left"
    )
    both = groups.filter(pl.col("in_before"))
    frm, to = pl.col("id").fill_null(EMPTY), pl.col("id_after").fill_null(EMPTY)
    moves = summarize_moves(
        both.group_by(frm.alias("from"), to.alias("to")).agg(pl.col("count").sum()), rules
    )
    changed = both.filter(pl.col("id").ne_missing(pl.col("id_after")))
    # The rows of the changed pairs (a few percent of the rows, typically), for the samples.
    candidates = (
        looked_up.lazy()
        .filter(pl.col("in_before"))
        .join(
            changed.lazy().select(
                *pair, pl.col("id").alias("from"), pl.col("id_after").alias("to")
            ),
            on=list(pair),
            nulls_equal=True,
        )  # a blank stage on either side is a move too
        .select(
            pl.col("from").alias("stage"),
            pl.col("to").alias("stage_after"),
            pl.col("row").alias("row_after"),
        )
        .collect()
    )
    common = int(both["count"].sum())
    return DiffResult(
        before_file=before.display,
        after_file=after.display,
        rules_file=rules.path,
        key_column=after.resolved["record_id"],
        stage_column=after.resolved["stage"],
        rows_before=b.height,
        rows_after=a.height,
        added=a.height - common,
        removed=b.height - common,
        common=common,
        changed=int(changed["count"].sum()),
        totals=moves.totals,
        stages=moves.stages,
        transitions=moves.transitions,
        samples=_samples(candidates, after, rules, rule_header),
        column_changes={c: int(both[f"col:{c}"].sum()) for c in columns},
        rule_column=rule_header,
        rules_found_by_itself=rules.found_by_itself,
    )


def _samples(
    changed: pl.DataFrame, after: Source, rules: Rules, rule_header: str | None
) -> tuple[dict[str, Any], ...]:
    """`changed`: stage, stage_after (ids, null for none) and row_after: the first rows of each
    move."""
    picked = (
        changed.sort("row_after")
        .group_by("stage", "stage_after", maintain_order=True)
        .head(SAMPLES_PER_TRANSITION)
    )
    rows = sorted(
        picked.iter_rows(named=True),
        key=lambda r: (sample_order(r["stage"], r["stage_after"], rules), r["row_after"]),
    )[:MAX_SAMPLES]
    if not rows:
        return ()
    # Ids, names, emails and rules only for the few sampled rows: one more pass over AFTER, by row
    # number.
    wanted = [r["row_after"] for r in rows]
    rule = pl.col(rule_header).cast(pl.String) if rule_header else pl.lit(None, dtype=pl.String)
    found = after.rows_at(
        wanted,
        after.text("record_id").alias("key"),
        *[after.text(n).alias(n) for n in ("first_name", "last_name", "email")],
        rule.alias("rule"),
    )
    people = {}
    for row in found.iter_rows(named=True):
        name = " ".join(v for v in (row["first_name"], row["last_name"]) if v)
        people[row["row"]] = (row["key"], name or None, row["email"], row["rule"])
    samples = []
    for r in rows:
        record_id, name, email, decided_by = people.get(r["row_after"], (None,) * 4)
        samples.append(
            {
                "row": r["row_after"] + 2,
                "record_id": record_id,
                "name": name,
                "email": email,
                "from": r["stage"] or EMPTY,
                "to": r["stage_after"] or EMPTY,
                "rule": decided_by,
            }
        )
    return tuple(samples)

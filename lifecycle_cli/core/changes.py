"""The full list of changed records, one row each: the --changes and --companies-changes files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import polars as pl

from ..io.sources import Source
from ..rules.model import Rules

#: The columns of a changes file, in order ("Name" is left out of redacted reports' lists).
COLUMNS = ("Record ID", "Name", "Stage Before", "Stage After", "Direction", "Rule", "Other Type")


def direction(previous: pl.Expr, new: pl.Expr, rules: Rules) -> pl.Expr:
    """moves.direction as an expression over stage ids (null: no stage; "added"/"removed" are
    set by the diff, which knows which file a record is in)."""
    ids = [s.id for s in rules.stages]
    ranks = [s.rank for s in rules.stages]
    rank = lambda e: e.replace_strict(ids, ranks, default=-1, return_dtype=pl.Int32)  # noqa: E731
    return (
        pl.when(previous.eq_missing(new))
        .then(pl.lit("unchanged"))
        .when(previous.is_null())
        .then(pl.lit("newly_staged"))
        .when(new.is_null())
        .then(pl.lit("cleared"))
        .when((rank(previous) < 0) | (rank(new) < 0))
        .then(pl.lit("sideways"))
        .when(rank(new) > rank(previous))
        .then(pl.lit("promotion"))
        .otherwise(pl.lit("demotion"))
    )


def _label(stage: pl.Expr, rules: Rules) -> pl.Expr:
    return stage.replace_strict(
        [s.id for s in rules.stages],
        [s.label for s in rules.stages],
        default=None,
        return_dtype=pl.String,
    )


def table(changes: pl.DataFrame | pl.LazyFrame, rules: Rules, *, redact: bool) -> pl.DataFrame:
    """`changes`: record_id, previous, new (stage ids, null for none), rule, other_type and name
    (optional), one row per changed record; `direction` (optional) overrides the computed one."""
    frame = changes.lazy()
    names = frame.collect_schema().names()
    col = lambda c: pl.col(c) if c in names else pl.lit(None, dtype=pl.String)  # noqa: E731
    move = (
        pl.col("direction")
        if "direction" in names
        else direction(pl.col("previous"), pl.col("new"), rules)
    )
    out = frame.select(
        pl.col("record_id").alias("Record ID"),
        col("name").alias("Name"),
        _label(pl.col("previous").cast(pl.String), rules).alias("Stage Before"),
        _label(pl.col("new").cast(pl.String), rules).alias("Stage After"),
        move.alias("Direction"),
        col("rule").cast(pl.String).alias("Rule"),
        col("other_type").cast(pl.String).alias("Other Type"),
    )
    if redact:
        # A key column that is not an id (diff --key Email) is personal data too.
        from ..base.redact import RECORD_ID

        ids = pl.col("Record ID")
        kept = pl.when(ids.str.contains(RECORD_ID.pattern)).then(ids).otherwise(None)
        out = out.drop("Name").with_columns(kept.alias("Record ID"))
    return out.collect()


def writer(frame: pl.DataFrame, target: str) -> Callable[[BinaryIO], object]:
    """Parquet for a .parquet name, else UTF-8 CSV (empty cells for no value)."""
    if Path(target).suffix.lower() == ".parquet":
        return lambda fh: frame.write_parquet(fh)
    return lambda fh: frame.write_csv(fh)


def diff_changes(
    before: Source, after: Source, rules: Rules, rule_header: str | None
) -> pl.DataFrame:
    """Every record whose stage differs between two exports, and every record only in one of them
    (direction `added` or `removed`): record_id (as AFTER writes it, else BEFORE), name (from AFTER,
    else BEFORE), previous, new (stage ids), direction, rule (AFTER's rule column), other_type
    (AFTER's Other Type column, where it has one)."""
    from .facts import stage_id

    def side(source: Source, suffix: str, extra: dict[str, str | None]) -> pl.LazyFrame:
        name = pl.concat_str(
            [source.text("first_name"), source.text("last_name")], separator=" ", ignore_nulls=True
        )
        exprs = [
            source.text("record_id").alias("key"),
            source.raw("record_id").cast(pl.String).str.strip_chars().alias("id" + suffix),
            pl.when(name == "").then(None).otherwise(name).alias("name" + suffix),
            stage_id(source.raw("stage"), rules).cast(pl.String).alias("stage" + suffix),
        ]
        for alias, header in extra.items():
            value = pl.col(header).cast(pl.String) if header else pl.lit(None, dtype=pl.String)
            blank = value.str.strip_chars() == ""
            exprs.append(pl.when(blank).then(None).otherwise(value).alias(alias))
        return source.frame.select(exprs).filter(pl.col("key").is_not_null())

    wanted = rules.other_type_column.lower()
    other = next((h for h in after.headers if h.strip().lower() == wanted), None)
    b = side(before, "_b", {})
    a = side(after, "_a", {"rule": rule_header, "other_type": other})
    both = b.join(a, on="key", how="full", coalesce=True)
    in_b, in_a = pl.col("id_b").is_not_null(), pl.col("id_a").is_not_null()
    move = (
        pl.when(~in_b)
        .then(pl.lit("added"))
        .when(~in_a)
        .then(pl.lit("removed"))
        .otherwise(direction(pl.col("stage_b"), pl.col("stage_a"), rules))
    )
    return (
        both.with_columns(move.alias("direction"))
        .filter(pl.col("direction") != "unchanged")
        .select(
            pl.coalesce("id_a", "id_b").alias("record_id"),
            pl.coalesce("name_a", "name_b").alias("name"),
            pl.col("stage_b").alias("previous"),
            pl.col("stage_a").alias("new"),
            "direction",
            "rule",
            "other_type",
        )
        .sort("record_id")
        .collect()
    )

"""The reclassified export: every input column in order, the stage updated, the previous stage
and the deciding rule beside it, each stage written as the file spells it; and the changes."""

from __future__ import annotations

import polars as pl

from ..base.errors import InputError
from ..io.sources import Source
from ..rules.model import Rules
from .columns import CUR, NEW, OTHER, RULE, SPELLING


def stage_spellings(decisions: pl.DataFrame, rules: Rules) -> dict[str, str]:
    """How to write each stage: the file's most common spelling of it, else the HubSpot internal
    value.

    Never a label the portal may not have: rules.yaml's labels are suggested renames.
    """
    counts = (
        decisions.filter(pl.col(CUR).is_not_null() & pl.col(SPELLING).is_not_null())
        .group_by(pl.col(CUR).cast(pl.String), pl.col(SPELLING).cast(pl.String))
        .len()
        .sort(["len", SPELLING], descending=[True, False])
    )
    found: dict[str, str] = {}
    for stage, spelling, _ in counts.iter_rows():
        found.setdefault(stage, spelling)
    return {s.id: found.get(s.id, s.value) for s in rules.stages}


def output_table(
    contacts: Source,
    decisions: pl.DataFrame,
    rules: Rules,
    stage_format: str,
    spellings: dict[str, str] | None,
) -> tuple[pl.LazyFrame, list[str]]:
    """The output table (every input column in order, the stage updated, the new columns beside
    it), and the names of the columns added right after the stage column."""
    stage_header = contacts.resolved.get("stage")
    raw = contacts.raw("stage")
    # The new stage as it will be written, worked out here on the narrow table (a lookup inside
    # the streamed pass costs gigabytes at 10M rows). Null: keep the file's spelling, which is
    # what unchanged contacts get unless a form was asked for.
    changed = pl.col(NEW).ne_missing(pl.col(CUR))
    ids = [s.id for s in rules.stages]
    if spellings is not None:
        forms = [spellings[i] for i in ids]
    else:
        forms = [s.label if stage_format == "label" else s.value for s in rules.stages]
    written = (
        pl.col(NEW).cast(pl.String).replace_strict(ids, forms, default=None, return_dtype=pl.String)
    )
    rewrite = changed | pl.lit(spellings is None)
    side = decisions.select(
        pl.when(rewrite).then(written).cast(pl.Categorical).alias("__lc_written"),
        pl.col(RULE),
        *[c for c in (OTHER, "__lc_keep") if c in decisions.columns],
    )
    by_lower = output_headers(contacts, rules)
    # A file without a stage column (the rules allow it) gets one, named as the rules' first header.
    extra: list[str] = [] if stage_header else [added_stage_column(rules)]
    updates = [
        pl.coalesce(pl.col("__lc_written").cast(pl.String), raw).alias(stage_header or extra[0])
    ]
    for wanted, expr in (
        (rules.previous_stage_column, raw),
        (rules.rule_column, pl.col(RULE).cast(pl.String)),
    ):
        header = by_lower.get(wanted.lower())
        updates.append(expr.alias(header or wanted))
        if header is None:
            extra.append(wanted)
    existing = by_lower.get(rules.other_type_column.lower())
    if OTHER in decisions.columns:
        kept = pl.col(existing).cast(pl.String) if existing else pl.lit(None, dtype=pl.String)
        updates.append(pl.coalesce(pl.col(OTHER), kept).alias(existing or rules.other_type_column))
        if not existing:
            extra.append(rules.other_type_column)
    columns = list(contacts.headers)
    at = columns.index(stage_header) + 1 if stage_header else len(columns)
    columns[at:at] = extra
    # The decisions are in file order, one per row kept: set them beside the file's own rows.
    frame = pl.concat([contacts.frame, side.lazy()], how="horizontal")
    if "__lc_keep" in side.columns:
        frame = frame.filter(pl.col("__lc_keep"))
    return frame.with_columns(updates).select(columns), extra


def added_stage_column(rules: Rules) -> str:
    """The stage column's name when the contacts file has none: the first header the rules
    accept."""
    return rules.columns["contacts"]["stage"].headers[0]


def output_headers(contacts: Source, rules: Rules) -> dict[str, str]:
    """The file's headers by lower-case name, to find the columns classify writes (previous stage,
    rule, other type) where the export has them already; two headers for one of them is an error:
    one would be updated and the other left stale."""
    names = (
        contacts.file_headers
        if len(contacts.file_headers) == len(contacts.headers)
        else contacts.headers
    )
    found: dict[str, list[int]] = {}
    for i, header in enumerate(names):
        found.setdefault(header.strip().lower(), []).append(i)
    for wanted in (rules.previous_stage_column, rules.rule_column, rules.other_type_column):
        at = found.get(wanted.lower(), [])
        if len(at) > 1:
            both = " and ".join(f"'{names[i]}' (column {i + 1})" for i in at)
            raise InputError(
                f"{contacts.display}: the {contacts.role} file has two columns for '{wanted}', "
                f"which classify writes: {both}; remove or rename one of them (headers are "
                "compared ignoring case and surrounding spaces)"
            )
    return {key: contacts.headers[at[0]] for key, at in found.items()}


def changes_table(contacts: Source, decisions: pl.DataFrame) -> pl.LazyFrame:
    """The changed contacts, for re-import files and --changes: their record id as written, the
    move, the deciding rule and the name (first and last, null when the file has neither)."""
    side = decisions.select(
        pl.col(CUR).cast(pl.String).alias("previous"),
        pl.col(NEW).cast(pl.String).alias("new"),
        (pl.col(OTHER) if OTHER in decisions.columns else pl.lit(None, dtype=pl.String)).alias(
            "other_type"
        ),
        pl.col(RULE).cast(pl.String).alias("rule"),
        (pl.col("__lc_keep") if "__lc_keep" in decisions.columns else pl.lit(True)).alias(
            "__lc_keep"
        ),
    )
    name = pl.concat_str(
        [contacts.text("first_name"), contacts.text("last_name")], separator=" ", ignore_nulls=True
    )
    ids = contacts.frame.select(
        pl.col(contacts.resolved["record_id"]).cast(pl.String).str.strip_chars().alias("record_id"),
        pl.when(name == "").then(None).otherwise(name).alias("name"),
    )
    return (
        pl.concat([ids, side.lazy()], how="horizontal")
        .filter(pl.col("__lc_keep") & pl.col("new").ne_missing(pl.col("previous")))
        .drop("__lc_keep")
    )

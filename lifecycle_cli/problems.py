"""Problems with a contacts file that classify and diff both report, worded once."""

from __future__ import annotations

import polars as pl

from .rules import Rules

#: Most values or rows one message lists.
LISTED = 10


def unknown_stages(frame: pl.DataFrame, raw: str, row: str, display: str, header: str, rules: Rules) -> str | None:
    """Stage values the rules do not know: `raw` holds them (null elsewhere), `row` the 0-based data row."""
    unknown = (
        frame.filter(pl.col(raw).is_not_null())
        .group_by(pl.col(raw).alias("value"))
        .agg(pl.len().alias("n"), (pl.col(row).min() + 2).alias("row"))
        .sort("n", "value", descending=[True, False])
    )
    if not unknown.height:
        return None
    listed = ", ".join(f"'{r['value']}' ({r['n']} rows, first at row {r['row']})" for r in unknown.head(2 * LISTED).iter_rows(named=True))
    known = ", ".join(f"{s.label} ({s.value})" for s in rules.stages)
    return (
        f"{display}: column '{header}': {unknown['n'].sum()} rows have a stage the rules do not know: {listed}\n"
        f"    known stages: {known}\n"
        f"    to map a custom stage (e.g. a numeric id), add it to that stage's aliases in {rules.path}"
    )


def missing_ids(count: int, rows: list[int], display: str, header: str) -> str | None:
    """`count` rows without a record id; `rows`: the first of them (0-based data rows)."""
    if not count:
        return None
    listed = ", ".join(str(r + 2) for r in rows[:LISTED])
    return f"{display}: column '{header}': {count} rows have no record id (rows {listed}{', ...' if count > LISTED else ''})"


def repeated_ids(repeated: pl.DataFrame, key: str, display: str, header: str, hint: str = "") -> str | None:
    """Record ids on more than one row: `repeated` has the id (`key`), `n` and `first` (row), one row per id."""
    if not repeated.height:
        return None
    repeated = repeated.sort("first")
    listed = ", ".join(f"{r[key]} ({r['n']} times)" for r in repeated.head(LISTED).iter_rows(named=True))
    more = ", ..." if repeated.height > LISTED else ""
    return f"{display}: column '{header}': {repeated.height} record ids appear more than once: {listed}{more}{hint}"

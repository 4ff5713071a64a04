"""Problems with a contacts file that classify and diff both report, worded once."""

from __future__ import annotations

import csv
import io

import polars as pl

from ..base.diagnostics import listed, quantity, row_list
from ..base.redact import is_personal_header, looks_personal
from ..io.sources import Source, normalise_header
from ..rules.model import Rules

#: Most values or rows one message lists.
LISTED = 10
#: Most rows listed for one repeated id.
REPEATS_LISTED = 5


def unknown_stages(
    frame: pl.DataFrame, raw: str, row: str, source: Source, rules: Rules
) -> list[tuple[str, str]]:
    """Stage values the rules do not know, as (code, message): `raw` holds them (null elsewhere),
    `row` the 0-based data row.

    A value shaped like an email address, a phone number or one of the file's names is not shown:
    it is personal data, and it is in the stage column because its row is shifted (a delimiter in an
    unquoted field); those rows are named with their field counts instead.
    """
    unknown = frame.filter(pl.col(raw).is_not_null()).select(
        pl.col(raw).cast(pl.String).alias("value"), pl.col(row).alias("row")
    )
    if not unknown.height:
        return []
    personal = pl.col("value").is_in(_personal_values(unknown["value"].unique(), source))
    problems = [("shifted-row", _misplaced(unknown.filter(personal)["row"], source))]
    unknown = (
        unknown.filter(~personal)
        .group_by("value")
        .agg(pl.len().alias("n"), (pl.col("row").min() + 2).alias("row"))
        .sort("n", "value", descending=[True, False])
    )
    if unknown.height:
        values = listed(
            (
                f"'{r['value']}' ({quantity(r['n'], 'row')}, first at row {r['row']})"
                for r in unknown.head(2 * LISTED).iter_rows(named=True)
            ),
            unknown.height,
            "more values",
        )
        known = ", ".join(f"{s.label} ({s.value})" for s in rules.stages)
        problems.append(
            (
                "unknown-stage",
                f"{source.display}: column '{source.resolved['stage']}': "
                f"{quantity(int(unknown['n'].sum()), 'row', 'have')} a stage the rules do not "
                f"know: {values}\n"
                f"    known stages: {known}\n"
                "    to map a custom stage (e.g. a numeric id), add it to that stage's aliases in "
                f"{rules.path}",
            )
        )
    return [(code, message) for code, message in problems if message]


def _personal_values(values: pl.Series, source: Source) -> list[str]:
    """The values shaped like an email address or phone number, or found (whole, or every word of
    them) in one of the file's name, email, phone or owner columns."""
    personal = [v for v in values if looks_personal(v)]
    rest = [v for v in values if not looks_personal(v)]
    written = (
        source.file_headers if len(source.file_headers) == len(source.headers) else source.headers
    )
    columns = [
        h
        for h, w in zip(source.headers, written, strict=False)
        if is_personal_header(normalise_header(w)) and h != source.resolved["stage"]
    ]
    columns += [
        source.resolved[n] for n in ("first_name", "last_name", "email") if n in source.resolved
    ]
    if not rest or not columns:
        return personal
    words = {v: v.strip().lower().split() for v in rest}
    wanted = {w for split in words.values() for w in split} | {v.strip().lower() for v in rest}
    found = set(
        source.frame.select(
            pl.concat_list(pl.col(h).cast(pl.String) for h in dict.fromkeys(columns)).alias("v")
        )
        .explode("v")
        .select(pl.col("v").str.strip_chars().str.to_lowercase())
        .filter(pl.col("v").is_in(list(wanted)))
        .unique()
        .collect()["v"]
    )
    return personal + [
        v for v in rest if v.strip().lower() in found or (words[v] and set(words[v]) <= found)
    ]


def _misplaced(rows: pl.Series, source: Source) -> str | None:
    """Rows whose stage column holds personal data: their row numbers and field counts, no
    values."""
    if not rows.len():
        return None
    rows = rows.sort()
    first = rows.head(LISTED).to_list()
    counts = field_counts(source, first)
    listed = row_list(
        [f"{r + 2} ({counts[r]} fields)" if r in counts else r + 2 for r in first], rows.len()
    )
    header = len(source.headers)
    where = f", where the header has {header} fields" if counts else ""
    # A value from another column: the row is shifted (with the trailing empty fields Excel drops,
    # its field count can still match the header's).
    why = (
        "; such rows look shifted: a delimiter inside a field that is not quoted (a comma in a "
        "name or "
        "company, say) moves the rest of its row into the next columns: put that field in double "
        "quotes"
    )
    return (
        f"{source.display}: column '{source.resolved['stage']}': "
        f"{quantity(rows.len(), 'row', 'hold')} a name, email address or phone number instead "
        f"of a stage: {listed}{where}{why}"
    )


def field_counts(source: Source, rows: list[int]) -> dict[int, int]:
    """How many fields each of the given 0-based data rows has in a CSV file, as the csv module
    reads it (quoted fields may span lines); empty for Parquet."""
    if source.format != "csv" or not rows:
        return {}
    if source.data is not None:
        stream = io.TextIOWrapper(
            io.BytesIO(source.data), encoding="utf-8-sig", errors="replace", newline=""
        )
    elif source.path is not None:
        stream = source.path.open(encoding="utf-8-sig", errors="replace", newline="")
    else:
        return {}
    wanted, last, counts = set(rows), max(rows), {}
    with stream:
        reader = csv.reader(stream, delimiter=source.dialect.separator, strict=False)
        next(reader, None)
        for at, fields in enumerate(reader):
            if at in wanted:
                counts[at] = len(fields)
            if at >= last:
                break
    return counts


def missing_ids(count: int, rows: list[int], display: str, header: str) -> str | None:
    """`count` rows without a record id; `rows`: the first of them (0-based data rows)."""
    if not count:
        return None
    shown = row_list((r + 2 for r in rows[:LISTED]), count)
    return f"{display}: column '{header}': {quantity(count, 'row', 'have')} no record id ({shown})"


def repeated_ids(
    repeated: pl.DataFrame, key: str, display: str, header: str, hint: str = ""
) -> str | None:
    """Record ids on more than one row: `repeated` has `n`, `first` (0-based row) and `rows` (the
    first
    of its 0-based rows), one row per id. The ids are not shown: `diff --key Email` makes them
    emails."""
    if not repeated.height:
        return None
    repeated = repeated.sort("first")
    listed = "; ".join(
        _same_id(r["rows"], r["n"]) for r in repeated.head(LISTED).iter_rows(named=True)
    )
    more = f"; and {repeated.height - LISTED} more ids" if repeated.height > LISTED else ""
    return (
        f"{display}: column '{header}': {quantity(repeated.height, 'record id', 'appear')} more "
        "than once: "
        f"{listed}{more}{hint}"
    )


def with_rows(repeated: pl.DataFrame, frame: pl.DataFrame, key: str, row: str) -> pl.DataFrame:
    """`repeated` (`key`, `n`, `first`: one row per repeated id) with `rows`: the first 0-based rows
    of each of the ids `repeated_ids` lists, from `frame` (every row's `key` and `row`)."""
    listed = repeated.sort("first").head(LISTED)
    rows = (
        frame.filter(pl.col(key).is_in(listed[key].implode()))
        .group_by(key)
        .agg(pl.col(row).sort().head(REPEATS_LISTED).alias("rows"))
    )
    return repeated.join(rows, on=key, how="left")


def _same_id(rows: list[int], n: int) -> str:
    shown = [str(r + 2) for r in sorted(rows)[:REPEATS_LISTED]]
    if n > len(shown):
        return f"rows {', '.join(shown)} and {n - len(shown)} more have the same id"
    return f"rows {', '.join(shown[:-1])} and {shown[-1]} have the same id"

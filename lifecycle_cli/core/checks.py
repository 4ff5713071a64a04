"""The input checks of a classify run: repeated, missing and Excel-rounded ids, short rows,
unreadable values, unknown stages. Each problem is a diagnostic; errors stop the run."""

from __future__ import annotations

import polars as pl

from ..base.diagnostics import Diagnostics, listed, quantity, row_list
from ..io.sources import LineScan, Source, short_rows, short_rows_found
from ..rules.model import Rules
from .columns import BAD, KEY, RAW, ROW
from .problems import LISTED, missing_ids, repeated_ids, unknown_stages


def expected_value(kind: str, rules: Rules) -> str:
    if kind == "bool":
        return (
            "true/false ("
            + "/".join(rules.values["true_values"][:3])
            + " or "
            + "/".join(rules.values["false_values"][:3])
            + ")"
        )
    return "a date like 2024-03-12 09:14, 2024-03-12T09:14:00Z or 3/15/2024 2:30 PM"


def file_problems(
    found: Diagnostics,
    sources: list[Source | None],
    records: dict[str, int | None],
    future: tuple[int, list[int]],
    lines: dict[str, LineScan | None],
) -> None:
    """Short rows (Excel drops trailing empty fields) and consent events dated in the future
    (`future`: how many, and the first of their 0-based rows); `records`: each file's rows, as
    read; `lines`: what the files' lines showed, where they were read already."""
    for src in sources:
        if src is None:
            continue
        count, rows = short_rows(src, records=records[src.role], lines=lines.get(src.role))
        if count:
            found.items.append(short_rows_found(src.display, count, rows))
    count, rows = future
    if count:
        src = next(s for s in sources if s is not None and s.role == "consent")
        found.warn(
            "future-timestamp",
            f"{src.display}: column '{src.resolved['timestamp']}': "
            f"{quantity(count, 'consent event', 'are')} dated in the future "
            f"({row_list((r + 2 for r in rows), count)}); they count as the latest event of "
            "their contact",
            file=src.display,
            column=src.resolved["timestamp"],
            row=rows[0] + 2,
            hint="check the timestamps' time zone and date format (day and month swapped?)",
        )


#: An id Excel rounded to scientific notation (5.12346E+10): many ids then collide.
EXCEL_ROUNDED = r"^\s*[0-9](?:[.,][0-9]+)?[eE]\+[0-9]+\s*$"


EXCEL_HINT = (
    "Excel rounded these ids to scientific notation when the file was opened and saved there; "
    "export "
    "again from HubSpot and open it with Data > From Text/CSV, setting the ID columns to Text, or "
    "use the "
    "export without Excel"
)


def id_problems(
    found: Diagnostics, facts, contacts: Source, id_header: str, on_duplicate: str
) -> None:
    """Repeated, missing and Excel-rounded record ids (`facts`: classify.Facts)."""
    rounded = int(facts.rounded["n"][0])
    collided = on_duplicate != "keep-first" and facts.repeated.height > 0
    if collided:
        message = repeated_ids(
            facts.repeated,
            KEY,
            contacts.display,
            id_header,
            " (--on-duplicate keep-first keeps the first row of each)",
        )
        found.error(
            "excel-rounded-ids" if rounded else "repeated-id",
            message,
            file=contacts.display,
            column=id_header,
            hint=EXCEL_HINT if rounded else None,
        )
    found.error(
        "missing-id",
        missing_ids(
            facts.no_ids["n"][0], facts.no_ids["rows"][0].to_list(), contacts.display, id_header
        ),
        file=contacts.display,
        column=id_header,
    )
    if rounded and not collided:
        rows = facts.rounded["rows"][0].to_list()
        found.warn(
            "excel-rounded-ids",
            f"{contacts.display}: column '{id_header}': {quantity(rounded, 'record id', 'are')} "
            f"in scientific notation ({row_list((r + 2 for r in rows), rounded)}); "
            "they will not match the ids in other files",
            file=contacts.display,
            column=id_header,
            row=rows[0] + 2,
            hint=EXCEL_HINT,
        )


def bad_value_problems(
    src: Source, found: pl.DataFrame, rules: Rules, needed_by: list[str]
) -> list[str]:
    """Unreadable values of a deals or consent file (`found`: column, kind, value, count,
    first_row),
    counted per column; the values are not shown (a shifted row puts names and emails there)."""
    problems = []
    for (column,), rows in found.sort("first_row").group_by("column", maintain_order=True):
        firsts = rows["first_row"].sort()
        first_at = row_list(firsts.head(LISTED).to_list(), firsts.len())
        problems.append(
            f"{src.display}: column '{column}': "
            f"{quantity(int(rows['count'].sum()), 'row', 'hold')} values that are not "
            f"{expected_value(rows['kind'][0], rules)}, {different_values(rows.height)}, first "
            f"at {first_at}; needed by rule(s): {', '.join(needed_by) or 'none'}"
        )
    return problems


def deal_stage_problems(
    found: Diagnostics, deals: Source, stages: pl.DataFrame, rules: Rules
) -> None:
    """Deals whose stage no value list names and whose flags do not decide: a stop, as an unknown
    lifecycle stage is one. Each stage with its pipeline, count and first row."""
    header = deals.resolved["stage"]
    flags = [deals.resolved[n] for n in ("is_won", "is_closed", "is_lost") if n in deals.resolved]
    shown = []
    for row in stages.head(LISTED).iter_rows(named=True):
        pipeline = f" in pipeline '{row['pipeline']}'" if row["pipeline"] else ""
        deals_word = "deal" if row["count"] == 1 else "deals"
        shown.append(
            f"'{row['stage']}'{pipeline} ({row['count']:,} {deals_word}, first at row "
            f"{row['first_row']})"
        )
    why = (
        f"and its {' / '.join(flags)} column(s) do not decide"
        if flags
        else "and the file has no Is Closed Won / Is Deal Closed? column to decide"
    )
    total = int(stages["count"].sum())
    found.error(
        "unknown-deal-stage",
        f"{deals.display}: column '{header}': {quantity(total, 'deal', 'have')} a stage the "
        f"rules do not sort into won, lost or open, {why}: "
        f"{listed(shown, stages.height, 'more stages')}",
        file=deals.display,
        column=header,
        row=int(stages["first_row"].min()),
        hint="sort each stage under won_deal_stages, lost_deal_stages or open_deal_stages: "
        + rules.where_to_edit(
            "values.won_deal_stages, values.lost_deal_stages or values.open_deal_stages"
        )
        + " (`lifecycle init --from CONTACTS --deals DEALS` writes the file's stages there to "
        "sort)",
    )


def different_values(n: int) -> str:
    return "1 value" if n == 1 else f"{n:,} different values"


def contact_problems(
    decisions: pl.DataFrame, contacts: Source, rules: Rules
) -> list[tuple[str, str]]:
    """Unknown stage values and unreadable typed values in the contacts, from the narrow table, as
    (code, message). Only stage values are shown, and only those that are no personal data."""
    problems = unknown_stages(decisions, RAW, ROW, contacts, rules) if contacts.has("stage") else []
    spec = rules.columns["contacts"]
    for flag in sorted(c for c in decisions.columns if c.startswith(BAD)):
        name = flag[len(BAD) :]
        bad_rows = decisions.filter(pl.col(flag))[ROW]
        if not len(bad_rows):
            continue
        header = contacts.resolved[name]
        details = rows_of(
            contacts, bad_rows.to_list(), [header]
        )  # every bad row: the counts are exact
        different = details[header].str.strip_chars().n_unique()
        rows = row_list([r + 2 for r in bad_rows.head(LISTED)], len(bad_rows))
        needed_by = ", ".join(rules.rules_reading(name)) or "the built-in facts"
        problems.append(
            (
                "bad-value",
                f"{contacts.display}: column '{header}': "
                f"{quantity(len(bad_rows), 'row', 'hold')} values that are not "
                f"{expected_value(spec[name].type, rules)}, {different_values(different)}: {rows}; "
                f"needed by rule(s): {needed_by}",
            )
        )
    return problems


def rows_of(contacts: Source, rows: list[int], headers: list[str]) -> pl.DataFrame:
    """A few rows of the contacts file by row number: their record id and the given columns, as
    text."""
    return contacts.rows_at(
        rows,
        contacts.text("record_id").alias(KEY),
        *[pl.col(h).cast(pl.String) for h in dict.fromkeys(headers)],
        index=ROW,
    )

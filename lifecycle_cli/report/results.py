"""A classify or diff result (its `to_dict()`) as a report of typed sections."""

from __future__ import annotations

from typing import Any

from ..base.diagnostics import listed, quantity
from .sections import (
    BARS,
    COUNT,
    DELTA,
    EVERY,
    HTML,
    LINE,
    MARKDOWN,
    MOVE,
    RECORD_ID,
    TEXT_AND_MARKDOWN,
    ChangeList,
    Code,
    Column,
    Diagnostics,
    Group,
    KeyValues,
    Notes,
    Prose,
    Report,
    Section,
    Table,
    Transitions,
)

ONLY_HTML, ONLY_MARKDOWN = frozenset({HTML}), frozenset({MARKDOWN})
VOCABULARY_NOTE = Prose(
    (
        "A value no list names is unknown, not a no: contacts were kept or stopped on it, "
        "never moved. Sort each value into the list's ",
        Code("in"),
        " or ",
        Code("not_in"),
        " in the rules file.",
    )
)


def report(result: dict[str, Any]) -> Report:
    """The report of a classify or diff result: every section, in the order a terminal shows."""
    sections: list[Section | None] = [
        stages_table(result),
        Transitions(
            title="Transitions",
            stages=tuple((s["stage"], s["label"]) for s in result["stages"]),
            cells={
                (t["from"], t["to"]): (t["direction"], t["count"]) for t in result["transitions"]
            },
        ),
        demotions_table(result),
        moves_table(result),
        change_list(result, "change_list", "all-changes", "Every change"),
        decided_by_table(result),
        column_changes_table(result),
        samples_table(result),
        companies_group(result),
        change_list(result, "company_change_list", "company-changes", "Every company that changed")
        if result.get("companies") is not None
        else None,
        missing_table(result),
        vocabulary_table(result),
        Notes(lines=tuple(notes(result))) if notes(result) else None,
        diagnostics(result, "warning", "Warnings", "Warning", lead=0),
        diagnostics(result, "note", "Notes", "Note", lead=1),
    ]
    return Report(
        title=title(result),
        headline=headline(result),
        status=tuple(gate_lines(result)),
        facts=KeyValues(
            title="Files", rows=tuple((k, v, v != "not given") for k, v in file_rows(result))
        ),
        sections=tuple(s for s in sections if s is not None),
    )


# --------------------------------------------------------------------------- wording


def label(result: dict[str, Any], stage_id: str) -> str:
    return next((s["label"] for s in result["stages"] if s["stage"] == stage_id), stage_id)


def title(result: dict[str, Any]) -> str:
    files = result["files"]
    if result["command"] == "diff":
        return f"lifecycle diff: {files['before']} → {files['after']}"
    # The mode comes before the path: a narrow terminal cuts the end of a panel title.
    mode = ", check only (nothing written)" if result.get("checked_only") else ""
    return f"lifecycle classify{mode}: {files['contacts']}"


def headline(result: dict[str, Any]) -> str:
    s = result["summary"]
    moves = (
        f"{s['promotions']:,} up, {s['demotions']:,} down, {s['sideways']:,} to or from Other, "
        f"{s['newly_staged']:,} newly staged"
    )
    if result["command"] == "diff":
        cleared = f", {s['cleared']:,} cleared" if s["cleared"] else ""
        return (
            f"{s['changed']:,} of {s['common']:,} records in both files changed stage: "
            f"{moves}{cleared}; {s['unchanged']:,} unchanged. {s['added']:,} added, "
            f"{s['removed']:,} removed."
        )
    return (
        f"{s['changed']:,} of {s['contacts']:,} contacts change stage: {moves}; "
        f"{s['unchanged']:,} unchanged."
    )


def file_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    rows = diff_file_rows(result) if result["command"] == "diff" else classify_file_rows(result)
    run = result.get("run") or {}
    rules = result["files"]["rules"]
    rows.append(
        ("Rules", rules + (f" (hash {run['rules_hash']})" if run.get("rules_hash") else ""))
    )
    if run.get("at"):
        rows.append(("Run at", run["at"].replace("T", " ").replace("Z", " UTC")))
    return rows


def diff_file_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    files, s, cols = result["files"], result["summary"], result["columns"]
    matched = f"{cols['key']}; stage column {cols['stage']}"
    return [
        ("Before", f"{files['before']} ({quantity(s['rows_before'], 'row')})"),
        ("After", f"{files['after']} ({quantity(s['rows_after'], 'row')})"),
        ("Matched on", matched + (f"; rule column {cols['rule']}" if cols["rule"] else "")),
    ]


#: (role, file key, rows, matched, unknown, what the unknown rows are) per linked file.
LINKED_FILES = (
    (
        "Deals",
        "deals",
        "deal_rows",
        "deals_linked",
        "deals_with_unknown_contacts",
        "refer to contact ids not in the contacts file",
    ),
    (
        "Consent",
        "consent",
        "consent_rows",
        "consent_rows_matched",
        "consent_rows_unknown_contact",
        "for unknown contacts",
    ),
)


def classify_file_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    files, links = result["files"], result["links"]
    count = quantity(result["summary"]["contacts"], "contact")
    rows = [("Contacts", f"{files['contacts']} ({count})")]
    for role, what, total, matched, unknown, words in LINKED_FILES:
        if not files[what]:
            rows.append((role, "not given"))
            continue
        extra = f", {links.get(unknown, 0):,} {words}" if links.get(unknown) else ""
        if what == "deals" and "deals_linked_by_account" in links:
            # Salesforce opportunities without a contact role count for their account's contacts.
            extra = (
                f" ({links['deals_linked_by_account']:,} through their account, to "
                f"{quantity(links.get('contacts_linked_by_account', 0), 'contact')}){extra}"
            )
        rows.append(
            (
                role,
                f"{files[what]} ({quantity(links.get(total, 0), 'row')}, "
                f"{links.get(matched, 0):,} matched to contacts{extra})",
            )
        )
    if files["output"]:
        rows.append(("Written", files["output"]))
    return rows


def notes(result: dict[str, Any]) -> list[str]:
    found = [f"Note: {n}." for n in result.get("missing_sources", [])]
    where = result["files"].get("rules_found_by_itself")
    if where:
        found.append(
            f"Note: the rules file {result['files']['rules']} was found by itself "
            f"{where}, not named with --rules; check that it is yours."
        )
    unknown = result.get("unknown") or {}
    if unknown.get("caught"):
        found.append(
            f"Note: {quantity(unknown['caught'], 'contact')} falling from a higher stage stopped "
            "at a rule that could not be decided (rule kept-unknown): the known facts do not say "
            "they belong lower."
        )
    if result.get("redacted"):
        found.append("Note: names and emails are left out of this report (redacted).")
    full = full_list(result)
    if full:
        found.append(f"Note: {full}.")
    return found


def full_list(result: dict[str, Any]) -> str | None:
    """Where the full list of changes is: the examples show a few rows, never all of them."""
    files, s = result["files"], result["summary"]
    moved = s["changed"] + s.get("added", 0) + s.get("removed", 0)
    companies = result.get("companies") or {}
    if not moved and not companies.get("changed"):
        return None
    parts = []
    if files.get("changes"):
        what = (
            "record whose stage changed, added or removed"
            if result["command"] == "diff"
            else "contact whose stage changed"
        )
        parts.append(f"the full list of changes is {files['changes']} (every {what}, one row each)")
    elif result["command"] == "classify" and files.get("output"):
        column = files.get("previous_stage_column") or "Previous Lifecycle Stage"
        parts.append(
            f"the full list of changes is {files['output']}, filtered on rows whose "
            f"'{column}' differs from their stage; --changes FILE writes them alone, "
            "one row each"
        )
    else:
        parts.append(
            "the examples show a few rows; --changes FILE writes the full list, one row each"
        )
    if companies.get("changed"):
        listed = files.get("companies_changes")
        parts.append(
            f"the companies' is {listed}"
            if listed
            else "--companies-changes FILE lists every changed company"
        )
    return "; ".join(parts)


def gate_lines(result: dict[str, Any]) -> list[tuple[bool, str]]:
    """The --fail-on gates given, each with whether it tripped and why (first in every report:
    a CI summary shows why the job failed)."""
    return [
        (g["tripped"], ("Gate tripped: " if g["tripped"] else "Gate passed: ") + g["reason"])
        for g in result.get("gates", [])
    ]


def move_of(result: dict[str, Any], frm: str, to: str) -> str:
    return next(
        (t["direction"] for t in result["transitions"] if t["from"] == frm and t["to"] == to),
        "unchanged",
    )


def by_demotions_first(transitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The moves (not the unchanged), demotions first, then the largest."""
    moves = [t for t in transitions if t["direction"] != "unchanged"]
    return sorted(moves, key=lambda t: (t["direction"] != "demotion", -t["count"]))


def marks(directions: list[str]) -> tuple[str, ...]:
    return tuple("demotion" if d == "demotion" else "" for d in directions)


# --------------------------------------------------------------------------- sections

STAGE_COLUMNS = (Column("Stage"), Column("Before", COUNT), Column("After", COUNT))


def stages_table(result: dict[str, Any]) -> Table:
    # A count going up or down is neither good nor bad (Other +7): the moves carry the colours.
    peak = max([max(r["before"], r["after"]) for r in result["stages"]] or [1])
    return Table(
        title="Stages",
        columns=(
            *STAGE_COLUMNS,
            Column("Change", DELTA),
            Column("Before (grey) / after (blue)", BARS, formats=ONLY_HTML),
        ),
        rows=tuple(
            (r["label"], r["before"], r["after"], r["delta"], (r["before"], r["after"], peak))
            for r in result["stages"]
        ),
    )


def demotions_table(result: dict[str, Any]) -> Table | None:
    demotions = [t for t in result["transitions"] if t["direction"] == "demotion"]
    if not demotions:
        return None
    return Table(
        title="▼ Demotions",
        formats=ONLY_MARKDOWN,
        columns=(Column("From"), Column("To"), Column("Records", COUNT)),
        rows=tuple(
            (label(result, t["from"]), label(result, t["to"]), t["count"]) for t in demotions
        ),
    )


def moves_table(result: dict[str, Any]) -> Table | None:
    moves = by_demotions_first(result["transitions"])
    if not moves:
        return None
    return Table(
        title="Changes by transition (demotions first)",
        formats=ONLY_HTML,
        columns=(Column("Move", MOVE), Column("From"), Column("To"), Column("Records", COUNT)),
        rows=tuple(
            (t["direction"], label(result, t["from"]), label(result, t["to"]), t["count"])
            for t in moves
        ),
        marks=marks([t["direction"] for t in moves]),
    )


def change_list(result: dict[str, Any], key: str, table_id: str, title: str) -> Section | None:
    if not result.get(key):
        return None
    return ChangeList(title=title, formats=ONLY_HTML, table_id=table_id, data=result[key])


def decided_by_table(result: dict[str, Any]) -> Table | None:
    if not result.get("decided_by"):
        return None
    return Table(
        title="Decided by",
        columns=(Column("Rule"), Column("Contacts", COUNT), Column("What it means")),
        rows=tuple((r["rule"], r["count"], r["description"]) for r in result["decided_by"]),
    )


def column_changes_table(result: dict[str, Any]) -> Table | None:
    if not result.get("column_changes"):
        return None
    return Table(
        title="Other columns that changed",
        columns=(Column("Column"), Column("Records", COUNT)),
        rows=tuple(result["column_changes"].items()),
    )


def samples_table(result: dict[str, Any]) -> Table | None:
    """A few changed records; a page with the list of every change shows that instead."""
    if not result["samples"]:
        return None
    named = not result.get("redacted")
    kinds = [move_of(result, r["from"], r["to"]) for r in result["samples"]]
    columns = [Column("Row", LINE), Column("Record ID", RECORD_ID)]
    columns += [Column("Name", fold=True)] if named else []
    columns += [Column(name, MOVE if name == "Move" else "text", fold=True) for name in SAMPLED]
    rows = []
    for r, kind in zip(result["samples"], kinds, strict=True):
        name = (r["name"] or r["email"] or "",) if named else ()
        moved = (label(result, r["from"]), label(result, r["to"]), kind, r["rule"] or "")
        rows.append((r["row"], r["record_id"], *name, *moved))
    return Table(
        title="Examples of the changes",
        formats=TEXT_AND_MARKDOWN if result.get("change_list") else EVERY,
        columns=tuple(columns),
        rows=tuple(rows),
        marks=marks(kinds),
    )


SAMPLED = ("From", "To", "Move", "Rule")


def companies_headline(c: dict[str, Any]) -> str:
    kept = next((r["count"] for r in c["decided_by"] if r["rule"] == "kept-unknown"), 0)
    return (
        f"{c['changed']:,} of {c['companies']:,} companies in {c['file']} changed stage: "
        f"{c['promotions']:,} up, {c['demotions']:,} down, {c['sideways']:,} to or from Other, "
        f"{c['newly_staged']:,} newly staged; {kept:,} kept their stage (no contact that counts "
        "and no deal in the files)"
    )


def companies_group(result: dict[str, Any]) -> Group | None:
    companies = result.get("companies")
    if companies is None:
        return None
    parts = [
        Table(
            title="Company stages",
            columns=(*STAGE_COLUMNS, Column("Change", DELTA)),
            rows=tuple(
                (r["label"], r["before"], r["after"], r["delta"]) for r in companies["stages"]
            ),
        )
    ]
    moves = by_demotions_first(companies["transitions"])
    if moves:
        parts.append(
            Table(
                title="Company moves",
                # A page puts the move first, as in its table of the contacts' moves.
                columns=(
                    Column("Move", MOVE, formats=ONLY_HTML),
                    Column("From"),
                    Column("To"),
                    Column("Companies", COUNT),
                    Column("Move", MOVE, formats=TEXT_AND_MARKDOWN),
                ),
                rows=tuple(
                    (
                        t["direction"],
                        label(companies, t["from"]),
                        label(companies, t["to"]),
                        t["count"],
                        t["direction"],
                    )
                    for t in moves
                ),
                marks=marks([t["direction"] for t in moves]),
            )
        )
    return Group(title="Companies", text=companies_headline(companies), parts=tuple(parts))


def missing_table(result: dict[str, Any]) -> Table | None:
    """Columns the rules read that a file lacks: what they left undecided."""
    missing = result.get("missing_columns", [])
    if not missing:
        return None
    return Table(
        title="Columns the files lack (unknown, not empty)",
        lead=3,
        columns=(
            Column("Missing column"),
            Column("File"),
            Column("Rules it leaves undecided"),
            Column("Contacts kept at their stage", COUNT),
        ),
        rows=tuple((m["header"], m["source"], ", ".join(m["rules"]), m["kept"]) for m in missing),
    )


def vocabulary_table(result: dict[str, Any]) -> Table | None:
    """Values of the columns the rules read that no value list names: one row per column and
    list."""
    rows = []
    for entry in result.get("vocabulary", []):
        values = listed(
            (f"{v['value']} ({v['count']:,})" for v in entry["values"]),
            len(entry["values"]) + entry.get("more_values", 0),
        )
        where = (
            entry["header"]
            if entry["source"] == "contacts"
            else f"{entry['header']} ({entry['source']})"
        )
        rows.append((where, entry["list"], values, ", ".join(entry["rules"])))
    if not rows:
        return None
    return Table(
        title="Vocabulary: values the rules do not know",
        lead=2,
        columns=tuple(
            Column(name)
            for name in (
                "Column",
                "Value list",
                "Values no list names (rows)",
                "Rules left undecided",
            )
        ),
        rows=tuple(rows),
        note=VOCABULARY_NOTE,
    )


def diagnostics(
    result: dict[str, Any], severity: str, title: str, word: str, *, lead: int
) -> Diagnostics | None:
    found = tuple(d for d in result.get("diagnostics", []) if d["severity"] == severity)
    if not found:
        return None
    return Diagnostics(title=title, severity=severity, found=found, word=word, lead=lead)

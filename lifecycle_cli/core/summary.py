"""The summarize step: the report's result from the decisions (moves, deciding rules, samples,
the columns and values that left rules undecided)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..base.diagnostics import Diagnostics, headline, listed, quantity
from ..io.sources import Source
from ..rules.logic import DEAL_FACTS, Known, inputs_of, known
from ..rules.model import Rules
from .checks import rows_of
from .columns import CUR, KEY, NEW, ROW, RULE, UNKNOWN_AT, VOCAB
from .export import added_stage_column
from .moves import EMPTY, sample_order, summarize_moves
from .vocabulary import Tested

SAMPLE_ROWS = 10


@dataclass(frozen=True)
class ClassifyResult:
    """Everything a classify report shows; `to_dict()` is the JSON report."""

    contacts_file: str
    deals_file: str | None
    consent_file: str | None
    rules_file: str
    output_file: str | None
    contacts: int
    changed: int
    promotions: int
    demotions: int
    sideways: int
    newly_staged: int
    unchanged: int
    stages: tuple[dict[str, Any], ...]  # id, label, before, after, delta
    transitions: tuple[dict[str, Any], ...]  # from, to, count, direction
    decided_by: tuple[dict[str, Any], ...]  # rule, description, stage, count
    samples: tuple[dict[str, Any], ...]
    links: dict[str, int]
    missing_sources: tuple[str, ...]
    missing_columns: tuple[dict[str, Any], ...] = field(default=())
    diagnostics: tuple[dict[str, Any], ...] = field(default=())
    checked_only: bool = False
    companies: dict[str, Any] | None = (
        None  #: the companies section (see companies.py), when classified
    )
    #: Values of columns the rules read that no value list names (see vocabulary.py).
    vocabulary: tuple[dict[str, Any], ...] = field(default=())
    #: Contacts an undecided rule stopped: kept at their stage, or caught falling from a higher one.
    unknown_kept: int = 0
    unknown_caught: int = 0
    rules_found_by_itself: str | None = None  #: where the rules file was found when nobody named it
    #: The --changes and --companies-changes files (the full lists), and the output's column that
    #: holds each contact's stage before (filtering on it gives the same list).
    changes_file: str | None = None
    companies_changes_file: str | None = None
    previous_stage_column: str | None = None

    @property
    def warnings(self) -> list[str]:
        return [headline(d) for d in self.diagnostics if d["severity"] == "warning"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "classify",
            "files": {
                "contacts": self.contacts_file,
                "deals": self.deals_file,
                "consent": self.consent_file,
                "rules": self.rules_file,
                "rules_found_by_itself": self.rules_found_by_itself,
                "output": self.output_file,
                "changes": self.changes_file,
                "companies_changes": self.companies_changes_file,
                "previous_stage_column": self.previous_stage_column,
            },
            "summary": {
                "contacts": self.contacts,
                "changed": self.changed,
                "unchanged": self.unchanged,
                "promotions": self.promotions,
                "demotions": self.demotions,
                "sideways": self.sideways,
                "newly_staged": self.newly_staged,
            },
            "stages": list(self.stages),
            "transitions": list(self.transitions),
            "decided_by": list(self.decided_by),
            "samples": list(self.samples),
            "links": dict(self.links),
            "missing_sources": list(self.missing_sources),
            "missing_columns": list(self.missing_columns),
            "unknown": {"kept": self.unknown_kept, "caught": self.unknown_caught},
            "vocabulary": list(self.vocabulary),
            "diagnostics": list(self.diagnostics),
            "warnings": list(self.warnings),
            "checked_only": self.checked_only,
            **({"companies": self.companies} if self.companies is not None else {}),
        }


def summarize(
    decisions: pl.DataFrame,
    contacts: Source,
    rules: Rules,
    sources: dict,
    links: dict[str, int],
    output_file: str | None,
    checked_only: bool,
    found: Diagnostics,
    missing_columns: list[dict[str, Any]],
    kept_at: dict[int, tuple[int, int]],
) -> ClassifyResult:
    # Grouped on the small Enum columns; only the few groups are turned into text.
    moves = summarize_moves(
        decisions.group_by(CUR, NEW)
        .agg(pl.len().alias("count"))
        .select(
            pl.col(CUR).cast(pl.String).fill_null(EMPTY).alias("from"),
            pl.col(NEW).cast(pl.String).fill_null(EMPTY).alias("to"),
            "count",
        ),
        rules,
    )
    totals = moves.totals
    changed = decisions.filter(pl.col(NEW).ne_missing(pl.col(CUR)))
    decided_by = decided_by_rule(decisions, rules)
    samples = sample_moves(changed, contacts, rules)
    missing = missing_sources(contacts, rules, sources, kept_at)
    return ClassifyResult(
        contacts_file=sources["contacts"],
        deals_file=sources["deals"],
        consent_file=sources["consent"],
        rules_file=rules.path,
        output_file=output_file,
        contacts=decisions.height,
        changed=changed.height,
        promotions=totals["promotion"],
        demotions=totals["demotion"],
        sideways=totals["sideways"],
        newly_staged=totals["newly_staged"],
        unchanged=totals["unchanged"] + totals["cleared"],
        stages=moves.stages,
        transitions=moves.transitions,
        decided_by=tuple(decided_by),
        samples=tuple(samples),
        links=links,
        missing_sources=tuple(missing),
        missing_columns=tuple(missing_columns),
        diagnostics=tuple(d.to_dict() for d in found.items),
        checked_only=checked_only,
        unknown_kept=sum(k for k, _ in kept_at.values()),
        unknown_caught=sum(c for _, c in kept_at.values()),
        rules_found_by_itself=rules.found_by_itself,
        previous_stage_column=rules.previous_stage_column,
    )


def decided_by_rule(decisions: pl.DataFrame, rules: Rules) -> list[dict[str, Any]]:
    """How many contacts each rule (and the sticky and unknown policies) decided, in rule order."""
    descriptions = {r.id: (r.description, r.stage) for r in rules.rules}
    descriptions[rules.sticky_rule_id] = ("Kept: the contact was already in a sticky stage.", None)
    descriptions[rules.unknown_rule_id] = (
        "Kept or stopped: a rule for the contact's stage, or for one below it, could not be "
        "decided (a file or column it reads is missing, or a value no list names), so the "
        "contact stays at the highest stage the known facts allow.",
        None,
    )
    decided = (
        decisions.group_by(RULE)
        .len()
        .select(pl.col(RULE).cast(pl.String).fill_null("(no rule)"), "len")
    )
    rule_order = [r.id for r in rules.rules] + [rules.sticky_rule_id, rules.unknown_rule_id]
    return [
        {
            "rule": rule_id,
            "description": descriptions.get(rule_id, ("", None))[0],
            "stage": descriptions.get(rule_id, ("", None))[1],
            "count": n,
        }
        for rule_id, n in sorted(
            decided.iter_rows(), key=lambda r: rule_order.index(r[0]) if r[0] in rule_order else 99
        )
    ]


def sample_moves(changed: pl.DataFrame, contacts: Source, rules: Rules) -> list[dict[str, Any]]:
    """One example per kind of move, demotions first; names and emails read only for those rows."""
    firsts = changed.group_by(CUR, NEW).agg(pl.col(ROW).min(), pl.col(RULE).sort_by(ROW).first())
    picked = sorted(
        firsts.iter_rows(named=True), key=lambda r: (sample_order(r[CUR], r[NEW], rules), r[ROW])
    )[:SAMPLE_ROWS]
    names = [
        contacts.resolved[c] for c in ("first_name", "last_name", "email") if c in contacts.resolved
    ]
    people = (
        {
            r[ROW]: r
            for r in rows_of(contacts, [r[ROW] for r in picked], names).iter_rows(named=True)
        }
        if picked
        else {}
    )
    first, last, email = (contacts.resolved.get(c) for c in ("first_name", "last_name", "email"))
    samples = []
    for row in picked:
        person = people.get(row[ROW], {})
        name = " ".join(str(person[c]) for c in (first, last) if c and person.get(c))
        samples.append(
            {
                "row": row[ROW] + 2,
                "record_id": person.get(KEY),
                "name": name or None,
                "email": person.get(email) if email else None,
                "from": row[CUR] or EMPTY,
                "to": row[NEW] or EMPTY,
                "rule": row[RULE],
            }
        )
    return samples


def missing_sources(
    contacts: Source, rules: Rules, sources: dict, kept_at: dict[int, tuple[int, int]]
) -> list[str]:
    """What a file left out (no deals, no consent, no stage column) means for this run."""
    missing = []
    deal_rules = [i for i, r in enumerate(rules.rules) if r.when.names & set(DEAL_FACTS)]
    if sources["deals"] is None:
        kept = sum(sum(kept_at.get(i, (0, 0))) for i in deal_rules)
        names = ", ".join(rules.rules[i].id for i in deal_rules) or "none"
        missing.append(
            f"deals: no deals file given, so the deal rules ({names}) cannot fire and nobody "
            f"is demoted for lack of deals; {quantity(kept, 'contact')} kept their stage because "
            "of it"
        )
    if not contacts.has("stage"):
        looked_for = ", ".join(f"'{h}'" for h in rules.columns["contacts"]["stage"].headers)
        missing.append(
            f"stage: {contacts.display} has no stage column ({looked_for}), so every contact is "
            f"newly staged; the output adds the column '{added_stage_column(rules)}'"
        )
    if sources["consent"] is None:
        missing.append(
            "consent: no consent file given, so marketing consent and double opt-in come from the "
            "contacts' own columns"
        )
    return missing


def vocabulary_counts(
    decisions: pl.DataFrame,
    contacts: Source,
    tested: list[Tested],
    consent_statuses: pl.DataFrame | None,
) -> dict[tuple[str, str], pl.DataFrame]:
    """Per tested (column, list): the values no list names and how many rows have each. The decision
    pass only flags such rows; their values are read here, and only when there are any."""
    counted = {}
    for t in tested:
        if t.source == "consent":
            if consent_statuses is not None:
                counted[(t.column, t.list_name)] = consent_statuses
            continue
        flag = VOCAB + t.column + "@" + t.list_name
        if flag not in decisions.columns:
            continue
        rows = decisions.filter(pl.col(flag))[ROW]
        values = (
            rows_of(contacts, rows.to_list(), [contacts.resolved[t.column]]) if rows.len() else None
        )
        counted[(t.column, t.list_name)] = (
            values.group_by(pl.col(contacts.resolved[t.column]).str.strip_chars().alias("value"))
            .agg(pl.len().alias("count"))
            .sort(["count", "value"], descending=[True, False])
            if values is not None
            else pl.DataFrame(schema={"value": pl.String, "count": pl.UInt32})
        )
    return counted


def stopped_at(decisions: pl.DataFrame, rules: Rules) -> dict[int, tuple[int, int]]:
    """By rule index: how many contacts the rule, undecided, kept at their stage, and how many it
    caught falling from a higher one (the unknown policy decided them; a sticky stage kept by the
    sticky policy would have been kept without the unknown, so it does not count)."""
    counts = (
        decisions.filter(pl.col(UNKNOWN_AT).is_not_null() & (pl.col(RULE) == rules.unknown_rule_id))
        .group_by(UNKNOWN_AT)
        .agg(
            pl.col(NEW).eq(pl.col(CUR)).sum().alias("kept"),
            pl.col(NEW).ne(pl.col(CUR)).sum().alias("caught"),
        )
    )
    return {int(i): (int(k), int(c)) for i, k, c in counts.iter_rows()}


def kept_words(kept: int, caught: int) -> str:
    """What an undecided rule did to the contacts, for messages."""
    words = f"{quantity(kept, 'contact')} kept their stage"
    return words + (
        f" and {caught:,} falling from a higher stage stopped at that rule's stage"
        if caught
        else ""
    )


def missing_inputs(
    rules: Rules,
    available: dict[str, Known],
    contacts: Source,
    consent: Source | None,
    kept_at: dict[int, tuple[int, int]],
    found: Diagnostics,
) -> list[dict[str, Any]]:
    """Each column the rules read that a given file lacks: the rules it leaves undecided and how
    many
    contacts that kept or stopped, and rules that can never decide. A warning each, or a note where
    the rules file declares the column absent (`missing: absent`) or where it changed nobody's
    stage."""
    with_consent = consent is not None
    by_column: dict[tuple[str, str], list[int]] = {}
    stopped = lambda indexes: tuple(sum(kept_at.get(i, (0, 0))[k] for i in indexes) for k in (0, 1))  # noqa: E731
    for i, rule in enumerate(rules.rules):
        names = set(rule.when.names).union(*(c.names for _, c in rule.sets))
        inputs = set().union(*(inputs_of(n, with_consent) for n in names)) if names else set()
        missing = sorted(
            x
            for x in inputs
            if available.get(x, True) is False and x not in DEAL_FACTS and x != "consent_marketing"
        )
        for name in missing:
            where = (
                ("consent", "double_opt_in")
                if name == "consent_double_opt_in"
                else ("contacts", name)
            )
            by_column.setdefault(where, []).append(i)
        if missing and known(rule.when.tree, available) is False:
            declared = all(declared_absent(rules, n) for n in missing)
            quiet = declared or sum(stopped([i])) == 0
            (found.note if quiet else found.warn)(
                "rule-never-decides",
                f"{rules.path}, line {rule.line}: rule '{rule.id}' reads only columns the "
                f"files lack ({', '.join(missing)}), so it can never decide; "
                f"{kept_words(*stopped([i]))} at it",
                file=rules.path,
                row=rule.line,
                hint=None
                if declared
                else "check the headers under columns: in the rules file ("
                + rules.where_to_edit("columns.contacts")
                + ")",
            )
    out = []
    sources = {"contacts": contacts, "consent": consent}
    for (role, name), indexes in by_column.items():
        src = sources[role]
        headers = rules.columns[role][name].headers
        kept, caught = stopped(indexes)
        rule_ids = [rules.rules[i].id for i in indexes]
        declared = declared_absent(rules, name, role)
        out.append(
            {
                "source": role,
                "column": name,
                "header": headers[0],
                "rules": rule_ids,
                "kept": kept,
                "caught": caught,
                "declared_absent": declared,
            }
        )
        looked_for = listed((f"'{h}'" for h in headers[:4]), len(headers), "more headers")
        message = (
            f"{src.display}: no column {looked_for} ({name}): rule(s) {', '.join(rule_ids)} "
            f"cannot be decided from it; {kept_words(kept, caught)} because of it"
        )
        if declared:
            found.note(
                "missing-column",
                message + " (the rules file declares it absent)",
                file=src.display,
                column=headers[0],
            )
            continue
        (found.warn if kept or caught else found.note)(
            "missing-column",
            message,
            file=src.display,
            column=headers[0],
            hint="if the export has it under another header, add that header to "
            f"columns.{role}.{name}; if "
            "your exports never have it, set `missing: absent` there (a note then, not a "
            "warning): " + rules.where_to_edit(f"columns.{role}.{name}"),
        )
    return out


def declared_absent(rules: Rules, name: str, role: str = "contacts") -> bool:
    """Whether the rules file says the export never has this column (`missing: absent`)."""
    if name == "consent_double_opt_in":
        role, name = "consent", "double_opt_in"
    spec = rules.columns[role].get(name)
    return spec is not None and spec.missing == "absent"

"""The classify pipeline: contacts joined with their facts, every rule applied as one expression.

It reads the exports in three passes so that memory stays far below the size of the
files: (1) per-contact facts from deals and consent, and the record ids; (2) the
decision for every contact, kept as a narrow table of small columns, from which the
report and the input checks are computed; (3) the output, streamed from the contacts
file with the decisions alongside, only once the checks have passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .errors import InputError
from .facts import (
    KEY, ROW, ContactIds, consent_facts, deal_facts, in_values, lowered, parse_bool, parse_datetime, read_contact_ids,
    stage_id, unknown_spelling,
)
from .moves import EMPTY, sample_order, summarize_moves
from .problems import LISTED, missing_ids, repeated_ids, unknown_stages
from .rules import Rules, to_polars
from .sources import Source, explain_read_error

FACT = "__lc_f_"  #: prefix of the columns conditions read
CUR = "__lc_current"  #: the stage id read from the file
NEW = "__lc_new"  #: the stage id decided
RULE = "__lc_rule"  #: the id of the rule or policy that decided
RAW = "__lc_raw_stage"  #: the stage as the file spells it, only where the rules do not know it
OTHER = "__lc_other_type"  #: the Other Type a rule set (null: keep the file's)
BAD = "__lc_bad_"  #: prefix of flags for values that do not read as their type
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
    warnings: tuple[str, ...] = field(default=())
    checked_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "classify",
            "files": {
                "contacts": self.contacts_file, "deals": self.deals_file, "consent": self.consent_file,
                "rules": self.rules_file, "output": self.output_file,
            },
            "summary": {
                "contacts": self.contacts, "changed": self.changed, "unchanged": self.unchanged,
                "promotions": self.promotions, "demotions": self.demotions, "sideways": self.sideways,
                "newly_staged": self.newly_staged,
            },
            "stages": list(self.stages),
            "transitions": list(self.transitions),
            "decided_by": list(self.decided_by),
            "samples": list(self.samples),
            "links": dict(self.links),
            "missing_sources": list(self.missing_sources),
            "warnings": list(self.warnings),
            "checked_only": self.checked_only,
        }


@dataclass(frozen=True)
class Classification:
    """A classify run: the report's result, and the output table as a lazy frame to stream or collect."""

    result: ClassifyResult
    output: pl.LazyFrame


def _stage_writer(stage_id: pl.Expr, rules: Rules, form: str) -> pl.Expr:
    names = [s.id for s in rules.stages]
    written = [s.label if form == "label" else s.value for s in rules.stages]
    return stage_id.replace_strict(names, written, default=None, return_dtype=pl.String)


def detect_stage_format(contacts: Source, rules: Rules, sample: int = 1000) -> str:
    """'value' when most stage values in the first rows are HubSpot internal values, else 'label'."""
    column = contacts.resolved["stage"]
    head = contacts.frame.select(lowered(pl.col(column).cast(pl.String)).alias("s")).head(sample).collect()["s"].drop_nulls()
    values = {s.value.lower() for s in rules.stages if s.value.lower() != s.label.lower()}
    labels = {s.label.lower() for s in rules.stages if s.value.lower() != s.label.lower()}
    as_value = head.is_in(list(values)).sum()
    as_label = head.is_in(list(labels)).sum()
    return "value" if as_value > as_label else "label"


def _typed_contacts(contacts: Source, rules: Rules, ids: ContactIds) -> pl.LazyFrame:
    """Row number, key, current stage and every column a condition or fact reads, typed."""
    spec = rules.columns["contacts"]
    used = rules.referenced_columns() | {"unsubscribed_all", "opted_out_marketing"}
    typed, checked = [], []  # checked: flags for values that do not read as their type
    for name, col in spec.items():
        if name not in used:
            continue
        if col.type == "bool":  # booleans read straight from the raw text: no trimming pass needed
            value = parse_bool(contacts.raw(name), rules)
        elif col.type == "datetime":
            value = parse_datetime(contacts.text(name))
        elif col.type == "float":
            value = contacts.text(name).cast(pl.Float64, strict=False)
        else:
            value = contacts.text(name)
        typed.append(value.alias(FACT + name))
        if col.type in ("bool", "datetime") and contacts.has(name):
            checked.append((contacts.raw(name).str.contains(r"\S") & value.is_null()).alias(BAD + name))
    # The part after the last @, trimmed and lower-cased (cut out first: cheaper than lowering the
    # whole email; splitting is cheaper than a regex).
    email = contacts.raw("email")
    domain = pl.when(email.str.contains("@", literal=True)).then(
        email.str.split("@").list.last().str.strip_chars().str.to_lowercase()
    )
    raw = pl.col(contacts.resolved["stage"]).cast(pl.String)
    doi = in_values(contacts.raw("confirmation_status"), rules.values["double_opt_in_confirmed"]).fill_null(False)
    # The keys were computed in pass 1, in file order: set them beside the rows instead of again.
    rows = pl.concat([contacts.frame, ids.frame.lazy().select(KEY)], how="horizontal")
    return rows.with_row_index(ROW).select(
        ROW,
        KEY,
        *typed,
        *checked,
        domain.alias(FACT + "email_domain"),
        (current := stage_id(raw, rules)).alias(CUR),
        unknown_spelling(raw, current).alias(RAW),
        doi.alias("__lc_contact_doi"),
    ).with_columns(pl.col(CUR).alias(FACT + "current_stage"))


def _with_facts(frame: pl.LazyFrame, deals: pl.DataFrame | None, consent: pl.DataFrame | None, rules: Rules) -> pl.LazyFrame:
    """Join the per-contact deal and consent facts (already small tables) onto the contacts."""
    spec = rules.columns["contacts"]
    deal_cols = ("deals", "won_deals", "open_deals", "lost_deals")
    if deals is not None:
        frame = frame.join(deals.lazy().rename({c: FACT + c for c in deal_cols}), on=KEY, how="left")
        # A contact without deals has zero of each (the deals file is known), not "unknown".
        frame = frame.with_columns(pl.col(FACT + c).fill_null(0) for c in deal_cols)
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(FACT + c) for c in deal_cols)
    unsubscribed = pl.col(FACT + "unsubscribed_all").fill_null(False) if "unsubscribed_all" in spec else pl.lit(False)
    if consent is not None:
        return frame.join(consent.lazy(), on=KEY, how="left").with_columns(
            pl.col("consent_marketing").fill_null(False).alias(FACT + "marketing_consent"),
            (pl.col("__lc_contact_doi") | pl.col("consent_double_opt_in").fill_null(False)).alias(FACT + "double_opt_in"),
        )
    opted_out = pl.col(FACT + "opted_out_marketing").fill_null(False) if "opted_out_marketing" in spec else pl.lit(False)
    return frame.with_columns(
        (~opted_out & ~unsubscribed).alias(FACT + "marketing_consent"),
        pl.col("__lc_contact_doi").alias(FACT + "double_opt_in"),
    )


def _decide(frame: pl.LazyFrame, rules: Rules, *, has_deals: bool) -> pl.LazyFrame:
    """Add NEW and RULE: the first matching rule, then the sticky and missing-source policies."""
    col = lambda name: pl.col(FACT + name)  # noqa: E731
    # One when/then chain gives the index of the first rule that matches; stage and rule id
    # are looked up from it, so every condition is evaluated once per row.
    chain = None
    for i, rule in enumerate(rules.rules):
        cond = to_polars(rule.when, col, rules.values)
        chain = pl.when(cond).then(pl.lit(i, dtype=pl.Int32)) if chain is None else chain.when(cond).then(pl.lit(i, dtype=pl.Int32))
    index = list(range(len(rules.rules)))
    frame = frame.with_columns(chain.otherwise(None).alias("__lc_rule_index"))
    frame = frame.with_columns(
        pl.col("__lc_rule_index").replace_strict(index, [r.stage for r in rules.rules], default=None, return_dtype=pl.String).alias("__lc_derived"),
        pl.col("__lc_rule_index").replace_strict(index, [r.id for r in rules.rules], default=None, return_dtype=pl.String).alias("__lc_derived_rule"),
        pl.col("__lc_rule_index").is_in([i for i, r in enumerate(rules.rules) if r.overrides_sticky]).fill_null(False).alias("__lc_overrides"),
    )
    current, derived = pl.col(CUR), pl.col("__lc_derived")
    may_keep = ~pl.col("__lc_overrides") & derived.ne_missing(current)
    sticky = [s.id for s in rules.stages if s.sticky]
    decided = pl.when(may_keep & current.is_in(sticky).fill_null(False)).then(pl.lit(rules.sticky_rule_id))
    if not has_deals and rules.without_deals_keep:
        keep = current.is_in(list(rules.without_deals_keep)).fill_null(False)
        decided = decided.when(may_keep & keep).then(pl.lit(rules.without_deals_id))
    frame = frame.with_columns(decided.otherwise(pl.col("__lc_derived_rule")).alias(RULE))
    kept = pl.col(RULE).is_in([rules.sticky_rule_id, rules.without_deals_id])
    return frame.with_columns(pl.when(kept).then(current).otherwise(pl.coalesce(derived, current)).alias(NEW))


def _other_type(rules: Rules) -> pl.Expr | None:
    """The Other Type value the deciding rule sets, or None when no rule sets one."""
    col = lambda name: pl.col(FACT + name)  # noqa: E731
    chain = None
    for rule in rules.rules:
        for target, cond in rule.sets:
            if target == "other_type":
                value, hit = to_polars(cond, col, rules.values).cast(pl.String), pl.col(RULE) == rule.id
                chain = pl.when(hit).then(value) if chain is None else chain.when(hit).then(value)
    return chain.otherwise(None) if chain is not None else None


def _output(contacts: Source, decisions: pl.DataFrame, rules: Rules, form: str, stage_format: str) -> pl.LazyFrame:
    """The output table: every input column in order, the stage updated, the new columns beside it."""
    stage_header = contacts.resolved["stage"]
    raw = pl.col(stage_header).cast(pl.String)
    # The new stage as it will be written, worked out here on the narrow table (a lookup inside
    # the streamed pass costs gigabytes at 10M rows). Null: keep the file's spelling, which is
    # what unchanged contacts get unless a form was asked for.
    changed = pl.col(NEW).ne_missing(pl.col(CUR))
    written = _stage_writer(pl.col(NEW).cast(pl.String), rules, form)
    rewrite = changed | pl.lit(stage_format != "auto")
    side = decisions.select(
        pl.when(rewrite).then(written).cast(pl.Categorical).alias("__lc_written"),
        pl.col(RULE),
        *[c for c in (OTHER, "__lc_keep") if c in decisions.columns],
    )
    by_lower = {h.strip().lower(): h for h in contacts.headers}
    extra: list[str] = []
    updates = [pl.coalesce(pl.col("__lc_written").cast(pl.String), raw).alias(stage_header)]
    for wanted, expr in ((rules.previous_stage_column, raw), (rules.rule_column, pl.col(RULE).cast(pl.String))):
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
    at = columns.index(stage_header) + 1
    columns[at:at] = extra
    # The decisions are in file order, one per row kept: set them beside the file's own rows.
    frame = pl.concat([contacts.frame, side.lazy()], how="horizontal")
    if "__lc_keep" in side.columns:
        frame = frame.filter(pl.col("__lc_keep"))
    return frame.with_columns(updates).select(columns)


def _expected(kind: str, rules: Rules) -> str:
    if kind == "bool":
        return "true/false (" + "/".join(rules.values["true_values"][:3]) + " or " + "/".join(rules.values["false_values"][:3]) + ")"
    return "a date like 2024-03-12 09:14, 2024-03-12T09:14:00Z or 3/15/2024 2:30 PM"


def classify(contacts: Source, deals: Source | None, consent: Source | None, rules: Rules, *,
             stage_format: str = "auto", output_file: str | None = None, checked_only: bool = False,
             on_duplicate: str = "error") -> Classification:
    """Classify every contact: the result the report shows, and the output to stream.

    on_duplicate: "error" stops on a repeated Record ID; "keep-first" keeps the first
    row of each id and leaves the later ones out of the output (the report counts them).
    Raises InputError, listing every problem found, before anything is written.
    """
    try:
        return _classify(contacts, deals, consent, rules, stage_format, output_file, checked_only, on_duplicate)
    except pl.exceptions.PolarsError as exc:
        raise explain_read_error([contacts, deals, consent], exc) from None


def _classify(contacts, deals, consent, rules, stage_format, output_file, checked_only, on_duplicate) -> Classification:
    # Pass 1: the record ids (once), facts per contact, link counts, unreadable values, repeated ids.
    ids = read_contact_ids(contacts, email=consent is not None, deal_ids=deals is not None)
    id_frame = ids.frame.lazy()
    repeated = id_frame.filter(pl.col(KEY).is_not_null()).group_by(KEY).agg(pl.len().alias("n"), pl.col(ROW).min().alias("first")).filter(pl.col("n") > 1)
    no_ids = id_frame.filter(pl.col(KEY).is_null()).select(pl.len().alias("n"), pl.col(ROW).head(LISTED).implode().alias("rows"))
    lazies: dict[str, pl.LazyFrame] = {"repeated": repeated, "no_ids": no_ids}
    checks = []
    for src, facts_of, facts_used in ((deals, deal_facts, ("deals", "won_deals", "open_deals", "lost_deals")),
                                      (consent, consent_facts, ("marketing_consent", "double_opt_in"))):
        if src is None:
            continue
        lazies[f"{src.role}_facts"], lazies[f"{src.role}_counts"], bad = facts_of(src, ids, rules)
        if bad is not None:
            lazies[f"bad_{src.role}"] = bad
            checks.append((src, facts_used, f"bad_{src.role}"))
    if checked_only and contacts.format == "csv":
        # No output pass will parse every field of the contacts: check for broken rows here.
        lazies["parse_contacts"] = contacts.frame.select(pl.all().null_count())
    got = dict(zip(lazies, pl.collect_all(list(lazies.values()))))
    # Emails and deal ids were only needed for the facts: free them before the decision pass.
    del lazies, id_frame, repeated, no_ids
    ids = ContactIds(ids.frame.select(ROW, KEY), ids.integer)

    problems, warnings = [], []
    repeated_df = got["repeated"]
    id_header = contacts.resolved["record_id"]
    if on_duplicate != "keep-first":
        problems.append(repeated_ids(repeated_df, KEY, contacts.display, id_header,
                                     " (--on-duplicate keep-first keeps the first row of each)"))
    problems.append(missing_ids(got["no_ids"]["n"][0], got["no_ids"]["rows"][0].to_list(), contacts.display, id_header))
    for src, facts_used, key in checks:
        problems += _bad_value_problems(src, got[key], rules, sorted({r for f in facts_used for r in rules.rules_reading(f)}))

    # Pass 2: every contact's decision, as a narrow table.
    frame = _with_facts(_typed_contacts(contacts, rules, ids), got.get("deals_facts"), got.get("consent_facts"), rules)
    frame = _decide(frame, rules, has_deals=deals is not None)
    stage_ids = pl.Enum([s.id for s in rules.stages])
    rule_ids = pl.Enum(list(dict.fromkeys([r.id for r in rules.rules] + [rules.sticky_rule_id, rules.without_deals_id])))
    other = _other_type(rules)
    bad_cols = [c for c in frame.collect_schema().names() if c.startswith(BAD)]
    narrow = [
        ROW, pl.col(CUR).cast(stage_ids), pl.col(NEW).cast(stage_ids), pl.col(RULE).cast(rule_ids),
        RAW,
        *bad_cols,
    ]
    if other is not None:
        narrow.append(other.alias(OTHER))
    if repeated_df.height and on_duplicate == "keep-first":
        firsts = repeated_df.lazy().select(KEY, pl.col("first").alias("__lc_first"))
        frame = frame.join(firsts, on=KEY, how="left")
        narrow.append((pl.col("__lc_first").is_null() | (pl.col(ROW) == pl.col("__lc_first"))).alias("__lc_keep"))
    decisions = frame.select(narrow).collect().sort(ROW)

    if "__lc_keep" in decisions.columns:
        dropped = decisions.filter(~pl.col("__lc_keep"))
        rows = ", ".join(str(r + 2) for r in dropped[ROW].head(10))
        warnings.append(f"{contacts.display}: left out {dropped.height:,} rows whose Record ID appeared earlier "
                        f"(--on-duplicate keep-first): rows {rows}{', ...' if dropped.height > 10 else ''}")
    kept = decisions.filter(pl.col("__lc_keep")) if "__lc_keep" in decisions.columns else decisions
    problems = [p for p in _contact_problems(kept, contacts, rules) + problems if p]
    if problems:
        raise InputError("cannot classify:\n  " + "\n  ".join(problems))

    links: dict[str, int] = {}
    for key in ("deals_counts", "consent_counts"):
        if key in got:
            links.update({k: int(v or 0) for k, v in got[key].row(0, named=True).items()})
    sources = {"contacts": contacts.display, "deals": deals.display if deals else None, "consent": consent.display if consent else None}
    result = _summarize(kept, contacts, rules, sources, links, output_file, checked_only, tuple(warnings))
    # Pass 3 (lazy): the output, streamed by whoever writes it.
    form = detect_stage_format(contacts, rules) if stage_format == "auto" else stage_format
    return Classification(result, _output(contacts, decisions, rules, form, stage_format))


def _bad_value_problems(src: Source, found: pl.DataFrame, rules: Rules, needed_by: list[str]) -> list[str]:
    problems = []
    for (column,), rows in found.sort("first_row").group_by("column", maintain_order=True):
        listed = ", ".join(f"'{r['value']}' ({r['count']}, first at row {r['first_row']})"
                           for r in rows.sort("count", descending=True).head(10).iter_rows(named=True))
        problems.append(f"{src.display}: column '{column}': {rows['count'].sum()} rows hold values that are not "
                        f"{_expected(rows['kind'][0], rules)}: {listed}; needed by rule(s): {', '.join(needed_by) or 'none'}")
    return problems


def _contact_problems(decisions: pl.DataFrame, contacts: Source, rules: Rules) -> list[str]:
    """Unknown stage values and unreadable typed values in the contacts, from the narrow table."""
    problems = [unknown_stages(decisions, RAW, ROW, contacts.display, contacts.resolved["stage"], rules)]
    spec = rules.columns["contacts"]
    for flag in sorted(c for c in decisions.columns if c.startswith(BAD)):
        name = flag[len(BAD):]
        bad_rows = decisions.filter(pl.col(flag))[ROW]
        if not len(bad_rows):
            continue
        header = contacts.resolved[name]
        details = _rows_of(contacts, bad_rows.to_list(), [header])  # every bad row: the counts are exact
        text = details[header].str.strip_chars()
        values = details.group_by(text.alias("value")).agg(pl.len().alias("n")).sort("n", "value", descending=[True, False])
        listed = ", ".join(f"'{r['value']}' ({r['n']})" for r in values.head(10).iter_rows(named=True))
        rows = ", ".join(f"{r + 2} ({k})" for r, k in details.select(ROW, KEY).head(5).iter_rows())
        needed_by = ", ".join(rules.rules_reading(name)) or "the built-in facts"
        problems.append(
            f"{contacts.display}: column '{header}': {len(bad_rows)} rows hold values that are not {_expected(spec[name].type, rules)}: "
            f"{listed}; rows (record id): {rows}; needed by rule(s): {needed_by}"
        )
    return problems


def _rows_of(contacts: Source, rows: list[int], headers: list[str]) -> pl.DataFrame:
    """A few rows of the contacts file by row number: their record id and the given columns, as text."""
    return contacts.rows_at(rows, contacts.text("record_id").alias(KEY),
                            *[pl.col(h).cast(pl.String) for h in dict.fromkeys(headers)], index=ROW)


def _summarize(decisions: pl.DataFrame, contacts: Source, rules: Rules, sources: dict, links: dict[str, int],
               output_file: str | None, checked_only: bool, warnings: tuple[str, ...]) -> ClassifyResult:
    # Grouped on the small Enum columns; only the few groups are turned into text.
    moves = summarize_moves(
        decisions.group_by(CUR, NEW).agg(pl.len().alias("count")).select(
            pl.col(CUR).cast(pl.String).fill_null(EMPTY).alias("from"),
            pl.col(NEW).cast(pl.String).fill_null(EMPTY).alias("to"),
            "count",
        ),
        rules,
    )
    totals = moves.totals
    descriptions = {r.id: (r.description, r.stage) for r in rules.rules}
    descriptions[rules.sticky_rule_id] = ("Kept: the contact was already in a sticky stage.", None)
    descriptions[rules.without_deals_id] = ("Kept: no deals file was given, so open deals cannot be checked.", None)
    decided = decisions.group_by(RULE).len().select(pl.col(RULE).cast(pl.String).fill_null("(no rule)"), "len")
    rule_order = [r.id for r in rules.rules] + [rules.sticky_rule_id, rules.without_deals_id]
    decided_by = [
        {"rule": rule_id, "description": descriptions.get(rule_id, ("", None))[0], "stage": descriptions.get(rule_id, ("", None))[1], "count": n}
        for rule_id, n in sorted(decided.iter_rows(), key=lambda r: rule_order.index(r[0]) if r[0] in rule_order else 99)
    ]
    changed = decisions.filter(pl.col(NEW).ne_missing(pl.col(CUR)))
    # One example per kind of move, demotions first; names and emails only for those rows.
    firsts = changed.group_by(CUR, NEW).agg(pl.col(ROW).min(), pl.col(RULE).sort_by(ROW).first())
    picked = sorted(firsts.iter_rows(named=True), key=lambda r: (sample_order(r[CUR], r[NEW], rules), r[ROW]))[:SAMPLE_ROWS]
    names = [contacts.resolved[c] for c in ("first_name", "last_name", "email") if c in contacts.resolved]
    people = {r[ROW]: r for r in _rows_of(contacts, [r[ROW] for r in picked], names).iter_rows(named=True)} if picked else {}
    first, last, email = (contacts.resolved.get(c) for c in ("first_name", "last_name", "email"))
    samples = []
    for row in picked:
        person = people.get(row[ROW], {})
        name = " ".join(str(person[c]) for c in (first, last) if c and person.get(c))
        samples.append({
            "row": row[ROW] + 2, "record_id": person.get(KEY), "name": name or None,
            "email": person.get(email) if email else None,
            "from": row[CUR] or EMPTY, "to": row[NEW] or EMPTY, "rule": row[RULE],
        })
    missing = []
    if sources["deals"] is None:
        missing.append("deals: no deals file given, so no one became Customer or Opportunity from deals; "
                       f"contacts already at {', '.join(rules.stage(s).label for s in rules.without_deals_keep)} kept it")
    if sources["consent"] is None:
        missing.append("consent: no consent file given, so marketing consent and double opt-in come from the contacts' own columns")
    return ClassifyResult(
        contacts_file=sources["contacts"], deals_file=sources["deals"], consent_file=sources["consent"],
        rules_file=rules.path, output_file=output_file, contacts=decisions.height, changed=changed.height,
        promotions=totals["promotion"], demotions=totals["demotion"], sideways=totals["sideways"],
        newly_staged=totals["newly_staged"], unchanged=totals["unchanged"] + totals["cleared"],
        stages=moves.stages, transitions=moves.transitions, decided_by=tuple(decided_by), samples=tuple(samples),
        links=links, missing_sources=tuple(missing), warnings=rules.warnings + warnings, checked_only=checked_only,
    )

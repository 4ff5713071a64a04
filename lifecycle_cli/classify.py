"""The classify pipeline: contacts joined with their facts, every rule applied as one expression."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from .errors import InputError
from .moves import EMPTY, sample_order, summarize_moves
from .facts import KEY, ROW, consent_facts, deal_facts, in_values, lowered, parse_bool, parse_datetime, unreadable_values
from .rules import FACTS, Rules, to_polars
from .sources import Source

FACT = "__lc_f_"  #: prefix of the columns conditions read
CUR = "__lc_current"  #: the stage id read from the file
NEW = "__lc_new"  #: the stage id decided
RULE = "__lc_rule"  #: the id of the rule or policy that decided
RAW = "__lc_raw_stage"  #: the stage exactly as the file spells it
SAMPLE_ROWS = 10
STAGE_FORMATS = ("auto", "label", "value")


@dataclass(frozen=True)
class Plan:
    """What classify will compute, before anything is read."""

    frame: pl.LazyFrame  # output columns in order, then the internal columns
    output_columns: tuple[str, ...]
    link_counts: tuple[pl.LazyFrame, ...]  # one row of counts per joined source
    sources: dict[str, str | None]


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


def _stage_id_expr(raw: pl.Expr, rules: Rules) -> pl.Expr:
    lookup = rules.stage_lookup()
    return lowered(raw).replace_strict(list(lookup), list(lookup.values()), default=None, return_dtype=pl.String)


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


def plan_classify(contacts: Source, deals: Source | None, consent: Source | None, rules: Rules, *, stage_format: str = "auto") -> Plan:
    spec = rules.columns["contacts"]
    write_form = detect_stage_format(contacts, rules) if stage_format == "auto" else stage_format
    stage_header = contacts.resolved["stage"]

    typed = []
    for name, col in spec.items():
        text = contacts.text(name)
        if col.type == "bool":
            text = parse_bool(text, rules)
        elif col.type == "datetime":
            text = parse_datetime(text)
        elif col.type == "float":
            text = text.cast(pl.Float64, strict=False)
        typed.append(text.alias(FACT + name))
    email = lowered(contacts.text("email"))
    frame = contacts.frame.with_row_index(ROW).with_columns(
        contacts.text("record_id").alias(KEY),
        *typed,
        pl.when(email.str.contains("@")).then(email.str.split("@").list.last()).alias(FACT + "email_domain"),
        _stage_id_expr(pl.col(stage_header).cast(pl.String), rules).alias(CUR),
        pl.col(stage_header).cast(pl.String).alias(RAW),
    ).with_columns(pl.col(CUR).alias(FACT + "current_stage"))

    link_counts = []
    deal_cols = ("deals", "won_deals", "open_deals", "lost_deals")
    if deals is not None:
        facts, counts = deal_facts(deals, contacts, rules)
        frame = frame.join(facts.rename({c: FACT + c for c in deal_cols}), on=KEY, how="left", maintain_order="left")
        # A contact without deals has zero of each (the deals file is known), not "unknown".
        frame = frame.with_columns(pl.col(FACT + c).fill_null(0) for c in deal_cols)
        link_counts.append(counts)
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(FACT + c) for c in deal_cols)

    contact_doi = in_values(contacts.text("confirmation_status"), rules.values["double_opt_in_confirmed"]).fill_null(False)
    unsubscribed = pl.col(FACT + "unsubscribed_all").fill_null(False) if "unsubscribed_all" in spec else pl.lit(False)
    if consent is not None:
        facts, counts = consent_facts(consent, contacts, rules)
        frame = frame.join(facts, on=KEY, how="left", maintain_order="left").with_columns(
            pl.col("consent_marketing").fill_null(False).alias(FACT + "marketing_consent"),
            (contact_doi | pl.col("consent_double_opt_in").fill_null(False)).alias(FACT + "double_opt_in"),
        ).drop("consent_marketing", "consent_double_opt_in")
        link_counts.append(counts)
    else:
        opted_out = pl.col(FACT + "opted_out_marketing").fill_null(False) if "opted_out_marketing" in spec else pl.lit(False)
        frame = frame.with_columns(
            (~opted_out & ~unsubscribed).alias(FACT + "marketing_consent"),
            contact_doi.alias(FACT + "double_opt_in"),
        )

    frame = _decide(frame, rules, has_deals=deals is not None)
    frame, output_columns = _output_columns(frame, contacts, rules, write_form, stage_header, stage_format)
    sources = {"contacts": contacts.display, "deals": deals.display if deals else None, "consent": consent.display if consent else None}
    return Plan(frame, tuple(output_columns), tuple(link_counts), sources)


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


def _output_columns(frame: pl.LazyFrame, contacts: Source, rules: Rules, form: str, stage_header: str, stage_format: str):
    raw_stage = pl.col(RAW)
    changed = pl.col(NEW).ne_missing(pl.col(CUR))
    written = _stage_writer(pl.col(NEW), rules, form)
    # Unchanged contacts keep the stage exactly as the file spells it, unless a form was asked for.
    new_stage = pl.when(changed | pl.lit(stage_format != "auto")).then(pl.coalesce(written, raw_stage)).otherwise(raw_stage)
    by_lower = {h.strip().lower(): h for h in contacts.headers}
    extra = []
    updates = [new_stage.alias(stage_header)]
    for wanted, expr in (
        (rules.previous_stage_column, raw_stage),
        (rules.rule_column, pl.col(RULE)),
    ):
        header = by_lower.get(wanted.lower())
        updates.append(expr.alias(header or wanted))
        if header is None:
            extra.append(wanted)
    other_rule_sets = [(r.id, cond) for r in rules.rules for target, cond in r.sets if target == "other_type"]
    existing = by_lower.get(rules.other_type_column.lower())
    other_type = pl.col(existing).cast(pl.String) if existing else pl.lit(None, dtype=pl.String)
    if other_rule_sets:
        col = lambda name: pl.col(FACT + name)  # noqa: E731
        chain = None
        for rule_id, cond in other_rule_sets:
            value = to_polars(cond, col, rules.values).cast(pl.String)
            hit = pl.col(RULE) == rule_id
            chain = pl.when(hit).then(value) if chain is None else chain.when(hit).then(value)
        other_type = chain.otherwise(other_type)
    if existing or other_rule_sets:
        updates.append(other_type.alias(existing or rules.other_type_column))
        if not existing:
            extra.append(rules.other_type_column)
    frame = frame.with_columns(updates)
    columns = list(contacts.headers)
    at = columns.index(stage_header) + 1
    columns[at:at] = extra
    return frame, columns


def _expected(kind: str, rules: Rules) -> str:
    if kind == "bool":
        return "true/false (" + "/".join(rules.values["true_values"][:3]) + " or " + "/".join(rules.values["false_values"][:3]) + ")"
    return "a date like 2024-03-12 09:14, 2024-03-12T09:14:00Z or 3/15/2024 2:30 PM"


def run_checks(df: pl.DataFrame, contacts: Source, rules: Rules, other_problems: list[str] = ()) -> None:
    """Raise InputError listing every unknown stage, duplicate or missing id, and unreadable value."""
    problems: list[str] = []
    stage_header = contacts.resolved["stage"]
    unknown = (
        df.filter(pl.col(CUR).is_null() & pl.col(RAW).str.strip_chars().ne(""))
        .group_by(pl.col(RAW).alias("value"))
        .agg(pl.len().alias("n"), (pl.col(ROW).min() + 2).alias("row"))
        .sort("n", "value", descending=[True, False])
    )
    if unknown.height:
        listed = ", ".join(f"'{r['value']}' ({r['n']} rows, first at row {r['row']})" for r in unknown.head(20).iter_rows(named=True))
        known = ", ".join(f"{s.label} ({s.value})" for s in rules.stages)
        problems.append(
            f"column '{stage_header}': {unknown['n'].sum()} rows have a stage the rules do not know: {listed}\n"
            f"    known stages: {known}\n"
            f"    to map a custom stage (e.g. a numeric id), add it to that stage's aliases in {rules.path}"
        )
    id_header = contacts.resolved["record_id"]
    missing = df.filter(pl.col(KEY).is_null())
    if missing.height:
        rows = ", ".join(str(r + 2) for r in missing[ROW].head(10))
        problems.append(f"column '{id_header}': {missing.height} rows have no record id (rows {rows}{', ...' if missing.height > 10 else ''})")
    dupes = df.filter(pl.col(KEY).is_not_null()).group_by(KEY).agg(pl.len().alias("n"), (pl.col(ROW).min() + 2).alias("row")).filter(pl.col("n") > 1).sort("row")
    if dupes.height:
        listed = ", ".join(f"{r[KEY]} ({r['n']} times)" for r in dupes.head(10).iter_rows(named=True))
        problems.append(f"column '{id_header}': {dupes.height} record ids appear more than once: {listed}{', ...' if dupes.height > 10 else ''} "
                        "(--on-duplicate keep-first keeps the first row of each)")
    spec = rules.columns["contacts"]
    used = rules.referenced_columns() | {"unsubscribed_all", "opted_out_marketing"}
    for name in sorted(used):
        if name not in contacts.resolved or spec[name].type not in ("bool", "datetime"):
            continue
        header = contacts.resolved[name]
        text = pl.col(header).cast(pl.String).str.strip_chars()
        bad = df.filter(text.ne("") & pl.col(FACT + name).is_null())
        if bad.height:
            values = bad.group_by(text.alias("value")).agg(pl.len().alias("n")).sort("n", descending=True)
            listed = ", ".join(f"'{r['value']}' ({r['n']})" for r in values.head(10).iter_rows(named=True))
            rows = ", ".join(f"{r + 2} ({k})" for r, k in zip(bad[ROW].head(5), bad[KEY].head(5)))
            expected = _expected(spec[name].type, rules)
            needed_by = ", ".join(rules.rules_reading(name)) or "the built-in facts"
            problems.append(
                f"column '{header}': {bad.height} rows hold values that are not {expected}: {listed}; "
                f"rows (record id): {rows}; needed by rule(s): {needed_by}"
            )
    if problems:
        problems = [f"{contacts.display}: {p}" for p in problems]
    problems += list(other_problems)
    if problems:
        raise InputError("cannot classify:\n  " + "\n  ".join(problems))


def summarize(df: pl.DataFrame, plan: Plan, rules: Rules, contacts: Source, *, link_counts: dict[str, int],
              output_file: str | None, checked_only: bool = False) -> ClassifyResult:
    moves = summarize_moves(
        df.group_by(pl.col(CUR).fill_null(EMPTY).alias("from"), pl.col(NEW).fill_null(EMPTY).alias("to")).agg(pl.len().alias("count")),
        rules,
    )
    totals = moves.totals
    descriptions = {r.id: (r.description, r.stage) for r in rules.rules}
    descriptions[rules.sticky_rule_id] = ("Kept: the contact was already in a sticky stage.", None)
    descriptions[rules.without_deals_id] = ("Kept: no deals file was given, so open deals cannot be checked.", None)
    decided = df.group_by(pl.col(RULE).fill_null("(no rule)")).len()
    rule_order = [r.id for r in rules.rules] + [rules.sticky_rule_id, rules.without_deals_id]
    decided_by = [
        {"rule": rule_id, "description": descriptions.get(rule_id, ("", None))[0], "stage": descriptions.get(rule_id, ("", None))[1], "count": n}
        for rule_id, n in sorted(decided.iter_rows(), key=lambda r: rule_order.index(r[0]) if r[0] in rule_order else 99)
    ]
    id_col = contacts.resolved["record_id"]
    first, last = contacts.resolved.get("first_name"), contacts.resolved.get("last_name")
    email_col = contacts.resolved.get("email")
    changed = df.filter(pl.col(NEW).ne_missing(pl.col(CUR)))
    # One example per kind of move, demotions first.
    examples = sorted(
        changed.unique(subset=[CUR, NEW], keep="first", maintain_order=True).iter_rows(named=True),
        key=lambda r: (sample_order(r[CUR], r[NEW], rules), r[ROW]),
    )
    samples = []
    for row in examples[:SAMPLE_ROWS]:
        name = " ".join(str(row[c]) for c in (first, last) if c and row.get(c))
        samples.append({
            "row": row[ROW] + 2, "record_id": row[id_col], "name": name or None,
            "email": row[email_col] if email_col else None,
            "from": row[CUR] or EMPTY, "to": row[NEW] or EMPTY, "rule": row[RULE],
        })
    missing = []
    if plan.sources["deals"] is None:
        missing.append("deals: no deals file given, so no one became Customer or Opportunity from deals; "
                       f"contacts already at {', '.join(rules.stage(s).label for s in rules.without_deals_keep)} kept it")
    if plan.sources["consent"] is None:
        missing.append("consent: no consent file given, so marketing consent and double opt-in come from the contacts' own columns")
    return ClassifyResult(
        contacts_file=plan.sources["contacts"], deals_file=plan.sources["deals"], consent_file=plan.sources["consent"],
        rules_file=rules.path, output_file=output_file, contacts=df.height, changed=changed.height,
        promotions=totals["promotion"], demotions=totals["demotion"], sideways=totals["sideways"],
        newly_staged=totals["newly_staged"], unchanged=totals["unchanged"] + totals["cleared"],
        stages=moves.stages, transitions=moves.transitions, decided_by=tuple(decided_by), samples=tuple(samples),
        links=link_counts, missing_sources=tuple(missing), warnings=rules.warnings, checked_only=checked_only,
    )


def classify(contacts: Source, deals: Source | None, consent: Source | None, rules: Rules, *,
             stage_format: str = "auto", output_file: str | None = None, checked_only: bool = False,
             on_duplicate: str = "error") -> tuple[pl.DataFrame, ClassifyResult]:
    """Classify every contact: (the output table, the result the report shows).

    on_duplicate: "error" stops on a repeated Record ID; "keep-first" keeps the first
    row of each id and leaves the later ones out of the output (the report counts them).
    """
    try:
        # The contacts are read by the main pipeline and by every join: parse the file once.
        contacts = replace(contacts, frame=contacts.frame.collect().lazy())
        plan = plan_classify(contacts, deals, consent, rules, stage_format=stage_format)
        checks = [(src, facts_used, frame) for src, names, facts_used in (
            (deals, ("is_won", "is_lost", "is_closed"), ("deals", "won_deals", "open_deals", "lost_deals")),
            (consent, ("timestamp",), ("marketing_consent", "double_opt_in")),
        ) if src is not None and (frame := unreadable_values(src, rules, names)) is not None]
        df, *rest = pl.collect_all([plan.frame, *plan.link_counts, *(frame for _, _, frame in checks)])
        counts, bad = rest[: len(plan.link_counts)], rest[len(plan.link_counts):]
    except pl.exceptions.PolarsError as exc:
        files = ", ".join(s.display for s in (contacts, deals, consent) if s)
        raise InputError(f"cannot read the input ({files}): {str(exc).splitlines()[0]}") from None
    warnings: list[str] = []
    if on_duplicate == "keep-first":
        first = pl.col(KEY).is_null() | (pl.col(ROW) == pl.col(ROW).min().over(KEY))
        dropped = df.filter(~first)
        if dropped.height:
            rows = ", ".join(str(r + 2) for r in dropped[ROW].head(10))
            warnings.append(f"{contacts.display}: left out {dropped.height:,} rows whose Record ID appeared earlier "
                            f"(--on-duplicate keep-first): rows {rows}{', ...' if dropped.height > 10 else ''}")
            df = df.filter(first)
    problems = []
    for (src, facts_used, _), found in zip(checks, bad):
        if found.height:
            needed_by = sorted({rule for fact in facts_used for rule in rules.rules_reading(fact)})
            for column, rows in found.sort("first_row").group_by("column", maintain_order=True):
                kind = rows["kind"][0]
                expected = _expected(kind, rules)
                listed = ", ".join(f"'{r['value']}' ({r['count']}, first at row {r['first_row']})" for r in rows.sort("count", descending=True).head(10).iter_rows(named=True))
                problems.append(f"{src.display}: column '{column[0]}': {rows['count'].sum()} rows hold values that are not {expected}: "
                                f"{listed}; needed by rule(s): {', '.join(needed_by) or 'none'}")
    run_checks(df, contacts, rules, problems)
    links: dict[str, int] = {}
    for frame in counts:
        links.update({k: int(v or 0) for k, v in frame.row(0, named=True).items()})
    result = summarize(df, plan, rules, contacts, link_counts=links, output_file=output_file, checked_only=checked_only)
    if warnings:
        result = replace(result, warnings=result.warnings + tuple(warnings))
    return df.select(plan.output_columns), result

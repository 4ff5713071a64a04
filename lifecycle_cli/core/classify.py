"""The classify pipeline: contacts joined with their facts, every rule applied as one expression.

It reads the exports in three passes so that memory stays far below the size of the
files: (1) per-contact facts from deals and consent, and the record ids; (2) the
decision for every contact, kept as a narrow table of small columns, from which the
report and the input checks are computed; (3) the output, streamed from the contacts
file with the decisions alongside, only once the checks have passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from ..base.diagnostics import Diagnostics, headline, listed
from ..base.errors import InputError
from ..base.progress import StepCallback, no_progress
from ..io.sources import (
    Source,
    check_unchanged,
    explain_read_error,
    short_rows,
    short_rows_found,
)
from ..rules.logic import DEAL_FACTS, DERIVED_INPUTS, Known, derived_facts, inputs_of, known, named
from ..rules.model import Rules, one_of, to_polars, to_polars_tree
from .columns import BAD, CUR, FACT, KEY, NEW, OTHER, RAW, ROW, RULE, SPELLING, UNKNOWN_AT, VOCAB
from .companies import classify_companies
from .facts import (
    FUTURE_EVENTS,
    FUTURE_ROWS,
    ContactIds,
    consent_facts,
    deal_facts,
    parse_bool,
    parse_datetime,
    read_contact_ids,
    stage_id,
    unknown_spelling,
)
from .links import check_links
from .moves import EMPTY, sample_order, summarize_moves
from .problems import LISTED, missing_ids, repeated_ids, row_list, unknown_stages, with_rows
from .vocabulary import Tested, named_pairs, tested_columns, vocabulary

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


@dataclass(frozen=True)
class Classification:
    """A classify run: the report's result, and the output table as a lazy frame to stream or collect."""

    result: ClassifyResult
    output: pl.LazyFrame
    added_columns: tuple[str, ...] = ()  #: written right after the stage column
    #: The contacts whose stage changed: record_id (as the file has it), previous and new (stage
    #: ids; previous null for a contact that had none), other_type (null where no rule set one).
    changes: pl.LazyFrame | None = None
    #: With a companies file: the companies written as the contacts are, and their changes.
    companies_output: pl.LazyFrame | None = None
    companies_added: tuple[str, ...] = ()
    companies_changes: pl.DataFrame | None = None
    #: ROW and NEW (stage id) of every contact classified, for the companies roll-up.
    contact_stages: pl.DataFrame | None = None


def _typed_contacts(
    contacts: Source, rules: Rules, ids: ContactIds, tested: list[Tested] = ()
) -> pl.LazyFrame:
    """Row number, key, current stage and every column a condition or fact reads, typed.

    A column the file lacks is a typed NULL here: `logic.known` says where that leaves a
    condition undecided, and wherever it is decided, NULL gives the right value.
    """
    spec = rules.columns["contacts"]
    used = rules.referenced_columns() | set(DERIVED_INPUTS)
    typed, checked = [], []  # checked: flags for values that do not read as their type
    for name in sorted(used):
        col = spec.get(name)
        kind = col.type if col is not None else DERIVED_INPUTS[name]
        if kind == "bool":  # booleans read straight from the raw text: no trimming pass needed
            value = parse_bool(contacts.raw(name), rules)
        elif kind == "datetime":
            value = parse_datetime(contacts.text(name))
        elif kind == "float":
            value = contacts.text(name).cast(pl.Float64, strict=False)
        else:
            value = contacts.text(name)
        typed.append(value.alias(FACT + name))
        if kind in ("bool", "datetime") and contacts.has(name):
            checked.append(
                (contacts.raw(name).str.contains(r"\S") & value.is_null()).alias(BAD + name)
            )
    # Whether a value is one its open list names (logic.named), once per row: the rules' known()
    # expressions and the vocabulary both read it.
    pairs = named_pairs(rules)
    named_facts = [
        (pl.col(FACT + col).is_null() | one_of(pl.col(FACT + col), rules.lists[lst].known)).alias(
            FACT + named(col, lst)
        )
        for col, lst in sorted(pairs)
    ]
    vocab = []  # the vocabulary: values no list names, kept beside the decisions (mostly null)
    for t in tested:
        if t.source == "contacts" and contacts.has(t.column):
            value = pl.col(FACT + t.column)
            is_named = (
                pl.col(FACT + named(t.column, t.list_name))
                if (t.column, t.list_name) in pairs
                else one_of(value, rules.lists[t.list_name].known)
            )
            # A flag only: the few values it marks are read again afterwards (see _vocabulary_counts).
            vocab.append(
                (value.is_not_null() & ~is_named).alias(VOCAB + t.column + "@" + t.list_name)
            )
    # The part after the last @, trimmed and lower-cased (cut out first: cheaper than lowering the
    # whole email; splitting is cheaper than a regex).
    email = contacts.raw("email")
    domain = pl.when(email.str.contains("@", literal=True)).then(
        email.str.split("@").list.last().str.strip_chars().str.to_lowercase()
    )
    raw = contacts.raw(
        "stage"
    )  # null everywhere when the file has no stage column (it is optional)
    # The keys were computed in pass 1, in file order: set them beside the rows instead of again.
    rows = pl.concat([contacts.frame, ids.frame.lazy().select(KEY)], how="horizontal")
    return (
        rows.with_row_index(ROW)
        .select(
            ROW,
            KEY,
            *typed,
            *checked,
            domain.alias(FACT + "email_domain"),
            (current := stage_id(raw, rules)).alias(CUR),
            unknown_spelling(raw, current).alias(RAW),
            raw.str.strip_chars().alias(SPELLING),
        )
        .with_columns(pl.col(CUR).alias(FACT + "current_stage"), *named_facts)
        .with_columns(vocab)
    )


def _with_facts(
    frame: pl.LazyFrame, deals: pl.DataFrame | None, consent: pl.DataFrame | None, rules: Rules
) -> pl.LazyFrame:
    """Join the per-contact deal and consent facts (already small tables) onto the contacts,
    then work out the derived facts (logic.DERIVED_FACTS) from them and the contact's columns."""
    col = lambda name: pl.col(FACT + name)  # noqa: E731
    if deals is not None:
        frame = frame.join(
            deals.lazy().rename({c: FACT + c for c in DEAL_FACTS}), on=KEY, how="left"
        )
        # A contact without deals has zero of each (the deals file is known), not "unknown".
        frame = frame.with_columns(pl.col(FACT + c).fill_null(0) for c in DEAL_FACTS)
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(FACT + c) for c in DEAL_FACTS)
    if consent is not None:
        frame = frame.join(consent.lazy(), on=KEY, how="left").with_columns(
            # No marketing event for a contact is a fact: no consent, no confirmation.
            pl.col("consent_marketing").fill_null(False).alias(FACT + "consent_marketing"),
            pl.col("consent_double_opt_in").fill_null(False).alias(FACT + "consent_double_opt_in"),
            pl.col("consent_unknown").fill_null(False).alias(FACT + "consent_unknown"),
        )
    for name, tree in derived_facts(consent is not None).items():
        frame = frame.with_columns(
            to_polars_tree(tree, col, rules.compile_values).alias(FACT + name)
        )
    return frame


def _decide(frame: pl.LazyFrame, rules: Rules, available: dict[str, Known]) -> pl.LazyFrame:
    """Add NEW, RULE and UNKNOWN_AT: the rule walk, then the sticky policy.

    Walking the rules in order, a rule that is true decides; false goes on; undecided (it
    reads something missing or a value no list names, see logic.py) stops a contact whose
    current stage is the rule's stage or above it (the unknown policy): one already there
    keeps it, one falling from higher lands there, since the facts do not say it belongs
    lower. Anyone else goes on: nobody is promoted on an unknown. One when/then chain gives
    the index of the deciding step: i for rule i, n + i for "stopped at rule i".
    """
    col = lambda name: pl.col(FACT + name)  # noqa: E731
    values = rules.compile_values
    n = len(rules.rules)
    chain = None

    def add(cond: pl.Expr, index: int) -> None:
        nonlocal chain
        step = pl.lit(index, dtype=pl.Int32)
        chain = pl.when(cond).then(step) if chain is None else chain.when(cond).then(step)

    # The current stage's rank, once (an undecided rule stops the contacts at its stage or above).
    ranked = [st for st in rules.stages if st.ranked]
    frame = frame.with_columns(
        pl.col(CUR)
        .replace_strict(
            [st.id for st in ranked],
            [st.rank for st in ranked],
            default=None,
            return_dtype=pl.Int16,
        )
        .alias("__lc_rank")
    )
    for i, rule in enumerate(rules.rules):
        cond = to_polars(rule.when, col, values)
        decided = known(rule.when.tree, available)
        target = rules.stage(rule.stage)
        at_or_above = (
            (pl.col("__lc_rank") >= target.rank) if target.ranked else pl.col(CUR).eq(rule.stage)
        ).fill_null(False)
        if decided is True:
            add(cond, i)
        elif decided is False:
            add(at_or_above, n + i)
        else:
            decided_expr = to_polars_tree(decided, col, values)
            add(decided_expr & cond, i)
            add(~decided_expr & at_or_above, n + i)
    frame = frame.with_columns(chain.otherwise(None).alias("__lc_step"))
    step = pl.col("__lc_step")
    rule_at = pl.when(step < n).then(step).otherwise(step - n)
    index = list(range(n))
    frame = frame.with_columns(
        rule_at.replace_strict(
            index, [r.stage for r in rules.rules], default=None, return_dtype=pl.String
        ).alias("__lc_derived"),
        pl.when(step < n)
        .then(step)
        .replace_strict(index, [r.id for r in rules.rules], default=None, return_dtype=pl.String)
        .alias("__lc_derived_rule"),
        step.is_in([i for i, r in enumerate(rules.rules) if r.overrides_sticky])
        .fill_null(False)
        .alias("__lc_overrides"),
        pl.when(step >= n).then(step - n).cast(pl.Int16).alias(UNKNOWN_AT),
    )
    current, derived = pl.col(CUR), pl.col("__lc_derived")
    # A sticky stage names the sticky policy even where an undecided rule kept it as well.
    stopped = pl.col(UNKNOWN_AT).is_not_null()
    may_keep = ~pl.col("__lc_overrides") & (stopped | derived.ne_missing(current))
    sticky = [s.id for s in rules.stages if s.sticky]
    frame = frame.with_columns(
        pl.when(may_keep & current.is_in(sticky).fill_null(False))
        .then(pl.lit(rules.sticky_rule_id))
        .when(stopped)
        .then(pl.lit(rules.unknown_rule_id))
        .otherwise(pl.col("__lc_derived_rule"))
        .alias(RULE)
    )
    kept = pl.col(RULE) == rules.sticky_rule_id
    return frame.with_columns(
        pl.when(kept).then(current).otherwise(pl.coalesce(derived, current)).alias(NEW)
    )


def _other_type(rules: Rules, available: dict[str, Known]) -> pl.Expr | None:
    """The Other Type value the deciding rule sets (where it can be worked out), or None when no rule sets one."""
    col = lambda name: pl.col(FACT + name)  # noqa: E731
    chain, any_set = None, False
    for rule in rules.rules:
        for target, cond in rule.sets:
            if target != "other_type":
                continue
            any_set = True
            decided = known(cond.tree, available)
            if decided is False:
                continue  # cannot be worked out: keep the file's
            value, hit = (
                to_polars(cond, col, rules.compile_values).cast(pl.String),
                pl.col(RULE) == rule.id,
            )
            if decided is not True:
                hit = hit & to_polars_tree(decided, col, rules.compile_values)
            chain = pl.when(hit).then(value) if chain is None else chain.when(hit).then(value)
    if chain is None:
        return pl.lit(None, dtype=pl.String) if any_set else None
    return chain.otherwise(None)


def _spellings(decisions: pl.DataFrame, rules: Rules) -> dict[str, str]:
    """How to write each stage: the file's most common spelling of it, else the HubSpot internal value.

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


def _output(
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
    by_lower = _output_headers(contacts, rules)
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
    """The stage column's name when the contacts file has none: the first header the rules accept."""
    return rules.columns["contacts"]["stage"].headers[0]


def _output_headers(contacts: Source, rules: Rules) -> dict[str, str]:
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


def _expected(kind: str, rules: Rules) -> str:
    if kind == "bool":
        return (
            "true/false ("
            + "/".join(rules.values["true_values"][:3])
            + " or "
            + "/".join(rules.values["false_values"][:3])
            + ")"
        )
    return "a date like 2024-03-12 09:14, 2024-03-12T09:14:00Z or 3/15/2024 2:30 PM"


def classify(
    contacts: Source,
    deals: Source | None,
    consent: Source | None,
    rules: Rules,
    *,
    stage_format: str = "auto",
    output_file: str | None = None,
    checked_only: bool = False,
    on_duplicate: str = "error",
    companies: Source | None = None,
    progress: StepCallback = no_progress,
) -> Classification:
    """Classify every contact: the result the report shows, and the output to stream.

    on_duplicate: "error" stops on a repeated Record ID; "keep-first" keeps the first
    row of each id and leaves the later ones out of the output (the report counts them).
    Raises InputError, listing every problem found, before anything is written.
    `companies`: a companies export whose stages are rolled up from the contacts and deals.
    """
    inputs = [contacts, deals, consent, companies]

    def step(what: str, **counts) -> None:
        # Each step reads the files again, lined up row by row with what the last one read.
        check_unchanged(inputs)
        progress(what, **counts)

    try:
        run = _classify(
            contacts,
            deals,
            consent,
            rules,
            stage_format,
            output_file,
            checked_only,
            on_duplicate,
            step,
        )
        if companies is not None:
            step("rolling up the companies")
            run = _with_companies(run, companies, contacts, deals, rules, stage_format)
        check_unchanged(inputs)  # what the run read was one version of each file
        return run
    except pl.exceptions.PolarsError as exc:
        raise explain_read_error([contacts, deals, consent, companies], exc) from None


def _with_companies(
    run: Classification,
    companies: Source,
    contacts: Source,
    deals: Source | None,
    rules: Rules,
    stage_format: str,
) -> Classification:
    found = Diagnostics()
    done = classify_companies(companies, contacts, run.contact_stages, deals, rules, found)
    spellings = _spellings(done.decisions, rules) if stage_format == "auto" else None
    output, added = _output(companies, done.decisions, rules, stage_format, spellings)
    return replace(
        run,
        result=replace(run.result, companies=done.summary),
        companies_output=output,
        companies_added=tuple(added),
        companies_changes=done.changes,
    )


def _classify(
    contacts,
    deals,
    consent,
    rules,
    stage_format,
    output_file,
    checked_only,
    on_duplicate,
    progress: StepCallback = no_progress,
) -> Classification:
    found = Diagnostics()
    # A missing stage column is reported with every other problem, then the run stops.
    found.extend(contacts.missing_required)
    progress("reading the contacts' record ids")
    # Step 1, facts: the record ids (once), facts per contact, link counts, unreadable values, repeated ids.
    ids = read_contact_ids(
        contacts,
        email=consent is not None or (deals is not None and deals.has("contact_email")),
        deal_ids=deals is not None,
        account=rules.deals_by_account[1] if deals is not None and rules.deals_by_account else None,
    )
    id_frame = ids.frame.lazy()
    repeated = (
        id_frame.filter(pl.col(KEY).is_not_null())
        .group_by(KEY)
        .agg(pl.len().alias("n"), pl.col(ROW).min().alias("first"))
        .filter(pl.col("n") > 1)
    )
    no_ids = id_frame.filter(pl.col(KEY).is_null()).select(
        pl.len().alias("n"), pl.col(ROW).head(LISTED).implode().alias("rows")
    )
    rounded = id_frame.filter(pl.col(KEY).cast(pl.String).str.contains(EXCEL_ROUNDED)).select(
        pl.len().alias("n"), pl.col(ROW).head(LISTED).implode().alias("rows")
    )
    lazies: dict[str, pl.LazyFrame] = {"repeated": repeated, "no_ids": no_ids, "rounded": rounded}
    checks = []
    #: Values no list names (deal stages, consent statuses), found while the facts are worked out.
    unknown: dict[str, pl.DataFrame] = {}
    for src, facts_of, facts_used in (
        (deals, deal_facts, DEAL_FACTS),
        (consent, consent_facts, ("marketing_consent", "double_opt_in")),
    ):
        if src is None:
            continue
        lazies[f"{src.role}_facts"], lazies[f"{src.role}_counts"], bad, unknown[src.role] = (
            facts_of(src, ids, rules)
        )
        if bad is not None:
            lazies[f"bad_{src.role}"] = bad
            checks.append((src, facts_used, f"bad_{src.role}"))
    tested = tested_columns(rules, consent is not None)
    progress("working out the deal and consent facts", rows=ids.frame.height)
    if checked_only and contacts.format == "csv":
        # No output pass will parse every field of the contacts: check for broken rows here.
        lazies["parse_contacts"] = contacts.frame.select(pl.all().null_count())
    got = dict(zip(lazies, pl.collect_all(list(lazies.values()))))
    del lazies, id_frame, repeated, no_ids, rounded

    id_header = contacts.resolved["record_id"]
    if got["repeated"].height and on_duplicate != "keep-first":
        got["repeated"] = with_rows(
            got["repeated"], ids.frame, KEY, ROW
        )  # the rows to name in the error
    _id_problems(found, got, contacts, id_header, on_duplicate)
    if deals is not None and unknown["deals"].height:
        _unknown_deal_stages(found, deals, unknown["deals"], rules)
    for src, facts_used, key in checks:
        for message in _bad_value_problems(
            src, got[key], rules, sorted({r for f in facts_used for r in rules.rules_reading(f)})
        ):
            found.error("bad-value", message, file=src.display)
    links: dict[str, int] = {}
    future: tuple[int, list[int]] = (0, [])
    for key in ("deals_counts", "consent_counts"):
        if key in got:
            counts = got[key].row(0, named=True)
            if FUTURE_EVENTS in counts:
                future = (counts.pop(FUTURE_EVENTS), counts.pop(FUTURE_ROWS))
            links.update({k: int(v or 0) for k, v in counts.items()})
    records = {
        "contacts": ids.frame.height,
        "deals": links.get("deal_rows"),
        "consent": links.get("consent_rows"),
    }
    _file_problems(found, [contacts, deals, consent], records, future)
    for src in (deals, consent):
        if src is not None:
            check_links(
                found, src, links, ids, contacts, rules.columns[src.role], rules.deals_by_account
            )
    # Emails and deal ids were only needed for the facts: free them before the decision pass.
    ids = ContactIds(ids.frame.select(ROW, KEY), ids.integer)

    # Step 2, decide: every contact's decision, as a narrow table.
    progress("deciding every contact's stage")
    available = rules.availability(
        set(contacts.resolved),
        set(deals.resolved) if deals else None,
        set(consent.resolved) if consent else None,
        consent_statuses_known=consent is not None and not unknown["consent"].height,
    )
    frame = _with_facts(
        _typed_contacts(contacts, rules, ids, tested),
        got.get("deals_facts"),
        got.get("consent_facts"),
        rules,
    )
    frame = _decide(frame, rules, available)
    stage_ids = pl.Enum([s.id for s in rules.stages])
    rule_ids = pl.Enum(
        list(
            dict.fromkeys(
                [r.id for r in rules.rules] + [rules.sticky_rule_id, rules.unknown_rule_id]
            )
        )
    )
    other = _other_type(rules, available)
    bad_cols = [c for c in frame.collect_schema().names() if c.startswith((BAD, VOCAB))]
    narrow = [
        ROW,
        pl.col(CUR).cast(stage_ids),
        pl.col(NEW).cast(stage_ids),
        pl.col(RULE).cast(rule_ids),
        UNKNOWN_AT,
        RAW,
        pl.col(SPELLING).cast(pl.Categorical),
        *bad_cols,
    ]
    if other is not None:
        narrow.append(other.alias(OTHER))
    if got["repeated"].height and on_duplicate == "keep-first":
        firsts = got["repeated"].lazy().select(KEY, pl.col("first").alias("__lc_first"))
        frame = frame.join(firsts, on=KEY, how="left")
        narrow.append(
            (pl.col("__lc_first").is_null() | (pl.col(ROW) == pl.col("__lc_first"))).alias(
                "__lc_keep"
            )
        )
    decisions = frame.select(narrow).collect().sort(ROW)

    if "__lc_keep" in decisions.columns:
        dropped = decisions.filter(~pl.col("__lc_keep"))
        rows = listed((r + 2 for r in dropped[ROW].head(10)), dropped.height)
        found.warn(
            "left-out-repeats",
            f"{contacts.display}: left out {dropped.height:,} rows whose Record ID appeared "
            f"earlier (--on-duplicate keep-first): rows {rows}",
            file=contacts.display,
            column=id_header,
            row=int(dropped[ROW][0]) + 2,
        )
    kept = decisions.filter(pl.col("__lc_keep")) if "__lc_keep" in decisions.columns else decisions
    # The contacts' own problems are listed first: they are what the user fixes first.
    first = Diagnostics()
    for code, message in _contact_problems(kept, contacts, rules):
        first.error(code, message, file=contacts.display)
    found.items[:0] = first.items
    found.stop_on_errors()

    # Step 3, summarize: what the missing files and columns made undecided, and the report.
    progress("summarizing")
    kept_at = _stopped_at(kept, rules)
    missing = missing_inputs(rules, available, contacts, consent, kept_at, found)
    counted = _vocabulary_counts(kept, contacts, tested, unknown.get("consent"))
    words = vocabulary(found, {"contacts": contacts, "consent": consent}, rules, tested, counted)
    found.extend(rules.warnings)
    sources = {
        "contacts": contacts.display,
        "deals": deals.display if deals else None,
        "consent": consent.display if consent else None,
    }
    result = _summarize(
        kept, contacts, rules, sources, links, output_file, checked_only, found, missing, kept_at
    )
    result = replace(result, vocabulary=tuple(words))
    # Step 4, plan the output (lazy): streamed by whoever writes it.
    spellings = _spellings(kept, rules) if stage_format == "auto" else None
    output, added = _output(contacts, decisions, rules, stage_format, spellings)
    return Classification(
        result,
        output,
        tuple(added),
        _changes(contacts, decisions),
        contact_stages=kept.select(ROW, NEW),
    )


def _changes(contacts: Source, decisions: pl.DataFrame) -> pl.LazyFrame:
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


def _file_problems(
    found: Diagnostics,
    sources: list[Source | None],
    records: dict[str, int | None],
    future: tuple[int, list[int]],
) -> None:
    """Short rows (Excel drops trailing empty fields) and consent events dated in the future
    (`future`: how many, and the first of their 0-based rows); `records`: each file's rows, as read."""
    for src in sources:
        if src is None:
            continue
        count, rows = short_rows(src, records=records[src.role])
        if count:
            found.items.append(short_rows_found(src.display, count, rows))
    count, rows = future
    if count:
        src = next(s for s in sources if s is not None and s.role == "consent")
        found.warn(
            "future-timestamp",
            f"{src.display}: column '{src.resolved['timestamp']}': {count:,} consent events "
            f"are dated in the future (rows {listed((r + 2 for r in rows), count)}); they "
            "count as the latest event of their contact",
            file=src.display,
            column=src.resolved["timestamp"],
            row=rows[0] + 2,
            hint="check the timestamps' time zone and date format (day and month swapped?)",
        )


#: An id Excel rounded to scientific notation (5.12346E+10): many ids then collide.
EXCEL_ROUNDED = r"^\s*[0-9](?:[.,][0-9]+)?[eE]\+[0-9]+\s*$"
EXCEL_HINT = (
    "Excel rounded these ids to scientific notation when the file was opened and saved there; export "
    "again from HubSpot and open it with Data > From Text/CSV, setting the ID columns to Text, or use the "
    "export without Excel"
)


def _id_problems(
    found: Diagnostics, got: dict, contacts: Source, id_header: str, on_duplicate: str
) -> None:
    """Repeated, missing and Excel-rounded record ids."""
    rounded = int(got["rounded"]["n"][0])
    collided = on_duplicate != "keep-first" and got["repeated"].height > 0
    if collided:
        message = repeated_ids(
            got["repeated"],
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
            got["no_ids"]["n"][0], got["no_ids"]["rows"][0].to_list(), contacts.display, id_header
        ),
        file=contacts.display,
        column=id_header,
    )
    if rounded and not collided:
        rows = got["rounded"]["rows"][0].to_list()
        found.warn(
            "excel-rounded-ids",
            f"{contacts.display}: column '{id_header}': {rounded:,} record ids are in "
            f"scientific notation (rows {listed((r + 2 for r in rows), rounded)}); "
            "they will not match the ids in other files",
            file=contacts.display,
            column=id_header,
            row=rows[0] + 2,
            hint=EXCEL_HINT,
        )


def _bad_value_problems(
    src: Source, found: pl.DataFrame, rules: Rules, needed_by: list[str]
) -> list[str]:
    """Unreadable values of a deals or consent file (`found`: column, kind, value, count, first_row),
    counted per column; the values are not shown (a shifted row puts names and emails there)."""
    problems = []
    for (column,), rows in found.sort("first_row").group_by("column", maintain_order=True):
        firsts = rows["first_row"].sort()
        first_at = row_list(firsts.head(LISTED).to_list(), firsts.len())
        problems.append(
            f"{src.display}: column '{column}': {rows['count'].sum()} rows hold values that are "
            f"not {_expected(rows['kind'][0], rules)}, {_different(rows.height)}, first at "
            f"{first_at}; needed by rule(s): {', '.join(needed_by) or 'none'}"
        )
    return problems


def _unknown_deal_stages(
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
            f"'{row['stage']}'{pipeline} ({row['count']:,} {deals_word}, first at row {row['first_row']})"
        )
    why = (
        f"and its {' / '.join(flags)} column(s) do not decide"
        if flags
        else "and the file has no Is Closed Won / Is Deal Closed? column to decide"
    )
    total = int(stages["count"].sum())
    found.error(
        "unknown-deal-stage",
        f"{deals.display}: column '{header}': {total:,} deals have a stage the rules do not sort into won, "
        f"lost or open, {why}: {listed(shown, stages.height, 'more stages')}",
        file=deals.display,
        column=header,
        row=int(stages["first_row"].min()),
        hint="sort each stage under won_deal_stages, lost_deal_stages or open_deal_stages: "
        + rules.where_to_edit(
            "values.won_deal_stages, values.lost_deal_stages or values.open_deal_stages"
        )
        + " (`lifecycle init --from CONTACTS --deals DEALS` writes the file's stages there to sort)",
    )


def _different(n: int) -> str:
    return "1 value" if n == 1 else f"{n:,} different values"


def _contact_problems(
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
        details = _rows_of(
            contacts, bad_rows.to_list(), [header]
        )  # every bad row: the counts are exact
        different = details[header].str.strip_chars().n_unique()
        rows = row_list([r + 2 for r in bad_rows.head(LISTED)], len(bad_rows))
        needed_by = ", ".join(rules.rules_reading(name)) or "the built-in facts"
        problems.append(
            (
                "bad-value",
                f"{contacts.display}: column '{header}': {len(bad_rows)} rows hold values that are not "
                f"{_expected(spec[name].type, rules)}, {_different(different)}: {rows}; needed by rule(s): {needed_by}",
            )
        )
    return problems


def _rows_of(contacts: Source, rows: list[int], headers: list[str]) -> pl.DataFrame:
    """A few rows of the contacts file by row number: their record id and the given columns, as text."""
    return contacts.rows_at(
        rows,
        contacts.text("record_id").alias(KEY),
        *[pl.col(h).cast(pl.String) for h in dict.fromkeys(headers)],
        index=ROW,
    )


def _summarize(
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
    descriptions = {r.id: (r.description, r.stage) for r in rules.rules}
    descriptions[rules.sticky_rule_id] = ("Kept: the contact was already in a sticky stage.", None)
    descriptions[rules.unknown_rule_id] = (
        "Kept or stopped: a rule for the contact's stage, or for one below it, could not be decided (a file or "
        "column it reads is missing, or a value no list names), so the contact stays at the highest stage the "
        "known facts allow.",
        None,
    )
    decided = (
        decisions.group_by(RULE)
        .len()
        .select(pl.col(RULE).cast(pl.String).fill_null("(no rule)"), "len")
    )
    rule_order = [r.id for r in rules.rules] + [rules.sticky_rule_id, rules.unknown_rule_id]
    decided_by = [
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
    changed = decisions.filter(pl.col(NEW).ne_missing(pl.col(CUR)))
    # One example per kind of move, demotions first; names and emails only for those rows.
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
            for r in _rows_of(contacts, [r[ROW] for r in picked], names).iter_rows(named=True)
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
    missing = []
    deal_rules = [i for i, r in enumerate(rules.rules) if r.when.names & set(DEAL_FACTS)]
    if sources["deals"] is None:
        kept = sum(sum(kept_at.get(i, (0, 0))) for i in deal_rules)
        names = ", ".join(rules.rules[i].id for i in deal_rules) or "none"
        missing.append(
            f"deals: no deals file given, so the deal rules ({names}) cannot "
            f"fire and nobody is demoted for lack of deals; {kept:,} contacts kept their stage because of it"
        )
    if not contacts.has("stage"):
        looked_for = ", ".join(f"'{h}'" for h in rules.columns["contacts"]["stage"].headers)
        missing.append(
            f"stage: {contacts.display} has no stage column ({looked_for}), so every contact is newly "
            f"staged; the output adds the column '{added_stage_column(rules)}'"
        )
    if sources["consent"] is None:
        missing.append(
            "consent: no consent file given, so marketing consent and double opt-in come from the contacts' own columns"
        )
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


def _vocabulary_counts(
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
            _rows_of(contacts, rows.to_list(), [contacts.resolved[t.column]])
            if rows.len()
            else None
        )
        counted[(t.column, t.list_name)] = (
            values.group_by(pl.col(contacts.resolved[t.column]).str.strip_chars().alias("value"))
            .agg(pl.len().alias("count"))
            .sort(["count", "value"], descending=[True, False])
            if values is not None
            else pl.DataFrame(schema={"value": pl.String, "count": pl.UInt32})
        )
    return counted


def _stopped_at(decisions: pl.DataFrame, rules: Rules) -> dict[int, tuple[int, int]]:
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


def _kept_words(kept: int, caught: int) -> str:
    """What an undecided rule did to the contacts, for messages."""
    words = f"{kept:,} {'contact' if kept == 1 else 'contacts'} kept their stage"
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
    """Each column the rules read that a given file lacks: the rules it leaves undecided and how many
    contacts that kept or stopped, and rules that can never decide. A warning each, or a note where
    the rules file declares the column absent (`missing: absent`) or where it changed nobody's stage."""
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
            declared = all(_declared_absent(rules, n) for n in missing)
            quiet = declared or sum(stopped([i])) == 0
            (found.note if quiet else found.warn)(
                "rule-never-decides",
                f"{rules.path}, line {rule.line}: rule '{rule.id}' reads only columns the "
                f"files lack ({', '.join(missing)}), so it can never decide; {_kept_words(*stopped([i]))} at it",
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
        declared = _declared_absent(rules, name, role)
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
            f"cannot be decided from it; {_kept_words(kept, caught)} because of it"
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
            hint=f"if the export has it under another header, add that header to columns.{role}.{name}; if "
            f"your exports never have it, set `missing: absent` there (a note then, not a warning): "
            + rules.where_to_edit(f"columns.{role}.{name}"),
        )
    return out


def _declared_absent(rules: Rules, name: str, role: str = "contacts") -> bool:
    """Whether the rules file says the export never has this column (`missing: absent`)."""
    if name == "consent_double_opt_in":
        role, name = "consent", "double_opt_in"
    spec = rules.columns[role].get(name)
    return spec is not None and spec.missing == "absent"

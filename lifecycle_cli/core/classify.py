"""The classify run, as named steps over one run context (`Run`):

    read_facts  -> the record ids, and the per-contact deal and consent facts (small tables)
    check_facts -> the input problems those show (ids, deal stages, values, links, short rows)
    decisions   -> every contact's decision, a narrow table (decide.py: the rule walk)
    summarize   -> the report's result (summary.py), once the contacts' own checks passed
    plan_output -> the reclassified export, lazy, streamed by whoever writes it (export.py)

The exports are read in three passes so that memory stays far below the size of the files:
(1) the facts, (2) the decisions, (3) the output, streamed from the contacts file with the
decisions alongside, only once the checks have passed (core/outputs.py plans the files).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import polars as pl

from ..base.diagnostics import Diagnostics, quantity, row_list
from ..base.progress import StepCallback, no_progress
from ..io.sources import Source, check_unchanged, explain_read_error, scan_lines
from ..rules.logic import DEAL_FACTS
from ..rules.model import Rules
from .checks import (
    EXCEL_ROUNDED,
    bad_value_problems,
    contact_problems,
    deal_stage_problems,
    file_problems,
    id_problems,
)
from .columns import BAD, CUR, KEY, NEW, OTHER, RAW, ROW, RULE, SPELLING, UNKNOWN_AT, VOCAB
from .companies import classify_companies
from .decide import decide, other_type, typed_contacts, with_facts
from .export import changes_table, output_table, stage_spellings
from .facts import (
    FUTURE_EVENTS,
    FUTURE_ROWS,
    ContactIds,
    consent_facts,
    deal_facts,
    read_contact_ids,
)
from .links import check_links
from .problems import LISTED, with_rows
from .run import Facts, Run, availability, typed_decisions, with_keep
from .summary import ClassifyResult, missing_inputs, stopped_at, summarize, vocabulary_counts
from .vocabulary import tested_columns, vocabulary

if TYPE_CHECKING:
    from ..io.engines import Engine


@dataclass(frozen=True)
class Classification:
    """A classify run: the report's result, and the output table as a lazy frame to stream or
    collect."""

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
    engine: Engine | None = None,
) -> Classification:
    """Classify every contact: the result the report shows, and the output to stream.

    on_duplicate: "error" stops on a repeated Record ID; "keep-first" keeps the first
    row of each id and leaves the later ones out of the output (the report counts them).
    Raises InputError, listing every problem found, before anything is written.
    `companies`: a companies export whose stages are rolled up from the contacts and deals.
    `engine`: run the facts, the checks and the rule walk as queries on DuckDB or Spark
    (on_engine.py) instead of Polars; the report and the output are made the same way.
    """
    inputs = [contacts, deals, consent, companies]

    def step(what: str, **counts) -> None:
        # Each step reads the files again, lined up row by row with what the last one read.
        check_unchanged(inputs)
        progress(what, **counts)

    run = Run(
        rules,
        contacts,
        deals,
        consent,
        Diagnostics(),
        step,
        stage_format=stage_format,
        output_file=output_file,
        checked_only=checked_only,
        on_duplicate=on_duplicate,
    )
    try:
        if engine is None:
            facts = read_facts(run)
            check_facts(run, facts)
            decided = decisions(run, facts)
        else:
            # Imported here: the default (Polars) run does not load the SQL builder.
            from .on_engine import facts_and_decisions

            facts, decided = facts_and_decisions(run, engine)
            check_facts(run, facts)
        result = summarize_run(run, facts, decided)
        done = plan_output(run, decided, result)
        if companies is not None:
            step("rolling up the companies")
            done = with_companies(done, companies, run)
        check_unchanged(inputs)  # what the run read was one version of each file
        return done
    except pl.exceptions.PolarsError as exc:
        raise explain_read_error(inputs, exc) from None


def read_facts(run: Run) -> Facts:
    """Step 1: the record ids (once), the facts per contact, link counts, unreadable values and
    repeated ids, all from one collect of small lazy tables."""
    contacts, deals, consent, rules = run.contacts, run.deals, run.consent, run.rules
    # A missing stage column is reported with every other problem, then the run stops.
    run.found.extend(contacts.missing_required)
    run.progress("reading the contacts' record ids")
    # The lines first, while nothing else is held: reading them maps the whole file.
    lines = {src.role: scan_lines(src) for src in (contacts, deals, consent) if src is not None}
    ids = read_contact_ids(
        contacts,
        email=consent is not None or (deals is not None and deals.has("contact_email")),
        deal_ids=deals is not None,
        account=rules.deals_by_account[1] if deals is not None and rules.deals_by_account else None,
    )
    id_frame = ids.frame.lazy()
    lazies: dict[str, pl.LazyFrame] = {
        "repeated": id_frame.filter(pl.col(KEY).is_not_null())
        .group_by(KEY)
        .agg(pl.len().alias("n"), pl.col(ROW).min().alias("first"))
        .filter(pl.col("n") > 1),
        "no_ids": id_frame.filter(pl.col(KEY).is_null()).select(
            pl.len().alias("n"), pl.col(ROW).head(LISTED).implode().alias("rows")
        ),
        # Integer keys are digits only: none is in scientific notation (and none is cast to text).
        "rounded": (id_frame.head(0) if ids.integer else id_frame)
        .filter(pl.col(KEY).cast(pl.String).str.contains(EXCEL_ROUNDED))
        .select(pl.len().alias("n"), pl.col(ROW).head(LISTED).implode().alias("rows")),
    }
    unknown: dict[str, pl.DataFrame] = {}
    checks = []
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
    run.progress("working out the deal and consent facts", rows=ids.frame.height)
    if run.checked_only and contacts.format == "csv":
        # No output pass will parse every field of the contacts: check for broken rows here.
        lazies["parse_contacts"] = contacts.frame.select(pl.all().null_count())
    got = dict(zip(lazies, pl.collect_all(list(lazies.values())), strict=True))
    facts = Facts(
        ids,
        got["repeated"],
        got["no_ids"],
        got["rounded"],
        deals=got.get("deals_facts"),
        consent=got.get("consent_facts"),
        unknown=unknown,
        bad_values=[(src, used, got[key]) for src, used, key in checks],
        tested=tested_columns(rules, consent is not None),
        lines=lines,
    )
    for key in ("deals_counts", "consent_counts"):
        if key in got:
            counts = got[key].row(0, named=True)
            if FUTURE_EVENTS in counts:
                facts.future = (counts.pop(FUTURE_EVENTS), counts.pop(FUTURE_ROWS))
            facts.links.update({k: int(v or 0) for k, v in counts.items()})
    facts.available = availability(run, unknown.get("consent"))
    return facts


def check_facts(run: Run, facts: Facts) -> None:
    """Step 2: the problems the first pass shows (ids, deal stages, unreadable values, short
    rows, links), as diagnostics; they stop the run with the contacts' own, after step 3."""
    contacts, deals, consent, rules, found = (
        run.contacts,
        run.deals,
        run.consent,
        run.rules,
        run.found,
    )
    if facts.repeated.height and run.on_duplicate != "keep-first":
        facts.repeated = with_rows(facts.repeated, facts.ids.frame, KEY, ROW)  # rows to name
    id_problems(found, facts, contacts, contacts.resolved["record_id"], run.on_duplicate)
    if deals is not None and facts.unknown["deals"].height:
        deal_stage_problems(found, deals, facts.unknown["deals"], rules)
    for src, facts_used, table in facts.bad_values:
        needed_by = sorted({r for f in facts_used for r in rules.rules_reading(f)})
        for message in bad_value_problems(src, table, rules, needed_by):
            found.error("bad-value", message, file=src.display)
    records = {
        "contacts": facts.ids.frame.height,
        "deals": facts.links.get("deal_rows"),
        "consent": facts.links.get("consent_rows"),
    }
    file_problems(found, [contacts, deals, consent], records, facts.future, facts.lines)
    for src in (deals, consent):
        if src is not None:
            check_links(
                found,
                src,
                facts.links,
                facts.ids,
                contacts,
                rules.columns[src.role],
                rules.deals_by_account,
            )
    # Emails and deal ids were only needed for the facts: free them before the decision pass.
    facts.ids = ContactIds(facts.ids.frame.select(ROW, KEY), facts.ids.integer)


def decisions(run: Run, facts: Facts) -> pl.DataFrame:
    """Step 3: every contact's decision as a narrow table in file order (ROW, CUR, NEW, RULE,
    UNKNOWN_AT, RAW, SPELLING, flags, OTHER, `__lc_keep` with --on-duplicate keep-first)."""
    rules = run.rules
    run.progress("deciding every contact's stage")
    frame = with_facts(
        typed_contacts(run.contacts, rules, facts.ids, facts.tested),
        facts.deals,
        facts.consent,
        rules,
    )
    frame = decide(frame, rules, facts.available)
    other = other_type(rules, facts.available)
    bad_cols = [c for c in frame.collect_schema().names() if c.startswith((BAD, VOCAB))]
    narrow = [ROW, CUR, NEW, RULE, UNKNOWN_AT, RAW, SPELLING, *bad_cols]
    if other is not None:
        narrow.append(other.alias(OTHER))
    frame, keep = with_keep(frame, facts, run)
    return typed_decisions(frame.select(*narrow, *keep), rules).collect().sort(ROW)


def summarize_run(run: Run, facts: Facts, decided: pl.DataFrame) -> ClassifyResult:
    """Step 4: the contacts' own problems (listed first: they are what the user fixes first),
    the stop when there are errors, then what the missing files and columns left undecided and
    the report's result."""
    contacts, rules, found = run.contacts, run.rules, run.found
    if "__lc_keep" in decided.columns:
        dropped = decided.filter(~pl.col("__lc_keep"))
        rows = row_list((r + 2 for r in dropped[ROW].head(10)), dropped.height)
        found.warn(
            "left-out-repeats",
            f"{contacts.display}: left out {quantity(dropped.height, 'row')} whose Record ID "
            f"appeared earlier (--on-duplicate keep-first): {rows}",
            file=contacts.display,
            column=contacts.resolved["record_id"],
            row=int(dropped[ROW][0]) + 2,
        )
    kept = kept_rows(decided)
    first = Diagnostics()
    for code, message in contact_problems(kept, contacts, rules):
        first.error(code, message, file=contacts.display)
    found.items[:0] = first.items
    found.stop_on_errors()

    run.progress("summarizing")
    kept_at = stopped_at(kept, rules)
    missing = missing_inputs(rules, facts.available, contacts, run.consent, kept_at, found)
    counted = vocabulary_counts(kept, contacts, facts.tested, facts.unknown.get("consent"))
    words = vocabulary(
        found, {"contacts": contacts, "consent": run.consent}, rules, facts.tested, counted
    )
    found.extend(rules.warnings)
    sources = {
        "contacts": contacts.display,
        "deals": run.deals.display if run.deals else None,
        "consent": run.consent.display if run.consent else None,
    }
    result = summarize(
        kept,
        contacts,
        rules,
        sources,
        facts.links,
        run.output_file,
        run.checked_only,
        found,
        missing,
        kept_at,
    )
    return replace(result, vocabulary=tuple(words))


def plan_output(run: Run, decided: pl.DataFrame, result: ClassifyResult) -> Classification:
    """Step 5: the reclassified export (lazy: streamed by whoever writes it) and the changes."""
    kept = kept_rows(decided)
    spellings = stage_spellings(kept, run.rules) if run.stage_format == "auto" else None
    output, added = output_table(run.contacts, decided, run.rules, run.stage_format, spellings)
    return Classification(
        result,
        output,
        tuple(added),
        changes_table(run.contacts, decided),
        contact_stages=kept.select(ROW, NEW),
    )


def kept_rows(decided: pl.DataFrame) -> pl.DataFrame:
    """The decisions of the rows classified (--on-duplicate keep-first leaves repeats out)."""
    return decided.filter(pl.col("__lc_keep")) if "__lc_keep" in decided.columns else decided


def with_companies(done: Classification, companies: Source, run: Run) -> Classification:
    """The companies roll-up (companies.py), written as the contacts are."""
    rules = run.rules
    found = Diagnostics()
    rolled = classify_companies(
        companies, run.contacts, done.contact_stages, run.deals, rules, found
    )
    spellings = stage_spellings(rolled.decisions, rules) if run.stage_format == "auto" else None
    output, added = output_table(companies, rolled.decisions, rules, run.stage_format, spellings)
    return replace(
        done,
        result=replace(done.result, companies=rolled.summary),
        companies_output=output,
        companies_added=tuple(added),
        companies_changes=rolled.changes,
    )

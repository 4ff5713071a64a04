"""The context of one classify run (`Run`) and what its first step works out (`Facts`): shared by
the steps in classify.py and by the same steps run on an engine (on_engine.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ..base.diagnostics import Diagnostics
from ..base.progress import StepCallback, no_progress
from ..io.sources import LineScan, Source
from ..rules.logic import Known
from ..rules.model import Rules
from .columns import CUR, KEY, NEW, ROW, RULE, SPELLING
from .facts import ContactIds
from .vocabulary import Tested


@dataclass
class Run:
    """One classify run's context: the rules, the sources, the diagnostics found so far and the
    progress callback, with the options the steps read."""

    rules: Rules
    contacts: Source
    deals: Source | None
    consent: Source | None
    found: Diagnostics
    progress: StepCallback = no_progress
    stage_format: str = "auto"
    output_file: str | None = None
    checked_only: bool = False
    on_duplicate: str = "error"


@dataclass
class Facts:
    """What the first pass worked out: the record ids, the deal and consent facts per contact,
    their link counts, and the small tables the input checks read."""

    ids: ContactIds
    repeated: pl.DataFrame  #: KEY, n, first: record ids on more than one row
    no_ids: pl.DataFrame  #: n, rows: rows without a record id
    rounded: pl.DataFrame  #: n, rows: ids Excel wrote in scientific notation
    deals: pl.DataFrame | None = None  #: per contact: the deal facts (logic.DEAL_FACTS)
    consent: pl.DataFrame | None = None  #: per contact: the consent facts
    #: Values no list names (deal stages, consent statuses), by the source's role.
    unknown: dict[str, pl.DataFrame] = field(default_factory=dict)
    #: Unreadable values of the deals and consent files: (source, facts they feed, the table).
    bad_values: list[tuple[Source, tuple[str, ...], pl.DataFrame]] = field(default_factory=list)
    links: dict[str, int] = field(default_factory=dict)
    future: tuple[int, list[int]] = (0, [])  #: consent events dated in the future, first rows
    tested: list[Tested] = field(default_factory=list)
    available: dict[str, Known] = field(default_factory=dict)
    #: What each CSV input's physical lines show (short rows), by role, read first (see
    #: sources.scan_lines); an input not here is scanned when it is checked.
    lines: dict[str, LineScan | None] = field(default_factory=dict)


def availability(run: Run, unknown_statuses: pl.DataFrame | None) -> dict[str, Known]:
    """When each name a condition reads is decided, from the columns each input has, and whether
    the consent file holds statuses no list names (`unknown_statuses`: those found, if read)."""
    contacts, deals, consent = run.contacts, run.deals, run.consent
    return run.rules.availability(
        set(contacts.resolved),
        set(deals.resolved) if deals else None,
        set(consent.resolved) if consent else None,
        consent_statuses_known=consent is not None and not unknown_statuses.height,
    )


def typed_decisions(frame: pl.DataFrame | pl.LazyFrame, rules: Rules):
    """The decision columns as the later steps read them: stages and rules as enums (small, and
    sorted in the rules' order), the spelling as a category."""
    stage_ids = pl.Enum([s.id for s in rules.stages])
    rule_ids = pl.Enum(
        list(
            dict.fromkeys(
                [r.id for r in rules.rules] + [rules.sticky_rule_id, rules.unknown_rule_id]
            )
        )
    )
    return frame.with_columns(
        pl.col(CUR).cast(stage_ids),
        pl.col(NEW).cast(stage_ids),
        pl.col(RULE).cast(rule_ids),
        pl.col(SPELLING).cast(pl.Categorical),
    )


def with_keep(frame: pl.LazyFrame, facts: Facts, run: Run) -> tuple[pl.LazyFrame, list[pl.Expr]]:
    """With --on-duplicate keep-first: the frame joined with the first row of each repeated id,
    and the `__lc_keep` column to add (true for the rows classified)."""
    if not (facts.repeated.height and run.on_duplicate == "keep-first"):
        return frame, []
    firsts = facts.repeated.lazy().select(KEY, pl.col("first").alias("__lc_first"))
    keep = (pl.col("__lc_first").is_null() | (pl.col(ROW) == pl.col("__lc_first"))).alias(
        "__lc_keep"
    )
    return frame.join(firsts, on=KEY, how="left"), [keep]

"""Company lifecycle stages, rolled up from their contacts and their own deals, as HubSpot does.

A company's stage is the highest stage among its associated contacts (as classify has just
decided them; Other contacts do not count) and its own deals (a won deal makes it a Customer,
an open one an Opportunity). A company in a sticky stage keeps it unless the roll-up is higher;
a company with nothing in the files to go by (no contact that counts, no deal) keeps its stage:
that is unknown, not "no stage".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from ..base.diagnostics import Diagnostics, quantity
from ..io.sources import Source
from ..rules.model import Rules

# The decisions are written by classify's own `_output`: they carry its column names.
from .columns import CUR, NEW, RAW, ROW, RULE, SPELLING
from .facts import OPEN, WON, deal_rows, not_null_id, split_ids, stage_id, unknown_spelling
from .moves import EMPTY, summarize_moves
from .problems import missing_ids, repeated_ids, unknown_stages, with_rows

KEY = "__lc_company"

#: What decided a company's stage, as the rule column names it.
ROLLUP_RULES = {
    "company-contacts": "the highest stage among the company's contacts (Other contacts do not "
    "count)",
    "company-won-deal": "the company has a won deal",
    "company-open-deal": "the company has an open deal",
}


@dataclass(frozen=True)
class CompanyClassification:
    summary: dict[str, Any]  #: the report's companies section (see `to_dict` of a classify result)
    decisions: (
        pl.DataFrame
    )  #: ROW, CUR, NEW, RULE, RAW, SPELLING: one row per company, in file order
    #: record_id, previous, new, other_type, rule, name (for re-import files and --changes)
    changes: pl.DataFrame


def classify_companies(
    companies: Source,
    contacts: Source,
    contact_stages: pl.DataFrame,
    deals: Source | None,
    rules: Rules,
    found: Diagnostics,
) -> CompanyClassification:
    """`contact_stages`: ROW (the contacts' row) and NEW (stage id) for every contact classified."""
    ranks = _Ranks(rules)
    own = (
        companies.frame.with_row_index(ROW)
        .select(
            ROW,
            companies.text("record_id").alias(KEY),
            companies.text("name").alias("__lc_name"),
            # Null everywhere when the export has no stage column (optional in the rules): all
            # newly staged.
            (current := stage_id(raw := companies.raw("stage"), rules)).alias(CUR),
            unknown_spelling(raw, current).alias(RAW),
            raw.str.strip_chars().alias(SPELLING),
        )
        .collect()
    )
    _company_problems(found, own, companies, rules)
    via_contacts = contacts.has("company_ids")
    via_deals = deals is not None and deals.has("company_ids")
    refs = _evidence(companies, contacts, contact_stages, deals, rules, ranks, found)
    known_ids = own[KEY].drop_nulls().unique()
    linked = refs.filter(pl.col(KEY).is_in(known_ids.implode()))
    if refs.height and not linked.height and own.height:
        found.error(
            "no-link",
            f"{companies.display}: none of its {quantity(own.height, 'company')} is named by the "
            "contacts' or deals' company IDs; check that the files come from the same portal",
            file=companies.display,
            column=companies.resolved["record_id"],
        )
        found.stop_on_errors()
    decisions = _decide(own, linked, rules, ranks)
    changes = decisions.filter(pl.col(NEW).ne_missing(pl.col(CUR))).select(
        pl.col(KEY).alias("record_id"),
        pl.col(CUR).alias("previous"),
        pl.col(NEW).alias("new"),
        pl.lit(None, dtype=pl.String).alias("other_type"),
        pl.col(RULE).alias("rule"),
        pl.col("__lc_name").alias("name"),
    )
    summary = _summary(decisions, companies, rules, linked, refs, via_contacts, via_deals)
    return CompanyClassification(
        summary, decisions.select(ROW, CUR, NEW, RULE, RAW, SPELLING), changes
    )


class _Ranks:
    """The ranked stages as numbers and back (a company takes the highest of its evidence)."""

    def __init__(self, rules: Rules) -> None:
        rank = {s.id: s.rank for s in rules.stages if s.ranked}
        self.ids, self.ranks = list(rank), list(rank.values())
        self.by_rank = dict(zip(self.ranks, self.ids, strict=True))

    def of(self, stage: pl.Expr) -> pl.Expr:
        return stage.replace_strict(self.ids, self.ranks, default=None, return_dtype=pl.Int32)

    def stage(self, rank: pl.Expr) -> pl.Expr:
        return rank.replace_strict(
            list(self.by_rank),
            list(self.by_rank.values()),
            default=None,
            return_dtype=pl.String,
        )


def _evidence(
    companies: Source,
    contacts: Source,
    contact_stages: pl.DataFrame,
    deals: Source | None,
    rules: Rules,
    ranks: _Ranks,
    found: Diagnostics,
) -> pl.DataFrame:
    """Every company id named by a contact (with the contact's new stage) or a deal (won:
    Customer, open: Opportunity), with its rank and why; a stop when nothing links them."""
    parts = []
    if contacts.has("company_ids"):
        refs = (
            contacts.frame.with_row_index(ROW)
            .select(ROW, contacts.text("company_ids").alias("ref"))
            .collect()
        )
        parts.append(
            refs.join(
                contact_stages.select(ROW, pl.col(NEW).cast(pl.String)), on=ROW, how="inner"
            ).select(
                split_ids(pl.col("ref")).alias(KEY),
                ranks.of(pl.col(NEW)).alias("rank"),
                pl.lit("company-contacts").alias("why"),
            )
        )
    if deals is not None and deals.has("company_ids"):
        won = pl.col("outcome") == WON
        deal_stage = (
            pl.when(won)
            .then(pl.lit("customer"))
            .when(pl.col("outcome") == OPEN)
            .then(pl.lit("opportunity"))
        )
        parts.append(
            deal_rows(deals, rules)
            .select(
                split_ids(not_null_id(deals.text("company_ids"))).alias(KEY),
                ranks.of(deal_stage).alias("rank"),
                pl.when(won)
                .then(pl.lit("company-won-deal"))
                .otherwise(pl.lit("company-open-deal"))
                .alias("why"),
            )
            .collect()
        )
    if not parts:
        found.error(
            "no-link",
            f"{companies.display}: nothing links a company to its contacts or deals: the contacts "
            f"file has no company column ({_headers(rules, 'contacts')})"
            + (
                f" and the deals file none either ({_headers(rules, 'deals')})"
                if deals is not None
                else ""
            )
            + "; export the contacts with their associated company IDs",
            file=companies.display,
        )
        found.stop_on_errors()
    return (
        pl.concat(parts)
        .explode(KEY)
        .with_columns(pl.col(KEY).str.strip_chars())
        .filter(pl.col(KEY).is_not_null() & (pl.col(KEY) != ""))
    )


def _decide(own: pl.DataFrame, linked: pl.DataFrame, rules: Rules, ranks: _Ranks) -> pl.DataFrame:
    """Each company's new stage: the best evidence (the highest rank; on a tie contacts name the
    rule before deals), a sticky stage kept unless the evidence is higher, none: kept."""
    best = (
        linked.filter(pl.col("rank").is_not_null())
        .sort(["rank", "why"], descending=[True, False])
        .group_by(KEY, maintain_order=True)
        .first()
    )
    sticky = [s.id for s in rules.stages if s.sticky]
    cur_rank = ranks.of(pl.col(CUR))
    keep_sticky = pl.col(CUR).cast(pl.String).is_in(sticky).fill_null(False) & (
        cur_rank.is_null() | (pl.col("rank") <= cur_rank)
    ).fill_null(True)
    return (
        own.with_columns(pl.col(CUR).cast(pl.String))
        .join(best, on=KEY, how="left")
        .with_columns(
            pl.when(keep_sticky)
            .then(pl.lit(rules.sticky_rule_id))
            .when(pl.col("rank").is_null())
            .then(pl.lit(rules.unknown_rule_id))
            .otherwise(pl.col("why"))
            .alias(RULE)
        )
        .with_columns(
            pl.when(pl.col(RULE).is_in([rules.sticky_rule_id, rules.unknown_rule_id]))
            .then(pl.col(CUR))
            .otherwise(ranks.stage(pl.col("rank")))
            .alias(NEW)
        )
        .sort(ROW)
    )


def _headers(rules: Rules, role: str) -> str:
    spec = rules.columns[role].get("company_ids")
    return (
        ", ".join(f"'{h}'" for h in spec.headers) if spec else "no company_ids column in the rules"
    )


def _company_problems(
    found: Diagnostics, own: pl.DataFrame, companies: Source, rules: Rules
) -> None:
    id_header = companies.resolved["record_id"]
    for code, message in (
        unknown_stages(own, RAW, ROW, companies, rules) if companies.has("stage") else ()
    ):
        found.error(code, message, file=companies.display)
    blank = own.filter(pl.col(KEY).is_null())
    found.error(
        "missing-id",
        missing_ids(blank.height, blank[ROW].head(10).to_list(), companies.display, id_header),
        file=companies.display,
        column=id_header,
    )
    repeated = (
        own.filter(pl.col(KEY).is_not_null())
        .group_by(KEY)
        .agg(pl.len().alias("n"), pl.col(ROW).min().alias("first"))
        .filter(pl.col("n") > 1)
    )
    if repeated.height:
        repeated = with_rows(repeated, own, KEY, ROW)  # the rows to name in the error
    found.error(
        "repeated-id",
        repeated_ids(repeated, KEY, companies.display, id_header),
        file=companies.display,
        column=id_header,
    )
    found.stop_on_errors()


def _summary(
    decisions: pl.DataFrame,
    companies: Source,
    rules: Rules,
    linked: pl.DataFrame,
    refs: pl.DataFrame,
    via_contacts: bool,
    via_deals: bool,
) -> dict[str, Any]:
    moves = summarize_moves(
        decisions.group_by(CUR, NEW)
        .agg(pl.len().alias("count"))
        .select(
            pl.col(CUR).fill_null(EMPTY).alias("from"),
            pl.col(NEW).fill_null(EMPTY).alias("to"),
            "count",
        ),
        rules,
    )
    totals = moves.totals
    decided = dict(decisions.group_by(RULE).len().iter_rows())
    descriptions = {
        **ROLLUP_RULES,
        rules.sticky_rule_id: "kept: the company was already in a sticky stage",
        rules.unknown_rule_id: "kept: no contact that counts and no deal of the company in the "
        "files",
    }
    known = set(decisions[KEY].drop_nulls().to_list())
    return {
        "file": companies.display,
        "companies": decisions.height,
        "changed": decisions.filter(pl.col(NEW).ne_missing(pl.col(CUR))).height,
        "promotions": totals["promotion"],
        "demotions": totals["demotion"],
        "sideways": totals["sideways"],
        "newly_staged": totals["newly_staged"],
        "unchanged": totals["unchanged"] + totals["cleared"],
        "stages": list(moves.stages),
        "transitions": list(moves.transitions),
        "decided_by": [
            {"rule": rule, "description": descriptions.get(rule, ""), "count": decided[rule]}
            for rule in [*ROLLUP_RULES, rules.sticky_rule_id, rules.unknown_rule_id]
            if decided.get(rule)
        ],
        "links": {
            "by_contacts": via_contacts,
            "by_deals": via_deals,
            "companies_linked": linked.select(pl.col(KEY).n_unique()).item(),
            "unknown_company_refs": refs.filter(~pl.col(KEY).is_in(list(known))).height,
        },
    }

"""The decision step: the contacts typed, their facts joined, and the rule walk that gives each
its stage and deciding rule. `classify` and `explain` both build on these expressions."""

from __future__ import annotations

import polars as pl

from ..io.sources import Source
from ..rules.logic import DEAL_FACTS, DERIVED_INPUTS, Known, derived_facts, known, named
from ..rules.model import Rules, one_of, to_polars, to_polars_tree
from .columns import BAD, CUR, FACT, KEY, NEW, RAW, ROW, RULE, SPELLING, UNKNOWN_AT, VOCAB
from .facts import (
    ContactIds,
    parse_bool,
    parse_datetime,
    stage_id,
    unknown_spelling,
)
from .vocabulary import Tested, named_pairs


def checked_columns(rules: Rules, contacts: Source) -> list[str]:
    """The contacts' columns whose every value must read as its type (the booleans and date-times
    a condition or fact reads, where the file has them): a value that does not is a bad-value
    problem (checks.contact_problems)."""
    spec = rules.columns["contacts"]
    used = rules.referenced_columns() | set(DERIVED_INPUTS)
    return [
        name
        for name in sorted(used)
        if name in spec and spec[name].type in ("bool", "datetime") and contacts.has(name)
    ]


def typed_contacts(
    contacts: Source, rules: Rules, ids: ContactIds, tested: list[Tested] = ()
) -> pl.LazyFrame:
    """Row number, key, current stage and every column a condition or fact reads, typed.

    A column the file lacks is a typed NULL here: `logic.known` says where that leaves a
    condition undecided, and wherever it is decided, NULL gives the right value.
    """
    spec = rules.columns["contacts"]
    used = rules.referenced_columns() | set(DERIVED_INPUTS)
    typed, checked = [], []  # checked: flags for values that do not read as their type
    to_check = set(checked_columns(rules, contacts))
    # Values read twice below are worked out once first, as columns of their own: Polars does not
    # share a repeated subexpression (a boolean would be parsed twice, the stage looked up twice).
    once: dict[str, pl.Expr] = {}
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
        if name in to_check:
            once[FACT + name] = value
            value = pl.col(FACT + name)
        typed.append(value.alias(FACT + name))
        if name in to_check:
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
            # A flag only: the few values it marks are read again afterwards (see
            # vocabulary_counts).
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
    once[CUR] = stage_id(raw, rules)
    return (
        rows.with_row_index(ROW)
        .with_columns(**once)
        .select(
            ROW,
            KEY,
            *typed,
            *checked,
            domain.alias(FACT + "email_domain"),
            pl.col(CUR),
            unknown_spelling(raw, pl.col(CUR)).alias(RAW),
            raw.str.strip_chars().alias(SPELLING),
        )
        .with_columns(pl.col(CUR).alias(FACT + "current_stage"), *named_facts)
        .with_columns(vocab)
    )


def with_facts(
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


def decide(frame: pl.LazyFrame, rules: Rules, available: dict[str, Known]) -> pl.LazyFrame:
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


def other_type(rules: Rules, available: dict[str, Known]) -> pl.Expr | None:
    """The Other Type value the deciding rule sets (where it can be worked out), or None when no
    rule sets one."""
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

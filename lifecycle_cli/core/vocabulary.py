"""Values the rules were never told about: which columns are tested against open value lists, and
which of their values no list names (the report's vocabulary section).

A test `column IN @list` over an open list is unknown for a value the list does not name (see
logic.known), so such a value can keep or stop a contact but never move it. The vocabulary says
which values did that, how often, and which rules they left undecided, so the user can sort them
into the rules file (`lifecycle init --from` writes them there to sort).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlglot import exp

from ..base.diagnostics import Diagnostics, listed, quantity
from ..io.sources import Source
from ..rules.logic import derived_facts, reads
from ..rules.model import Rules, one_of

#: Values listed per column in the report; the rest are counted.
LISTED_VALUES = 25


@dataclass(frozen=True)
class Tested:
    """A column tested against an open value list, and the rules that read the test."""

    column: str
    list_name: str
    rules: tuple[str, ...]
    source: str = "contacts"


def tested_columns(rules: Rules, with_consent: bool) -> list[Tested]:
    """Every (contacts column, open list) pair a rule reads, directly or through a derived fact."""
    found: dict[tuple[str, str], list[str]] = {}
    trees = [(rule.id, rule.when.tree) for rule in rules.rules]
    trees += [(rule.id, cond.tree) for rule in rules.rules for _, cond in rule.sets]
    for fact, tree in derived_facts(with_consent).items():
        trees += [(rule_id, tree) for rule_id in rules.rules_reading(fact)]
    spec = rules.columns["contacts"]
    for rule_id, tree in trees:
        for node in tree.find_all(exp.In):
            field = node.args.get("field")
            if not isinstance(field, exp.Parameter) or field.name not in rules.open_lists:
                continue
            columns = reads(node.this) & set(spec)
            if len(columns) == 1:  # a test over one column: its values can be listed
                at = found.setdefault((columns.pop(), field.name), [])
                if rule_id not in at:
                    at.append(rule_id)
    out = [Tested(column, name, tuple(ids)) for (column, name), ids in found.items()]
    if with_consent and "subscribed_statuses" in rules.open_lists:
        # The consent file's statuses (facts.unknown_status): they decide marketing consent.
        readers = dict.fromkeys(
            r for fact in ("marketing_consent", "double_opt_in") for r in rules.rules_reading(fact)
        )
        out.append(Tested("status", "subscribed_statuses", tuple(readers), "consent"))
    return out


def named_pairs(rules: Rules) -> set[tuple[str, str]]:
    """Every (column or fact, open list) a rule or derived fact tests with `name IN @list`: the
    facts
    `logic.named(column, list)` the engines work out once per row."""
    trees = [rule.when.tree for rule in rules.rules] + [
        cond.tree for rule in rules.rules for _, cond in rule.sets
    ]
    trees += [*derived_facts(True).values(), *derived_facts(False).values()]
    pairs = set()
    for tree in trees:
        for node in tree.find_all(exp.In):
            field = node.args.get("field")
            if (
                isinstance(field, exp.Parameter)
                and field.name in rules.open_lists
                and isinstance(node.this, exp.Column)
            ):
                pairs.add((node.this.name.lower(), field.name))
    return pairs


def unknown_values(
    sources: dict[str, Source | None], rules: Rules, tested: list[Tested]
) -> dict[tuple[str, str], pl.LazyFrame]:
    """Per tested pair the export has: its values no list names (trimmed, as written), with
    counts."""
    out = {}
    for t in tested:
        src = sources.get(t.source)
        if src is None or not src.has(t.column):
            continue
        value = src.text(t.column)
        named = one_of(value, rules.lists[t.list_name].known)
        out[(t.column, t.list_name)] = (
            src.frame.select(value.alias("value"), named.alias("named"))
            .filter(pl.col("value").is_not_null() & ~pl.col("named"))
            .group_by("value")
            .agg(pl.len().alias("count"))
            .sort(["count", "value"], descending=[True, False])
        )
    return out


def each_found(
    tested: list[Tested],
    counted: dict[tuple[str, str], pl.DataFrame],
    sources: dict[str, Source | None],
):
    """(tested pair, its file, its values no list names) for every pair with such values."""
    for t in tested:
        values = counted.get((t.column, t.list_name))
        src = sources.get(t.source)
        if values is not None and values.height and src is not None:
            yield t, src, values


def vocabulary(
    found: Diagnostics,
    sources: dict[str, Source | None],
    rules: Rules,
    tested: list[Tested],
    counted: dict[tuple[str, str], pl.DataFrame],
) -> list[dict[str, Any]]:
    """The vocabulary section (one entry per column and list), and a warning for each entry."""
    entries = []
    for t, src, values in each_found(tested, counted, sources):
        header = src.resolved[t.column]
        total = int(values["count"].sum())
        rows = quantity(total, "contact" if t.source == "contacts" else "row")
        head = values.head(LISTED_VALUES)
        entries.append(
            {
                "source": t.source,
                "column": t.column,
                "header": header,
                "list": t.list_name,
                "values": [{"value": v, "count": int(n)} for v, n in head.iter_rows()],
                "more_values": values.height - head.height,
                "rows": total,
                "rules": list(t.rules),
            }
        )
        shown = listed((f"'{v}' ({n:,})" for v, n in values.head(5).iter_rows()), values.height)
        found.warn(
            "unknown-value",
            f"{src.display}: column '{header}': {values.height:,} value(s) that the list "
            f"'{t.list_name}' neither names nor rules out, on {rows}: {shown}; "
            f"rule(s) {', '.join(t.rules)} cannot be decided from them, so the contacts they "
            "concern "
            "were not moved on them",
            file=src.display,
            column=header,
            hint=f"sort each value under values.{t.list_name}: `in` (it counts) or `not_in` (it "
            "does not), "
            f"or set `closed: true` there if every other value is a no: "
            + rules.where_to_edit(f"values.{t.list_name}"),
        )
    return entries

"""`lifecycle explain`: why one contact gets its stage.

For the contact with a given record id: the columns its rules read, as the export has them;
the deals that link to it (how, and whether each is won, open or lost); its consent events;
the facts worked out from them; then every rule in order, true, false or unknown, with the
value of each part of its condition, and the decision. The same steps as classify (the
facts, the rule walk, the sticky and unknown policies) on a one-contact table.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl
from sqlglot import exp

from ..base.errors import InputError
from ..base.safe import terminal_safe
from ..io.sources import Source
from ..rules.logic import DEAL_FACTS, inputs_of, known
from ..rules.model import Rules, to_polars_tree
from .columns import ACCOUNT, CUR, FACT, KEY, NEW, ROW, RULE, UNKNOWN_AT
from .decide import decide, typed_contacts, with_facts
from .facts import (
    LOST,
    OPEN,
    WON,
    account_key,
    consent_facts,
    deal_facts,
    deal_links,
    deal_rows,
    lowered,
    read_contact_ids,
    split_ids,
)


def explain(
    contacts: Source, deals: Source | None, consent: Source | None, rules: Rules, record_id: str
) -> dict[str, Any]:
    """`record_id`: the contact's record id, or its email (any case)."""
    wanted = record_id.strip()
    matches = _rows_of(contacts, wanted)
    one = replace(
        contacts,
        frame=contacts.frame.with_row_index(ROW).filter(pl.col(ROW) == matches[0]).drop(ROW),
    )
    wanted = one.frame.select(one.text("record_id")).collect().item() or wanted
    ids = read_contact_ids(one, email=True, deal_ids=deals is not None)
    facts_of, account_rows = _facts_of(contacts, one, deals, consent, rules, ids, wanted)
    available = rules.availability(
        set(one.resolved),
        set(deals.resolved) if deals else None,
        set(consent.resolved) if consent else None,
    )
    frame = with_facts(
        typed_contacts(one, rules, ids), facts_of.get("deals"), facts_of.get("consent"), rules
    )
    row = frame.collect()
    outcome = decide(row.lazy(), rules, available).collect().row(0, named=True)
    judge = _Judge(row, rules, available)
    return {
        "command": "explain",
        "files": {
            "contacts": contacts.display,
            "deals": deals.display if deals else None,
            "consent": consent.display if consent else None,
            "rules": rules.path,
            "rules_found_by_itself": rules.found_by_itself,
        },
        "record_id": wanted,
        "row": matches[0] + 2,
        "also_on_rows": [m + 2 for m in matches[1:]],
        "columns": _columns_read(one, rules, consent is not None),
        "deals": _linked_deals(deals, one, ids, rules, wanted, account_rows) if deals else None,
        "consent": _linked_consent(consent, one, rules, wanted) if consent else None,
        "facts": judge.facts(),
        "rules": [judge.rule(rule) for rule in rules.rules],
        "decision": {
            "from": outcome[CUR],
            "to": outcome[NEW],
            "rule": outcome[RULE],
            "stopped_at": rules.rules[outcome[UNKNOWN_AT]].id
            if outcome[UNKNOWN_AT] is not None
            else None,
        },
    }


def _rows_of(contacts: Source, wanted: str) -> list[int]:
    """The 0-based rows of the contact with this record id, else this email (any case)."""
    matches = (
        contacts.frame.with_row_index(ROW)
        .filter(contacts.text("record_id") == wanted)
        .select(ROW)
        .collect()[ROW]
        .to_list()
    )
    if not matches and "@" in wanted and contacts.has("email"):
        matches = (
            contacts.frame.with_row_index(ROW)
            .filter(lowered(contacts.raw("email")) == wanted.lower())
            .select(ROW)
            .collect()[ROW]
            .to_list()
        )
    if not matches:
        by_email = (
            f" or the email '{wanted}' in column '{contacts.resolved['email']}'"
            if "@" in wanted and contacts.has("email")
            else ""
        )
        raise InputError(
            f"{contacts.display}: no contact has the record id '{wanted}' in column "
            f"'{contacts.resolved['record_id']}'{by_email}"
        )
    return matches


def _facts_of(
    contacts: Source,
    one: Source,
    deals: Source | None,
    consent: Source | None,
    rules: Rules,
    ids,
    wanted: str,
) -> tuple[dict[str, pl.DataFrame], list[int]]:
    """The contact's deal and consent facts, and the deal rows that reach it through its
    account."""
    facts_of = {}
    for src, compute in ((deals, deal_facts), (consent, consent_facts)):
        if src is not None:
            facts_of[src.role] = compute(src, ids, rules)[0].collect()
    account_rows: list[int] = []
    if deals is not None and rules.deals_by_account:
        # Whether a deal reaches the contact through its account depends on every contact (not
        # when its contact role names another one): worked out over the whole file, as classify
        # does.
        everyone = read_contact_ids(
            contacts, email=True, deal_ids=True, account=rules.deals_by_account[1]
        )
        mine = pl.col(KEY).cast(pl.String) == wanted
        facts_of["deals"] = (
            deal_facts(deals, everyone, rules)[0]
            .filter(mine)
            .collect()
            .with_columns(pl.col(KEY).cast(ids.frame.schema[KEY]))
        )
        through = deal_links(deals, everyone, rules).through_account
        account = (
            one.frame.select(account_key(one.text(rules.deals_by_account[1]))).collect().item()
        )
        if through is not None and account is not None:
            account_rows = through.filter(pl.col(ACCOUNT) == account)[ROW].to_list()
    return facts_of, account_rows


def _columns_read(one: Source, rules: Rules, with_consent: bool) -> list[dict[str, Any]]:
    """The contacts' columns the rules read (and email), as the contact's row has them."""
    read = sorted({n for r in rules.rules for n in r.when.names} | {"email"})
    columns: list[dict[str, Any]] = []
    for name in read:
        for base in sorted(inputs_of(name, with_consent)):
            if base in rules.columns["contacts"] and base not in [c["column"] for c in columns]:
                header = one.resolved.get(base)
                raw = (
                    one.frame.select(pl.col(header).cast(pl.String)).collect()[header][0]
                    if header
                    else None
                )
                columns.append(
                    {"column": base, "header": header, "value": raw, "missing": header is None}
                )
    return columns


class _Judge:
    """The contact's one-row table of facts, and what each condition (or part) says on it."""

    def __init__(self, row: pl.DataFrame, rules: Rules, available: dict) -> None:
        self.row, self.rules, self.available = row, rules, available

    def value(self, tree: exp.Expression) -> Any:
        col = lambda name: pl.col(FACT + name)  # noqa: E731
        compiled = to_polars_tree(tree, col, self.rules.compile_values)
        return self.row.select(compiled.alias("v"))["v"][0]

    def decided(self, when: Any) -> bool:
        return when if isinstance(when, bool) else bool(self.value(when))

    def status(self, tree: exp.Expression) -> str:
        if not self.decided(known(tree, self.available)):
            return "unknown"
        return "true" if self.value(tree) is True else "false"

    def missing(self, tree: exp.Expression) -> list[str]:
        return sorted(n for n in _names(tree) if self.available.get(n) is False)

    def unnamed(self, tree: exp.Expression) -> list[str]:
        """`column = 'value' (not in @list)` for each open-list test the contact's value leaves
        unknown."""
        out = []
        for node in tree.find_all(exp.In):
            field_ = node.args.get("field")
            if (
                isinstance(field_, exp.Parameter)
                and field_.name in self.rules.open_lists
                and self.decided(known(node.this, self.available))
                and not self.decided(known(node, self.available))
            ):
                shown = _show(self.value(node.this))
                out.append(f"{_sql(node.this)} = {shown} (not named by @{field_.name})")
        return out

    def rule(self, rule) -> dict[str, Any]:
        """One step of the walk: the rule's result and each part of its condition."""
        tree = rule.when.tree
        parts = _operands(tree)
        return {
            "rule": rule.id,
            "stage": rule.stage,
            "when": rule.when.sql,
            "result": self.status(tree),
            "missing": self.missing(tree),
            "unknown_values": self.unnamed(tree),
            "joined_by": type(_unparen(tree)).__name__.upper() if len(parts) > 1 else None,
            "parts": [
                {
                    "condition": _sql(p),
                    "result": self.status(p),
                    "missing": self.missing(p),
                    "unknown_values": self.unnamed(p),
                }
                for p in parts
            ],
        }

    def facts(self) -> dict[str, Any]:
        """The facts worked out; one that is unknown (its file or column missing, or a value no
        list names) is shown so."""
        names = [*DEAL_FACTS, "marketing_consent", "double_opt_in", "email_domain", "current_stage"]
        return {
            name: self.row[FACT + name][0]
            if self.decided(self.available.get(name, True))
            else "unknown"
            for name in names
            if FACT + name in self.row.columns
        }


def _unparen(tree: exp.Expression) -> exp.Expression:
    return tree.this if isinstance(tree, exp.Paren) else tree


def _sql(tree: exp.Expression) -> str:
    """A part of a condition as SQL, `x IS NOT NULL` as written rather than sqlglot's `NOT x IS
    NULL`."""
    import re

    return re.sub(r"\bNOT (\w+) IS NULL\b", r"\1 IS NOT NULL", tree.sql())


def _operands(tree: exp.Expression) -> list[exp.Expression]:
    """The parts of a top-level AND or OR chain (the condition itself when it is neither)."""
    inner = tree.this if isinstance(tree, exp.Paren) else tree
    if isinstance(inner, (exp.And, exp.Or)):
        kind, parts, stack = type(inner), [], [inner]
        while stack:
            node = stack.pop()
            node = (
                node.this if isinstance(node, exp.Paren) and isinstance(node.this, kind) else node
            )
            if isinstance(node, kind):
                stack += [node.expression, node.this]
            else:
                parts.append(node)
        return parts
    return [tree]


def _names(tree: exp.Expression) -> set[str]:
    return {c.name.lower() for c in tree.find_all(exp.Column)}


def _linked_deals(
    deals: Source, one: Source, ids, rules: Rules, record_id: str, account_rows: list[int]
) -> list[dict[str, Any]]:
    """Every deal that links to the contact: by its contact ids, by the contact's email, from the
    contact's own deal ids, or through the contact's account (`account_rows`, 0-based deal rows);
    with its stage and whether it counts as won, open or lost."""
    email = ids.frame["email"][0] if "email" in ids.frame.columns else None
    own_ids = set()
    if "deal_ids" in ids.frame.columns and ids.frame["deal_ids"][0]:
        own_ids = {d.strip() for d in str(ids.frame["deal_ids"][0]).split(";") if d.strip()}
    outcome = pl.col("outcome")
    table = (
        deal_rows(deals, rules)
        .select(
            ROW,
            deals.text("record_id").alias("id"),
            deals.raw("stage").alias("stage"),
            pl.when(outcome == WON)
            .then(pl.lit("won"))
            .when(outcome == LOST)
            .then(pl.lit("lost"))
            .when(outcome == OPEN)
            .then(pl.lit("open"))
            .otherwise(pl.lit("unknown"))
            .alias("outcome"),
            split_ids(deals.text("contact_ids"))
            .list.eval(pl.element().str.strip_chars())
            .list.contains(record_id)
            .fill_null(False)
            .alias("by_id"),
            (
                split_ids(deals.text("contact_email"))
                .list.eval(lowered(pl.element()))
                .list.contains(email)
                .fill_null(False)
                if email
                else pl.lit(False)
            ).alias("by_email"),
        )
        .filter(
            pl.col("by_id")
            | pl.col("by_email")
            | pl.col("id").is_in(list(own_ids))
            | pl.col(ROW).is_in(account_rows)
        )
        .collect()
    )
    return [
        {
            "row": r[ROW] + 2,
            "id": r["id"],
            "stage": r["stage"],
            "outcome": r["outcome"],
            "linked_by": "deal's contact ids"
            if r["by_id"]
            else "contact's email"
            if r["by_email"]
            else "contact's account"
            if r[ROW] in account_rows
            else "contact's deal ids",
        }
        for r in table.iter_rows(named=True)
    ]


def _linked_consent(
    consent: Source, one: Source, rules: Rules, record_id: str
) -> list[dict[str, Any]]:
    """The contact's consent events (by contact id, else by email), oldest first; marketing ones
    marked."""
    email = (
        one.frame.select(lowered(one.raw("email"))).collect().item() if one.has("email") else None
    )
    by_id = consent.text("contact_id") == record_id
    by_email = (lowered(consent.raw("email")) == email) if email else pl.lit(False)
    table = (
        consent.frame.with_row_index(ROW)
        .filter(by_id.fill_null(False) | by_email.fill_null(False))
        .select(
            ROW,
            consent.raw("subscription_type").alias("type"),
            consent.raw("status").alias("status"),
            consent.raw("double_opt_in").alias("double_opt_in"),
            consent.raw("timestamp").alias("timestamp"),
        )
        .collect()
    )
    marketing = {t.strip().lower() for t in rules.values["marketing_subscription_types"]}
    return [
        {
            **{k: r[k] for k in ("type", "status", "double_opt_in", "timestamp")},
            "row": r[ROW] + 2,
            "marketing": (r["type"] or "").strip().lower() in marketing,
        }
        for r in table.iter_rows(named=True)
    ]


# --------------------------------------------------------------------------- rendering


def render_text(view: dict[str, Any], rules: Rules) -> str:
    """The explanation as plain text; what comes from the files (headers, ids, labels, conditions)
    has its control characters escaped (safe.terminal_safe), so it cannot act on the terminal."""
    label = {s.id: s.label for s in rules.stages}
    d = view["decision"]
    out = [f"Contact {view['record_id']} (row {view['row']} of {view['files']['contacts']})"]
    if view["also_on_rows"]:
        out.append(
            f"  the same record id is also on rows {', '.join(map(str, view['also_on_rows']))}; "
            "this is the first"
        )
    moved = d["from"] != d["to"]
    out += [
        f"Decision: {label.get(d['from'], '(empty)')} -> {label.get(d['to'], '(empty)')} by rule "
        f"'{d['rule']}'" + ("" if moved else " (unchanged)"),
        "",
        "Columns read:",
    ]
    for c in view["columns"]:
        out.append(
            f"  {c['column']:<22} "
            + (
                "(column missing: unknown)"
                if c["missing"]
                else f"{c['header']} = {_show(c['value'])}"
            )
        )
    if view["deals"] is None:
        out += ["", "Deals: no deals file given (deal facts unknown)"]
    else:
        out += ["", f"Deals linked ({len(view['deals'])}):"]
        out += [
            f"  row {x['row']}: deal {x['id']} stage {_show(x['stage'])}: {x['outcome']} (linked "
            f"by {x['linked_by']})"
            for x in view["deals"]
        ] or ["  none"]
    if view["consent"] is None:
        out += ["", "Consent: no consent file given (consent from the contact's own columns)"]
    else:
        out += ["", f"Consent events ({len(view['consent'])}, in file order):"]
        out += [
            f"  row {e['row']}: {_show(e['timestamp'])} {_show(e['type'])}: {_show(e['status'])}"
            f"{', double opt-in ' + _show(e['double_opt_in']) if e['double_opt_in'] else ''}"
            f"{'' if e['marketing'] else ' (not a marketing type)'}"
            for e in view["consent"]
        ] or ["  none"]
    out += ["", "Facts:"] + [f"  {k:<22} {_show(v)}" for k, v in view["facts"].items()]
    out += [
        "",
        "Rules, in order (the first true one decides; unknown: a file or column it reads is "
        "missing, or a value no list names):",
    ]
    out += _walk_lines(view, label)
    out += _policy_lines(d, rules, label)
    return terminal_safe("\n".join(out) + "\n")


def _why_unknown(step: dict[str, Any]) -> str:
    """What left a rule or part unknown: the columns missing, the values no list names."""
    if step["result"] != "unknown":
        return ""
    why = f" (missing: {', '.join(step['missing'])})" if step["missing"] else ""
    if step.get("unknown_values"):
        why += f" (unknown value: {'; '.join(step['unknown_values'])})"
    return why


def _walk_lines(view: dict[str, Any], label: dict[str, str]) -> list[str]:
    """The rules walked in order, each part of a condition under it, up to the deciding one."""
    out = []
    for r in view["rules"]:
        out.append(
            f"  {r['result'].upper():<8} {r['rule']} -> {label.get(r['stage'], r['stage'])}: "
            f"{r['when']}{_why_unknown(r)}"
        )
        if len(r["parts"]) > 1:
            out += [
                f"           {r['joined_by']:<4}{p['result']:<8} {p['condition']}{_why_unknown(p)}"
                for p in r["parts"]
            ]
        if r["result"] == "true":
            out.append(f"  -> rule '{r['rule']}' gives {label.get(r['stage'], r['stage'])}")
            break
        if r["result"] == "unknown" and r["rule"] == view["decision"].get("stopped_at"):
            break
    return out


def _policy_lines(d: dict[str, Any], rules: Rules, label: dict[str, str]) -> list[str]:
    """The sticky or unknown policy's line, when one of them decided."""
    to, frm = label.get(d["to"], d["to"]), label.get(d["from"], d["from"])
    if d["rule"] == rules.sticky_rule_id:
        return [
            f"  -> kept at {to} (rule '{d['rule']}'): the contact is in a sticky stage "
            "and no rule that overrides it is true"
        ]
    if d["rule"] == rules.unknown_rule_id and d["to"] == d["from"]:
        return [
            f"  -> kept at {to} (rule '{d['rule']}'): the rule for this stage could "
            "not be decided, so the stage the contact already has is kept"
        ]
    if d["rule"] == rules.unknown_rule_id:
        return [
            f"  -> stopped at {to} (rule '{d['rule']}'): the rule for this stage "
            "could not be decided, and the facts do not say the contact belongs lower than that, "
            f"so it falls no further from {frm}"
        ]
    return []


def _show(value: Any) -> str:
    if value is None:
        return "(empty)"
    text = str(value)
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)

"""Unknown is not false: when a condition's value is decided although some columns are missing.

A column the export lacks, or a fact from a file that was not given, is *unknown*: it
could hold any value, empty included. A condition over it follows SQL's three-valued
logic, with one difference from SQL's NULL: where the value depends on the unknown
input, the condition is neither true nor false but undecided, and the rule walk keeps
the contact's current stage at that rule instead of reading it as false.

`known(tree, availability)` gives, for a parsed condition, when its value is decided:
`True` (always: it reads nothing unknown), `False` (never), or a SQL boolean expression
that is never NULL (decided on some rows only, e.g. `TRUE OR unknown`). The value itself
is the condition evaluated with every unknown input as NULL: wherever it is decided,
NULL-propagation gives the right answer (`FALSE AND NULL` is false, `TRUE OR NULL` is
true, `coalesce(x, NULL)` is x where x is set). Both engines read the same expressions:
classify compiles them to Polars, `lifecycle sql` writes them as SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from sqlglot import exp

#: When a value is decided: always, never, or where a (never NULL) SQL expression holds.
Known = bool | exp.Expression


def _fold(parts: tuple[Known, ...], unit: bool, join) -> Known:
    """AND (unit True) or OR (unit False) of `parts`, folding the constants away."""
    rest = [p for p in parts if p is not unit]
    if any(p is (not unit) for p in rest):
        return not unit
    if not rest:
        return unit
    return rest[0] if len(rest) == 1 else join(*(p.copy() for p in rest))


def and_(*parts: Known) -> Known:
    return _fold(parts, True, exp.and_)


def or_(*parts: Known) -> Known:
    return _fold(parts, False, exp.or_)


def not_(part: Known) -> Known:
    return (not part) if isinstance(part, bool) else exp.not_(part.copy())


# The operand is parenthesised: `a AND b IS FALSE` would read as `a AND (b IS FALSE)` in SQL text.
def is_true(node: exp.Expression) -> exp.Expression:
    return exp.Is(this=exp.Paren(this=node.copy()), expression=exp.true())


def is_false(node: exp.Expression) -> exp.Expression:
    return exp.Is(this=exp.Paren(this=node.copy()), expression=exp.false())


def is_set(node: exp.Expression) -> exp.Expression:
    return exp.not_(exp.Is(this=exp.Paren(this=node.copy()), expression=exp.Null()))


#: Key prefix in an availability mapping that marks a value list as open (see `known`).
OPEN_LIST = "@"
#: Suffix of the internal list of every value an open list names (see Rules.compile_values).
KNOWN_SUFFIX = "~known"


#: Separates a column and a list in the name of the fact "the column's value is one the list names"
#: (`lead_status@sales_lead_statuses`): engines work it out once per row (see `named`).
NAMED = "@"


def named(column: str, list_name: str) -> str:
    """The name of the fact: the column's value is empty or one the list names (never NULL)."""
    return f"{column}{NAMED}{list_name}"


def names_a_value(node: exp.Expression, list_name: str) -> exp.Expression:
    """Where `node IN @list` is decided: the value is empty (a known no) or one the list names.
    Over a
    plain column, the fact `named(column, list)`, worked out once per row by the engine."""
    if isinstance(node, exp.Column):
        return exp.column(named(node.name.lower(), list_name))
    return _empty_or_listed(node, list_name)


def named_expression(name: str) -> exp.Expression:
    """`named(column, list)` written out: the column is empty or the list names its value."""
    column, list_name = name.split(NAMED)
    return _empty_or_listed(exp.column(column), list_name)


def _empty_or_listed(node: exp.Expression, list_name: str) -> exp.Expression:
    # Parenthesised: it may replace a column inside larger trees written out as SQL text.
    listed = exp.In(
        this=node.copy(), field=exp.Parameter(this=exp.Var(this=list_name + KNOWN_SUFFIX))
    )
    return exp.Paren(
        this=exp.or_(exp.Is(this=exp.Paren(this=node.copy()), expression=exp.Null()), listed)
    )


def known(node: exp.Expression, availability: Mapping[str, bool]) -> Known:
    """When `node`'s value is decided, given which names are available (missing names: False)."""
    k = lambda n: known(n, availability)  # noqa: E731
    if isinstance(node, exp.Paren):
        return k(node.this)
    if isinstance(node, exp.Column):
        return availability.get(node.name.lower(), True)
    if isinstance(node, (exp.Literal, exp.Boolean, exp.Null, exp.Parameter)):
        return True
    field = node.args.get("field") if isinstance(node, exp.In) else None
    if isinstance(field, exp.Parameter) and availability.get(OPEN_LIST + field.name):
        # An open list: a value it does not name is unknown, like a missing column.
        return and_(k(node.this), names_a_value(node.this, field.name))
    if isinstance(node, exp.And):
        a, b = node.this, node.expression
        ka, kb = k(a), k(b)
        # FALSE AND anything is false.
        return or_(and_(ka, kb), and_(ka, is_false(a)), and_(kb, is_false(b)))
    if isinstance(node, exp.Or):
        a, b = node.this, node.expression
        ka, kb = k(a), k(b)
        # TRUE OR anything is true.
        return or_(and_(ka, kb), and_(ka, is_true(a)), and_(kb, is_true(b)))
    if isinstance(node, exp.Coalesce):
        # coalesce(a, b, ...): decided where a is decided and set, or a is decided empty and the
        # rest is decided.
        args = [node.this, *node.expressions]
        acc: Known = k(args[-1])
        for arg in reversed(args[:-1]):
            acc = and_(k(arg), or_(is_set(arg), acc))
        return acc
    if isinstance(node, exp.Case):
        default = node.args.get("default")
        acc = k(default) if default is not None else True
        for branch in reversed(node.args.get("ifs") or []):
            cond, value = branch.this, branch.args["true"]
            taken = is_true(cond)
            acc = and_(k(cond), or_(and_(taken, k(value)), and_(not_(taken), acc)))
        return acc
    # Everything else (comparisons, IN, LIKE, BETWEEN, IS, NOT, arithmetic, functions) is
    # decided exactly where all its inputs are.
    return and_(*(k(child) for child in _children(node)))


def _children(node: exp.Expression) -> list[exp.Expression]:
    out = []
    for value in node.args.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, exp.Expression):
                out.append(item)
    return out


def reads(node: exp.Expression) -> set[str]:
    """The names a condition reads."""
    return {c.name.lower() for c in node.find_all(exp.Column)}


# --------------------------------------------------------------------------- derived facts

#: Facts worked out from the contact's own columns, each defined once as a condition: classify
#: compiles it to Polars and `lifecycle sql` writes it, so the two cannot drift, and a missing
#: column makes the fact unknown exactly as it would a rule. `consent_double_opt_in` and
#: `consent_marketing` are the per-contact facts from a consent file.
DERIVED_FACTS = {
    "without_consent": {
        "marketing_consent": "NOT coalesce(opted_out_marketing, false) AND NOT "
        "coalesce(unsubscribed_all, false)",
        "double_opt_in": "coalesce(confirmation_status IN @double_opt_in_confirmed, false)",
    },
    "with_consent": {
        "marketing_consent": "consent_marketing",
        "double_opt_in": "coalesce(confirmation_status IN @double_opt_in_confirmed, false) OR "
        "consent_double_opt_in",
    },
}
#: Columns the derived facts read: every run reads them (as empty when the rules do not declare
#: them).
DERIVED_INPUTS = {
    "opted_out_marketing": "bool",
    "unsubscribed_all": "bool",
    "confirmation_status": "str",
}


@lru_cache(maxsize=2)
def derived_facts(with_consent: bool) -> dict[str, exp.Expression]:
    """The derived facts' definitions, parsed (once: callers read the trees, never change them)."""
    import sqlglot

    return {
        name: sqlglot.parse_one(sql)
        for name, sql in DERIVED_FACTS[
            "with_consent" if with_consent else "without_consent"
        ].items()
    }


#: Facts from the deals file: unknown when no deals file was given.
DEAL_FACTS = ("deals", "won_deals", "open_deals", "lost_deals")


def availability(
    declared: set[str],
    contacts: set[str],
    deals: set[str] | None,
    consent: set[str] | None,
    consent_declares_doi: bool = True,
    *,
    open_lists: frozenset[str] = frozenset(),
    empty_when_missing: frozenset[str] = frozenset(),
    consent_statuses_known: bool = False,
) -> dict[str, Known]:
    """When each name a condition may read is decided.

    `declared`: the contact columns the rules declare; `contacts`: those the export has;
    `deals` / `consent`: the logical columns those files have, None when not given;
    `open_lists`: value lists in which a value they do not name is unknown;
    `empty_when_missing`: columns read as empty (a fact) when the export lacks them;
    `consent_statuses_known`: the consent file has no status no list names (no consent_unknown).
    """
    av: dict[str, Known] = {
        name: name in contacts or name in empty_when_missing for name in declared
    }
    for name in open_lists:
        av[OPEN_LIST + name] = True
    for name in DERIVED_INPUTS:
        av.setdefault(name, True)  # not declared: read as empty, which is a fact
    for name in DEAL_FACTS:
        av[name] = deals is not None
    # With a consent file, a contact whose marketing events include a status no list names has an
    # unknown consent (consent_unknown, never NULL): decided everywhere else.
    from_consent: Known = consent is not None
    if consent is not None and not consent_statuses_known:
        from_consent = exp.not_(exp.column("consent_unknown"))
    av["consent_marketing"] = from_consent
    # A rules file without a double opt-in column for consent reads none there: a fact, not unknown.
    has_doi = consent is not None and ("double_opt_in" in consent or not consent_declares_doi)
    av["consent_double_opt_in"] = from_consent if has_doi else False
    av["email_domain"] = "email" in contacts or "email" not in declared
    av["current_stage"] = True
    for name, tree in derived_facts(consent is not None).items():
        av[name] = known(tree, av)
    return av


def inputs_of(name: str, with_consent: bool) -> set[str]:
    """The base names a fact or column stands for (a derived fact: the names its definition
    reads)."""
    tree = derived_facts(with_consent).get(name)
    if tree is None:
        return {"email"} if name == "email_domain" else {name}
    return set().union(*(inputs_of(n, with_consent) for n in reads(tree)))

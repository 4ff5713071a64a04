"""Every fact the classification reads, declared once and rendered both to Polars and to SQL.

classify computes the facts with Polars (core/facts.py), `lifecycle sql` writes them as one
query (core/sql.py); both build them from the declarations here, so a change to a fact (a date
format, a boolean rule, when a deal is won, which consent event is the latest) is one change
in this file. A fact is either a condition over named inputs (`Expression`, the way
logic.DERIVED_FACTS works), compiled by rules.model's condition compiler to Polars and bound
into SQL text here, or a small object whose two renderings sit side by side because the
engines need different shapes for speed (a row's place in order, date-time formats).

The SQL side is written in SQL_DIALECT (DuckDB's) text: sql.py parses its template once and
sqlglot generates the target dialect from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import polars as pl
import sqlglot
from sqlglot import exp

from .model import Rules, to_polars_tree

#: The dialect the SQL renderings are written in (sql.TEMPLATE_DIALECT).
SQL_DIALECT = "duckdb"

#: Value lists by name, as `IN @name` reads them.
Values = Mapping[str, tuple[str, ...]]
#: An input of a SQL rendering: SQL text (in SQL_DIALECT) or a tree.
SqlInput = str | exp.Expression


def sql_text(node: exp.Expression) -> str:
    return node.sql(SQL_DIALECT)


def sql_string(value: str) -> str:
    """A string literal in SQL_DIALECT."""
    return sql_text(exp.Literal.string(value))


#: A table or view name: up to three dot-separated parts (catalog.schema.table), each letters,
#: digits, _, $ and - (BigQuery project ids), not starting with a digit, $ or -. It is quoted in
#: the query, so a reserved word works; anything else (quotes, spaces, a function call) is refused.
#: `lifecycle sql`'s --contacts-table and classify's table:NAME inputs are checked against it.
TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$-]*(?:\.[A-Za-z_][A-Za-z0-9_$-]*){0,2}")
TABLE_NAME_EXPECTED = (
    "a table or view name such as contacts or crm.contacts: up to three "
    "parts joined by dots, each letters, digits, _, $ or - (starting with a "
    "letter or _)"
)


def sql_identifier(name: str) -> str:
    """A quoted identifier (a column or table name) in SQL_DIALECT."""
    return exp.to_identifier(name, quoted=True).sql(SQL_DIALECT)


def _tree(sql: SqlInput) -> exp.Expression:
    # Parenthesised: the text may be any expression, and it lands inside larger ones.
    return sql.copy() if isinstance(sql, exp.Expression) else exp.Paren(this=_parse(sql))


def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read=SQL_DIALECT)


# --------------------------------------------------------------------------- text


def lowered_polars(expr: pl.Expr) -> pl.Expr:
    """Text as compared: trimmed and lower-cased."""
    return expr.str.strip_chars().str.to_lowercase()


def lowered_sql(sql: str) -> str:
    return f"LOWER(TRIM({sql}))"


def one_of_sql(sql: str, values: tuple[str, ...]) -> str:
    """`IN @list` in SQL: membership ignoring case and surrounding spaces; NULL stays NULL.
    (Polars: rules.model.one_of, which conditions compile to.)"""
    wanted = sorted({v.strip().lower() for v in values})
    if not wanted:
        return f"(CASE WHEN {sql} IS NULL THEN NULL ELSE FALSE END)"
    return f"({lowered_sql(sql)} IN ({', '.join(sql_string(v) for v in wanted)}))"


# --------------------------------------------------------------------------- conditions


def bind_sql(
    tree: exp.Expression, inputs: Callable[[str], exp.Expression], values: Values
) -> exp.Expression:
    """A condition tree as SQL: names bound by `inputs`, `IN @list` expanded, `x IS TRUE` written
    as `COALESCE(x = TRUE, FALSE)` (not every engine has IS TRUE)."""

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return inputs(node.name.lower())
        if isinstance(node, exp.In) and isinstance(node.args.get("field"), exp.Parameter):
            member = one_of_sql(
                sql_text(node.this.transform(bind)), values[node.args["field"].name]
            )
            return _parse(member)
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Boolean):
            return exp.func(
                "COALESCE",
                exp.EQ(this=node.this.transform(bind), expression=node.expression.copy()),
                exp.false(),
            )
        return node

    return tree.copy().transform(bind)


@dataclass(frozen=True)
class Expression:
    """A fact declared as one condition (SQL syntax) over named inputs and `@lists`."""

    definition: str

    @cached_property
    def tree(self) -> exp.Expression:
        # Read as rules' conditions are (sqlglot's own dialect: `@list` is a parameter).
        return sqlglot.parse_one(self.definition)

    def polars(self, inputs: Mapping[str, pl.Expr], values: Values | None = None) -> pl.Expr:
        """The fact as a Polars expression over `inputs` (name -> expression)."""
        return to_polars_tree(self.tree, inputs.__getitem__, values or {})

    def sql(self, inputs: Mapping[str, SqlInput], values: Values | None = None) -> str:
        """The fact as SQL text over `inputs` (name -> SQL text or tree), parenthesised."""
        bound = bind_sql(self.tree, lambda name: _tree(inputs[name]), values or {})
        return f"({sql_text(bound)})"


# --------------------------------------------------------------------------- booleans

#: A boolean column: its spellings are the rules' true_values and false_values (any case, trimmed);
#: empty and any other value are unknown (NULL).
BOOLEAN = Expression(
    "CASE WHEN value IN @true_values THEN TRUE WHEN value IN @false_values THEN FALSE END"
)


def bool_values(values: Values) -> Values:
    return {"true_values": values["true_values"], "false_values": values["false_values"]}


#: A flag in a column that holds true values and no false one (Salesforce reports write `1` and
#: leave the cell empty): there an empty cell reads as false. `only_true`: the whole column holds
#: a true value and no false one (see ONLY_TRUE).
FLAG = Expression("coalesce(value, CASE WHEN empty AND only_true THEN FALSE END)")


def only_true_polars(flag: pl.Expr) -> pl.Expr:
    """ONLY_TRUE over a column of parsed booleans: some true, none false."""
    return flag.eq(True).any() & ~flag.eq(False).any()


def only_true_sql(flag: str) -> str:
    """ONLY_TRUE as an aggregate over the table's rows (parsed booleans)."""
    return (
        f"MAX(CASE WHEN {flag} THEN 1 ELSE 0 END) = 1 AND "
        f"MAX(CASE WHEN NOT {flag} THEN 1 ELSE 0 END) = 0"
    )


# --------------------------------------------------------------------------- ids

#: Separators of an id list (HubSpot joins associated ids with `;`; commas are tolerated).
ID_SEPARATORS = (";", ",")


def split_ids_polars(expr: pl.Expr) -> pl.Expr:
    """An id list as a list of ids (untrimmed, as written between the separators)."""
    first, *others = ID_SEPARATORS
    for sep in others:
        expr = expr.str.replace_all(sep, first, literal=True)
    return expr.str.split(first)


def split_ids_sql(sql: str) -> str:
    first, *others = ID_SEPARATORS
    for sep in others:
        sql = f"REPLACE({sql}, {sql_string(sep)}, {sql_string(first)})"
    return f"SPLIT({sql}, {sql_string(first)})"


#: Salesforce's null id, written by a Data Export for an empty lookup (18 and 15 characters): no
#: account or contact at all, never one shared by every row that has it.
SALESFORCE_NULL_IDS = ("0" * 15, "0" * 15 + "AAA")
#: A Salesforce id as Data Loader writes it: 15 case-sensitive characters and a 3-character
#: checksum. Reports export the 15-character form: an account is compared by its first 15.
SALESFORCE_ID_18 = r"^[a-zA-Z0-9]{18}$"
SALESFORCE_ID_KEPT = 15


def not_null_id_polars(text: pl.Expr) -> pl.Expr:
    """The id, or null where it is Salesforce's null id."""
    return pl.when(~text.is_in(SALESFORCE_NULL_IDS)).then(text)


def not_null_id_sql(sql: str) -> str:
    nulls = ", ".join(map(sql_string, SALESFORCE_NULL_IDS))
    return f"(CASE WHEN NOT {sql} IN ({nulls}) THEN {sql} END)"


def account_key_polars(text: pl.Expr) -> pl.Expr:
    """An account id as compared: an 18-character Salesforce id by its first 15 characters, which
    are the id itself, so the two forms of one account match. The null id is no account."""
    text = not_null_id_polars(text)
    return (
        pl.when(text.str.contains(SALESFORCE_ID_18))
        .then(text.str.slice(0, SALESFORCE_ID_KEPT))
        .otherwise(text)
    )


def account_key_sql(sql: str) -> str:
    sql = not_null_id_sql(sql)
    return (
        f"(CASE WHEN REGEXP_LIKE({sql}, {sql_string(SALESFORCE_ID_18)}) "
        f"THEN SUBSTRING({sql}, 1, {SALESFORCE_ID_KEPT}) ELSE {sql} END)"
    )


# --------------------------------------------------------------------------- contacts' own facts


def email_domain_polars(email: pl.Expr) -> pl.Expr:
    """The part after the last @, trimmed and lower-cased (null without an @). Cut out first:
    cheaper than lowering the whole email; splitting is cheaper than a regex."""
    return pl.when(email.str.contains("@", literal=True)).then(
        lowered_polars(email.str.split("@").list.last())
    )


def email_domain_sql(email: str) -> str:
    after = lowered_sql(f"REGEXP_EXTRACT({email}, '@([^@]*)$', 1)")
    return f"(CASE WHEN {email} LIKE '%@%' THEN {after} END)"


def stage_id_polars(raw: pl.Expr, lookup: Mapping[str, str]) -> pl.Expr:
    """A stage as the file spells it (rules.stage_lookup: any accepted spelling, any case) to its
    id; null where the rules do not know it."""
    return lowered_polars(raw).replace_strict(
        list(lookup), list(lookup.values()), default=None, return_dtype=pl.String
    )


def stage_id_sql(raw: str, lookup: Mapping[str, str]) -> str:
    whens = " ".join(f"WHEN {sql_string(k)} THEN {sql_string(s)}" for k, s in lookup.items())
    return f"(CASE {lowered_sql(raw)} {whens} END)"


# --------------------------------------------------------------------------- deals

WON, LOST, OPEN = 1, 2, 0  #: a deal's outcome (null: unknown)

#: DEAL_OUTCOME's stage inputs: the value list that sorts a stage into each outcome (a stage in
#: two lists is sorted by the later one).
STAGE_LISTS = {
    "open_stage": (OPEN, "open_deal_stages"),
    "lost_stage": (LOST, "lost_deal_stages"),
    "won_stage": (WON, "won_deal_stages"),
}

#: A deal's outcome from its flags (Is Closed Won / IsWon, Is closed lost, Is Deal Closed? /
#: IsClosed: parsed booleans, see FLAG) and whether a value list names its stage. Won when the
#: won flag is true or the stage is a won stage; lost when it is closed (the closed or lost flag
#: true, or a lost stage) and known not to be won (the won flag false, the lost flag true, or a
#: lost stage); open when the closed flag is false, the won and lost flags are both false, or the
#: stage is an open stage. Anything else is unknown (NULL): classify stops and lists it (a custom
#: pipeline's stage read as "open" would make its contacts Opportunities; read as "lost", it
#: would demote a won customer's colleagues).
DEAL_OUTCOME = Expression(
    f"""CASE
    WHEN won_flag IS TRUE OR won_stage THEN {WON}
    WHEN closed IS TRUE OR lost_flag IS TRUE OR lost_stage THEN
      CASE WHEN won_flag IS FALSE OR lost_flag IS TRUE OR lost_stage THEN {LOST} END
    WHEN closed IS FALSE OR (won_flag IS FALSE AND lost_flag IS FALSE) OR open_stage THEN {OPEN}
    END"""
)

#: The deal facts of a contact: which of its deals each counts (a condition over the deal's
#: won, lost and unknown; None: every deal).
DEAL_COUNTS = {
    "deals": None,
    "won_deals": Expression("won"),
    "open_deals": Expression("NOT won AND NOT lost AND NOT unknown"),
    "lost_deals": Expression("lost"),
}


def deal_counts_polars(won: pl.Expr, lost: pl.Expr) -> list[pl.Expr]:
    """DEAL_COUNTS of a group of deal rows (classify has stopped on any unknown deal)."""
    inputs = {"won": won, "lost": lost, "unknown": pl.lit(False)}
    return [
        (pl.len() if counted is None else counted.polars(inputs).sum()).cast(pl.Int64).alias(name)
        for name, counted in DEAL_COUNTS.items()
    ]


def deal_counts_sql(won: str, lost: str, unknown: str) -> list[str]:
    inputs = {"won": won, "lost": lost, "unknown": unknown}
    return [
        (
            "COUNT(*)"
            if counted is None
            else f"SUM(CASE WHEN {counted.sql(inputs)} THEN 1 ELSE 0 END)"
        )
        + f" AS {name}"
        for name, counted in DEAL_COUNTS.items()
    ]


# --------------------------------------------------------------------------- consent

#: A consent event's facts, from its own columns (trimmed text, empty as NULL).
#: `subscribed`: its status is a subscribed status; `doi`: its double opt-in column confirms
#: (a confirmation status or a true value); `unknown`: a status the open subscribed_statuses list
#: neither names nor rules out (with a closed list, never).
CONSENT_EVENT = {
    "subscribed": Expression("coalesce(status IN @subscribed_statuses, false)"),
    "doi": Expression("coalesce(double_opt_in IN @doi_confirmed, false)"),
    "unknown": Expression(
        "status IS NOT NULL AND NOT coalesce(status IN @subscribed_statuses_known, false)"
    ),
}


def consent_event(rules: Rules) -> tuple[dict[str, Expression], Values]:
    """CONSENT_EVENT for these rules (with a closed status list no status is unknown), and the
    value lists it reads."""
    statuses = rules.lists["subscribed_statuses"]
    facts = dict(CONSENT_EVENT)
    if statuses.closed:
        facts["unknown"] = Expression("FALSE")
    v = rules.values
    values = {
        "subscribed_statuses": v["subscribed_statuses"],
        "doi_confirmed": (*v["double_opt_in_confirmed"], *v["true_values"]),
        # An empty status is a known no (it matters where the status is read untrimmed).
        "subscribed_statuses_known": (*statuses.known, ""),
    }
    return facts, values


#: An event's place in order, per contact and subscription type: by timestamp (none first), and
#: on equal timestamps by its row in the file, the later row last. `at` is that place: a number
#: that only compares (Polars: the timestamp and row packed in one integer; SQL: a row number).
#: Per contact and type, three places decide (an aggregate over events with a condition):
CONSENT_PLACES = {
    "last": None,  #: the latest event
    "lapse": Expression("NOT subscribed"),  #: the last lapse (any status not subscribed)
    "confirmed": Expression("doi"),  #: the last confirmation
}
#: Per contact and type: the latest event decides consent; a double opt-in belongs to the current
#: consent, so a confirmation counts only when no lapse came after it (one on the lapse itself
#: ends with it). A contact's facts: any marketing type subscribed / confirmed / unknown.
CONSENT_BY_TYPE = {
    "subscribed": Expression("lapse IS NULL OR lapse < last"),
    "doi": Expression("coalesce(confirmed > coalesce(lapse, -1), false)"),
}


def event_place_polars(ts: pl.Expr, row: pl.Expr) -> pl.Expr:
    """An event's place (CONSENT_PLACES' order) as one number, so that the places per contact and
    type are plain maxima, without sorting: bits 32 and up the timestamp (0 when none), bits
    0-31 the row."""
    shifted = ts.cast(pl.Int64).cast(pl.Int128) + pl.lit(2**63 + 1, pl.Int128)
    return shifted.fill_null(0) * pl.lit(2**32, pl.Int128) + row.cast(pl.Int128)


def event_place_sql(partition: str, ts: str, row: str) -> str:
    return f"ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {ts} NULLS FIRST, {row})"


def consent_places_polars(at: pl.Expr, event: Mapping[str, pl.Expr]) -> list[pl.Expr]:
    return [
        (at if cond is None else pl.when(cond.polars(event)).then(at)).max().alias(name)
        for name, cond in CONSENT_PLACES.items()
    ]


def consent_places_sql(at: str, event: Mapping[str, str]) -> list[str]:
    return [
        (f"MAX({at})" if cond is None else f"MAX(CASE WHEN {cond.sql(event)} THEN {at} END)")
        + f" AS {name}"
        for name, cond in CONSENT_PLACES.items()
    ]


# --------------------------------------------------------------------------- date-times

#: HubSpot's own export format, UTC with a literal Z. Read with this format alone it parses
#: several times faster than with the general %#z, so it is tried first.
UTC_Z = "%Y-%m-%dT%H:%M:%SZ"
#: Date-time formats, in the order they are tried (chrono's, as Polars reads them): ISO 8601
#: with an offset (read as UTC), without one (naive, taken as UTC), US and German.
DATETIME_FORMATS = (
    UTC_Z,
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    # HubSpot's German interface: `12.03.2024 09:14`, `12.03.2024 09:14:05`, `12.03.2024`.
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y",
    "%Y-%m-%d",
)

#: A date-time's parts, as the SQL reads them (named groups of the formats' regexes).
DATETIME_PARTS = ("y", "mo", "d", "h", "mi", "s", "f", "z", "p")
#: Each chrono directive as a regex (digits only in the parts, so casts are safe). Chrono reads
#: one or two digits where it writes two, and a space in a format as any run of spaces. The
#: year needs four digits here: chrono would read `3/15/24` as the year 24, SQL gives NULL.
_DIRECTIVES = {
    "%Y": "(?P<y>[0-9]{4})",
    "%m": "(?P<mo>[0-9]{1,2})",
    "%d": "(?P<d>[0-9]{1,2})",
    "%H": "(?P<h>[0-9]{1,2})",
    "%I": "(?P<h>[0-9]{1,2})",
    "%M": "(?P<mi>[0-9]{1,2})",
    "%S": "(?P<s>[0-9]{1,2})",
    "%.f": "(?:[.](?P<f>[0-9]+))?",
    "%#z": "(?P<z>Z|[+-][0-9]{2}(?::?[0-9]{2})?)",
    "%p": "(?P<p>[AaPp][Mm])",
    " ": " *",
}
_DIRECTIVE = re.compile("|".join(re.escape(d) for d in sorted(_DIRECTIVES, key=len, reverse=True)))


def has_offset(fmt: str) -> bool:
    """Whether the format reads an offset (the value is then converted to UTC)."""
    return "%#z" in fmt


def datetime_polars(expr: pl.Expr, fmt: str) -> pl.Expr:
    """The text read with one format, as a naive UTC date-time (null where it does not read)."""
    if has_offset(fmt):
        return (
            expr.str.to_datetime(fmt, strict=False, time_zone="UTC")
            .dt.replace_time_zone(None)
            .cast(pl.Datetime("us"))
        )
    return expr.str.to_datetime(fmt, strict=False, time_unit="us")


def _literal(text: str) -> str:
    # No backslashes: Spark's SQL strings read them as escapes.
    return "".join("[.]" if ch == "." else ch for ch in text)


def datetime_regex(fmt: str) -> str:
    """The format as a regex whose named groups are DATETIME_PARTS."""
    if not re.fullmatch(r"(?:%[.#]?[A-Za-z]|[-0-9A-Za-z/:. ])*", fmt):
        raise ValueError(f"date-time format {fmt!r}: only digits, letters, -/:. and spaces")
    out, at = [], 0
    for m in _DIRECTIVE.finditer(fmt):
        out.append(_literal(fmt[at : m.start()]))
        out.append(_DIRECTIVES[m.group()])
        at = m.end()
    out.append(_literal(fmt[at:]))
    return "^" + "".join(out) + "$"


#: The regexes of DATETIME_FORMATS, in the same order.
DATETIME_REGEXES = tuple(datetime_regex(f) for f in DATETIME_FORMATS)

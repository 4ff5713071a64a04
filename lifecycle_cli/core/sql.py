"""The whole classification as one SQL query, transpiled by sqlglot to the warehouse's dialect.

tests/test_sql.py runs the query on DuckDB, Spark and PostgreSQL (15) and requires classify's
stage and rule for every contact; BigQuery and Snowflake are only checked to transpile.
"""

from __future__ import annotations


from sqlglot import exp, parse_one
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy

from ..rules import definitions as d
from ..rules.definitions import (
    SQL_DIALECT,
    TABLE_NAME,
    TABLE_NAME_EXPECTED,
    lowered_sql,
    one_of_sql,
    sql_string,
)
from ..rules.logic import DEAL_FACTS, DERIVED_INPUTS, NAMED, derived_facts, known, named_expression
from ..rules.model import Condition, Rules, stages_at_or_above

#: Dialects that can drop and replace columns of `SELECT *`: without the contacts'
#: headers the query can only be written for these.
STAR_REPLACE_DIALECTS = ("duckdb", "bigquery", "snowflake", "databricks")

#: Columns the query does not assume a table has when it is written without the table's headers.
NOT_ASSUMED = {"deals": ("is_deleted", "pipeline", "contact_email")}
#: The dialect the query is written in before sqlglot transpiles it.
TEMPLATE_DIALECT = SQL_DIALECT
_PARTS = d.DATETIME_PARTS
#: The date-time formats' regexes (definitions.DATETIME_FORMATS), tried in their order.
_FORMATS = d.DATETIME_REGEXES


def build_query(
    rules: Rules,
    *,
    dialect: str,
    contacts: str = "contacts",
    deals: str | None = "deals",
    consent: str | None = "consent",
    headers: dict[str, list[str]] | None = None,
    stage_values: str = "label",
) -> str:
    """One SQL query that classifies every contact as `lifecycle classify` does.

    `contacts`, `deals` and `consent` name tables (or views) whose columns are the raw
    export headers as text; `deals=None` / `consent=None` means that source is not given.
    `headers[role]` lists a table's actual columns: logical columns are then resolved as
    sources.resolve_columns does, and the output columns are exactly classify's. Without
    them the first header of each column spec is assumed, and the output is `SELECT *`
    with the stage replaced (only dialects in STAR_REPLACE_DIALECTS can write that).
    The stage column is written as the new stage's label (`stage_values="value"`: the
    HubSpot internal value).
    """
    if stage_values not in ("label", "value"):
        raise ValueError(f"stage_values must be 'label' or 'value', not {stage_values!r}")
    for table in (contacts, deals, consent):
        if table is not None and not TABLE_NAME.fullmatch(table):
            raise ValueError(f"'{table}' is not {TABLE_NAME_EXPECTED}")
    query = _Builder(rules, dialect, headers or {}, stage_values).query(contacts, deals, consent)
    return transpile(query, dialect, pretty=True)


def transpile(template: str, dialect: str, *, pretty: bool = False) -> str:
    """SQL written in TEMPLATE_DIALECT, generated for `dialect`.

    For PostgreSQL the DuckDB functions sqlglot would leave as they are (REGEXP_EXTRACT, SPLIT)
    are rewritten to PostgreSQL's own first, and every CTE is MATERIALIZED: PostgreSQL (12+)
    otherwise inlines a CTE used once, copying its expressions into every use, while the
    template's CTEs are stages meant to be computed once (e.g. a date-time's parts, read many
    times by the date arithmetic).
    """
    tree = parse_one(template, read=TEMPLATE_DIALECT)
    if dialect == "postgres":
        tree = tree.transform(_for_postgres)
    return tree.sql(dialect=dialect, pretty=pretty)


def _for_postgres(node: exp.Expression) -> exp.Expression:
    """One node of the DuckDB template as PostgreSQL computes it (same results, NULLs included)."""
    if isinstance(node, exp.CTE):
        node.set("materialized", True)
        return node
    if isinstance(node, exp.RegexpExtract):
        # DuckDB: the group's text, '' when the pattern does not match (or the group took no part);
        # PostgreSQL's REGEXP_MATCH gives the groups as an array, NULL when it does not match.
        group = node.args.get("group") or exp.Literal.number(0)
        if not (group.is_int and int(group.name) >= 1):
            raise ValueError(f"postgres: REGEXP_EXTRACT needs a capturing group, not {group.sql()}")
        groups = exp.Paren(this=exp.func("REGEXP_MATCH", node.this, node.expression))
        return exp.func(
            "COALESCE",
            exp.Bracket(this=groups, expressions=[group], offset=1),
            exp.Literal.string(""),
        )
    if isinstance(node, exp.Split):
        # Same on every non-empty text (the ids are NULLIF(..., '')): '' gives [''] in DuckDB, {}
        # here.
        return exp.StringToArray(this=node.this, expression=node.expression)
    return node


# --------------------------------------------------------------------------- SQL text helpers
# The query is written as text in DuckDB's SQL (its functions have exact meanings in sqlglot,
# e.g. REGEXP_EXTRACT's group), every name and value rendered by sqlglot itself, then parsed
# once and generated for the target dialect.


_ident = d.sql_identifier


def _col(table: str, name: str) -> str:
    return f"{table}.{_ident(name)}"


_str = sql_string
_lowered = lowered_sql
_in_values = one_of_sql
_not_null_id = d.not_null_id_sql
_account_key = d.account_key_sql
_split_ids = d.split_ids_sql


def _regex_part(pattern: str, part: str | None) -> str:
    """The pattern with only `part` as a capturing group (BigQuery allows one group)."""
    for name in _PARTS:
        pattern = pattern.replace(f"(?P<{name}>", "(" if name == part else "(?:")
    return pattern


def _datetime_parts(text: str) -> dict[str, str]:
    """SQL for each part of a date-time in any accepted format (NULL when absent or unparsed)."""
    parts = {}
    for part in _PARTS:
        choices = []
        for pattern in _FORMATS:
            if f"(?P<{part}>" in pattern:
                extract = (
                    f"NULLIF(REGEXP_EXTRACT({text}, {_str(_regex_part(pattern, part))}, 1), '')"
                )
                choices.append(
                    f"WHEN REGEXP_LIKE({text}, {_str(_regex_part(pattern, None))}) THEN {extract}"
                )
        parts[part] = f"(CASE {' '.join(choices)} END)" if choices else "CAST(NULL AS VARCHAR)"
    return parts


def _all_groups(pattern: str) -> tuple[str, dict[str, int]]:
    """The pattern with every part a capturing group, and each part's group number."""
    present = sorted(
        (pattern.index(f"(?P<{name}>"), name) for name in _PARTS if f"(?P<{name}>" in pattern
    )
    numbers = {name: number for number, (_, name) in enumerate(present, start=1)}
    for name in numbers:
        pattern = pattern.replace(f"(?P<{name}>", "(")
    return pattern, numbers


def _first_format_struct(text: str) -> str:
    """DuckDB: every part of the first format `text` matches, as a struct of texts ('' for a
    part absent from the value or the format); NULL when no format matches."""
    whens = []
    for pattern in _FORMATS:
        regex, numbers = _all_groups(pattern)
        names = sorted(numbers, key=numbers.__getitem__)
        absent = [name for name in _PARTS if name not in numbers]
        # The parts a format lacks as empty groups at its end, so that every format gives the
        # same struct (the name list is matched to the groups in order).
        regex = regex.removesuffix("$") + "()" * len(absent) + "$"
        fields = ", ".join(_str(name) for name in names + absent)
        whens.append(
            f"WHEN REGEXP_FULL_MATCH({text}, {_str(_regex_part(pattern, None))}) "
            f"THEN REGEXP_EXTRACT({text}, {_str(regex)}, [{fields}])"
        )
    return f"CASE {' '.join(whens)} END"


def _timestamp_ctes(
    source: str, text: str, prefix: str, dialect: str, where: str = ""
) -> list[tuple[str, str]]:
    """CTEs named `prefix`_..., the last `prefix`_ts: the rows of `source` (where `where` holds)
    with `ts`, the date-time in their text column `text` as seconds since 1970 (UTC), NULL when
    absent or invalid.

    The parts come first, so the date arithmetic reads columns instead of repeating regexes.
    Each engine matches as few patterns per value as its regexes allow (a regex call per part
    and format was most of the time these CTEs took):
    - PostgreSQL matches each format's pattern once, with all its parts as groups (REGEXP_MATCH's
      array: NULL when it does not match);
    - DuckDB finds the first format that matches, then takes all its parts in one call
      (REGEXP_EXTRACT with a list of group names gives a struct): about a third of the time of
      one call per part;
    - the others (BigQuery allows a single capturing group) find the format first, then extract
      one part per call from that format only.
    """
    where_sql = f" WHERE {where}" if where else ""
    ctes = []
    if dialect == "postgres":
        # PostgreSQL's own function and 1-based array subscript, written into the DuckDB
        # template: sqlglot passes an unknown function through as it is, and both index from 1.
        matched = [_all_groups(pattern) for pattern in _FORMATS]
        ctes.append(
            (
                f"{prefix}_match",
                f"""
            SELECT t.*, {
                    ", ".join(
                        f"REGEXP_MATCH(t.{text}, {_str(regex)}) AS __m_{i}"
                        for i, (regex, _) in enumerate(matched)
                    )
                }
            FROM {source} AS t{where_sql}""",
            )
        )
        parts = {}
        for part in _PARTS:
            choices = [
                f"WHEN t.__m_{i} IS NOT NULL THEN NULLIF(t.__m_{i}[{numbers[part]}], '')"
                for i, (_, numbers) in enumerate(matched)
                if part in numbers
            ]
            parts[part] = f"(CASE {' '.join(choices)} END)" if choices else "CAST(NULL AS VARCHAR)"
        source, where_sql = f"{prefix}_match", ""
    elif dialect == "duckdb":
        ctes.append(
            (
                f"{prefix}_match",
                f"SELECT t.*, {_first_format_struct(f't.{text}')} AS __m "
                f"FROM {source} AS t{where_sql}",
            )
        )
        parts = {part: f"NULLIF(t.__m.{part}, '')" for part in _PARTS}
        source, where_sql = f"{prefix}_match", ""
    else:
        first = " ".join(
            f"WHEN REGEXP_LIKE(t.{text}, {_str(_regex_part(pattern, None))}) THEN {i}"
            for i, pattern in enumerate(_FORMATS)
        )
        ctes.append(
            (
                f"{prefix}_format",
                f"SELECT t.*, CASE {first} END AS __fmt FROM {source} AS t{where_sql}",
            )
        )
        parts = {}
        for part in _PARTS:
            choices = [
                f"WHEN {i} THEN NULLIF(REGEXP_EXTRACT(t.{text}, "
                f"{_str(_regex_part(pattern, part))}, 1), '')"
                for i, pattern in enumerate(_FORMATS)
                if f"(?P<{part}>" in pattern
            ]
            parts[part] = (
                f"(CASE t.__fmt {' '.join(choices)} END)" if choices else "CAST(NULL AS VARCHAR)"
            )
        source, where_sql = f"{prefix}_format", ""
    ctes.append(
        (
            f"{prefix}_parts",
            f"""
        SELECT t.*, {", ".join(f"{sql} AS __p_{part}" for part, sql in parts.items())}
        FROM {source} AS t{where_sql}""",
        )
    )
    ctes.append(
        (
            f"{prefix}_ts",
            f"SELECT t.*, {_epoch({part: f't.__p_{part}' for part in parts})} AS ts "
            f"FROM {prefix}_parts AS t",
        )
    )
    return ctes


def _epoch(p: dict[str, str]) -> str:
    """Seconds since 1970 (UTC) from the text parts; NULL when the date-time is invalid."""
    y, mo, day = (f"CAST({p[k]} AS BIGINT)" for k in ("y", "mo", "d"))
    h, mi, s = (f"COALESCE(CAST({p[k]} AS BIGINT), 0)" for k in ("h", "mi", "s"))
    frac = f"COALESCE(CAST(CONCAT('0.', {p['f']}) AS DOUBLE), 0)"
    pm = f"UPPER({p['p']})"
    hour = (
        f"(CASE WHEN {p['p']} IS NULL THEN {h} WHEN {pm} = 'AM' THEN {h} % 12 "
        f"ELSE {h} % 12 + 12 END)"
    )
    zone = p["z"]
    offset = (
        f"(CASE WHEN {zone} IS NULL OR {zone} = 'Z' THEN 0 ELSE "
        f"(CASE WHEN SUBSTRING({zone}, 1, 1) = '-' THEN -1 ELSE 1 END) * "
        f"(CAST(SUBSTRING({zone}, 2, 2) AS BIGINT) * 3600 + "
        # The offset's minutes may be left out (`+05`).
        f"COALESCE(CAST(NULLIF(SUBSTRING(REPLACE({zone}, ':', ''), 4, 2), '') AS BIGINT), 0) "
        "* 60) END)"
    )
    # days from the civil date (Howard Hinnant's days_from_civil), in plain arithmetic
    yy = f"({y} - CASE WHEN {mo} <= 2 THEN 1 ELSE 0 END)"
    era = f"FLOOR({yy} / 400)"
    yoe = f"({yy} - {era} * 400)"
    doy = f"(FLOOR((153 * (({mo} + 9) % 12) + 2) / 5) + {day} - 1)"
    doe = f"({yoe} * 365 + FLOOR({yoe} / 4) - FLOOR({yoe} / 100) + {doy})"
    days = f"({era} * 146097 + {doe} - 719468)"
    hour_ok = f"(CASE WHEN {p['p']} IS NULL THEN {h} <= 23 ELSE {h} BETWEEN 1 AND 12 END)"
    # A day the month has, as Polars checks it (29 February in leap years only).
    leap = f"(({y} % 4 = 0 AND {y} % 100 <> 0) OR {y} % 400 = 0)"
    month_days = (
        f"(CASE WHEN {mo} = 2 THEN (CASE WHEN {leap} THEN 29 ELSE 28 END) "
        f"WHEN {mo} IN (4, 6, 9, 11) THEN 30 ELSE 31 END)"
    )
    valid = (
        f"{mo} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND {month_days} AND {hour_ok} "
        f"AND {mi} <= 59 AND {s} <= 60"
    )
    return (
        f"(CASE WHEN {valid} THEN CAST({days} * 86400 + {hour} * 3600 + {mi} * 60 + {s} AS DOUBLE) "
        f"+ {frac} - {offset} END)"
    )


def deal_refs(column: str, ref: str) -> str:
    """(rn, ref): each reference in the deal rows' `column`, split (`ref`: the part `u.id` as
    compared)."""
    return (
        f"SELECT dr.rn, {ref} AS ref FROM __lc_deal_rows AS dr "
        f"CROSS JOIN UNNEST({_split_ids('dr.' + column)}) AS u(id)"
    )


#: The CTE of (__lc_key, id): each deal id the contacts' own column names (split, trimmed).
CONTACT_DEAL_IDS = "__lc_contact_deal_ids"
#: The CTE of (rn, ref): each contact id a deal row names (split; the null id as NULL).
DEAL_CONTACT_REFS = "__lc_deal_contact_refs"


def _deal_links(column: str, ref: str, contacts: str, on: str) -> str:
    """(deal row, contact key) for each reference in `column` that `contacts` has in `on`."""
    return (
        f"SELECT x.rn, k.__lc_key FROM ({deal_refs(column, ref)}) AS x "
        f"JOIN {contacts} AS k ON k.{on} = x.ref"
    )


class _Builder:
    def __init__(
        self,
        rules: Rules,
        dialect: str,
        headers: dict[str, list[str]],
        stage_values: str,
        *,
        row_column: str | None = None,
        resolved: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """`row_column`: a column every table has that numbers its rows in file order (the
        engines load files with one); `resolved`: the logical columns of each role as the
        sources resolved them (instead of resolving `headers` again)."""
        self.rules, self.dialect, self.headers, self.stage_values = (
            rules,
            dialect,
            headers,
            stage_values,
        )
        self.row_column = row_column
        #: When each name a condition reads is decided; None: worked out from the columns.
        self.available: dict | None = None
        self.resolved = {
            role: (resolved or {}).get(role) or self._resolve(role) for role in rules.columns
        }

    def _resolve(self, role: str) -> dict[str, str]:
        """Logical column -> header, as sources.resolve_columns does (first header when unknown)."""
        specs = self.rules.columns[role]
        if role not in self.headers:
            # Without the table's headers, the columns every rules file gets by default (a Data
            # Export's IsDeleted, a deal's Pipeline) are not assumed: most tables lack them.
            return {
                name: spec.headers[0]
                for name, spec in specs.items()
                if name not in NOT_ASSUMED.get(role, ())
            }
        from ..io.sources import resolve_columns

        # The same matching as classify: case, spaces, _ and - ignored, HubSpot's internal names
        # known.
        return resolve_columns(f"the {role} table", role, tuple(self.headers[role]), specs)

    def text(self, role: str, table: str, name: str) -> str:
        """The column as trimmed text, empty as NULL; NULL when the table lacks it."""
        if name not in self.resolved[role]:
            return "CAST(NULL AS VARCHAR)"
        return f"NULLIF(TRIM(CAST({_col(table, self.resolved[role][name])} AS VARCHAR)), '')"

    def parse_bool(self, sql: str) -> str:
        return d.BOOLEAN.sql({"value": sql}, d.bool_values(self.rules.values))

    def row_number(self, table: str) -> str:
        """Each row's number in the table's own order: for a table loaded from an export, the
        file's (classify's tie-breaks read the file's row order). Only compared, never counted,
        so it need not be dense: Spark's MONOTONICALLY_INCREASING_ID() grows in the order the
        rows are read and, unlike a window without PARTITION BY, keeps the rows where they are
        (no single-partition shuffle). Snowflake's SEQ8() likewise. BigQuery keeps no row order:
        there the number only tells rows apart. A table loaded by `classify --engine` carries
        its file row (`row_column`)."""
        if self.row_column:
            return _col(table, self.row_column)
        if self.dialect in ("spark", "databricks"):
            return "MONOTONICALLY_INCREASING_ID()"
        if self.dialect == "snowflake":
            return "SEQ8()"
        return "ROW_NUMBER() OVER ()"

    def table(self, name: str) -> str:
        """A checked table name (TABLE_NAME), every part quoted as the dialect would resolve it
        unquoted: upper case for Snowflake, lower case for PostgreSQL, as written elsewhere."""
        folds = {
            NormalizationStrategy.UPPERCASE: str.upper,
            NormalizationStrategy.LOWERCASE: str.lower,
        }
        fold = folds.get(Dialect.get_or_raise(self.dialect).normalization_strategy, str)
        return ".".join(_ident(fold(part)) for part in name.split("."))

    # ------------------------------------------------------------------ the query

    def query(self, contacts: str, deals: str | None, consent: str | None) -> str:
        """The whole classification as one WITH query: the contacts typed (`__lc_base`), their
        deal and consent facts (`__lc_facts`), the rule walk and the policies (`__lc_decided`),
        then the output columns."""
        ctes = self.ctes(contacts, deals, consent)
        with_sql = ",\n".join(f"{name} AS ({body})" for name, body in ctes)
        return f"WITH {with_sql}\n{self.output()}"

    def ctes(self, contacts: str, deals: str | None, consent: str | None) -> list[tuple[str, str]]:
        """The query's CTEs, in order: the contacts typed, the facts, then the rule walk (the
        last, `__lc_decided`, has every contact's decision)."""
        return self.fact_ctes(contacts, deals, consent) + self.walk_ctes(
            deals is not None, consent is not None
        )

    def fact_ctes(
        self, contacts: str, deals: str | None, consent: str | None
    ) -> list[tuple[str, str]]:
        """The CTEs up to `__lc_facts`: the contacts typed, their deal and consent facts."""
        self.with_consent = consent is not None
        ctes = self._base_ctes(contacts) + self._facts_ctes(deals, consent)
        first = {}
        for name, body in ctes:  # a CTE two parts need (the emails) is written once
            assert first.setdefault(name, body) == body, f"two CTEs named {name}"
        return list(first.items())

    def walk_ctes(self, with_deals: bool, with_consent: bool) -> list[tuple[str, str]]:
        """The CTEs from `__lc_facts` on: the rule walk and the policies, ending `__lc_decided`."""
        return self._walk_ctes(with_deals, with_consent)

    def _base_ctes(self, contacts: str) -> list[tuple[str, str]]:
        """Every column a condition reads, typed, with the key, email and current stage."""
        rules = self.rules
        spec = rules.columns["contacts"]
        ctes: list[tuple[str, str]] = []
        text = lambda name: self.text("contacts", "c", name)  # noqa: E731

        typed = []
        for name in [*spec, *(n for n in DERIVED_INPUTS if n not in spec)]:
            kind = spec[name].type if name in spec else DERIVED_INPUTS[name]
            value = text(name) if name in spec else "CAST(NULL AS VARCHAR)"
            if kind == "bool":
                value = self.parse_bool(value)
            elif kind == "datetime":
                value = f"TO_TIMESTAMP({_epoch(_datetime_parts(value))})"
            elif kind == "float":
                number = _str(r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$")
                value = (
                    f"(CASE WHEN REGEXP_LIKE({value}, {number}) THEN CAST({value} AS DOUBLE) END)"
                )
            typed.append(f"{value} AS {_ident('__f_' + name)}")
        email = _lowered(text("email"))
        stage_header = self.resolved["contacts"].get(
            "stage"
        )  # optional in some rules: then every stage is empty
        raw_stage = (
            f"CAST({_col('c', stage_header)} AS VARCHAR)"
            if stage_header
            else "CAST(NULL AS VARCHAR)"
        )
        current = d.stage_id_sql(raw_stage, rules.stage_lookup())
        ctes.append(
            (
                "__lc_base",
                f"""
            SELECT c.*, {text("record_id")} AS __lc_key, {", ".join(typed)},
              {email} AS __lc_email,
              {d.email_domain_sql(text("email"))} AS __f_email_domain,
              {raw_stage} AS __lc_raw, {current} AS __lc_cur
            FROM {self.table(contacts)} AS c""",
            )
        )
        ctes.append(
            ("__lc_keys", "SELECT DISTINCT __lc_key FROM __lc_base WHERE __lc_key IS NOT NULL")
        )

        return ctes

    def _facts_ctes(self, deals: str | None, consent: str | None) -> list[tuple[str, str]]:
        """The deal and consent facts joined onto the contacts, then the derived facts."""
        ctes: list[tuple[str, str]] = []
        joins = []
        if deals is not None:
            ctes += self.deal_ctes(deals)
            joins.append("LEFT JOIN __lc_deal_facts AS df ON df.__lc_key = b.__lc_key")
            leaves = [f"COALESCE(df.{c}, 0) AS __f_{c}" for c in DEAL_FACTS]
        else:
            leaves = [f"CAST(NULL AS BIGINT) AS __f_{c}" for c in DEAL_FACTS]
        if consent is not None:
            ctes += self.consent_ctes(consent)
            joins.append("LEFT JOIN __lc_consent_facts AS cf ON cf.__lc_key = b.__lc_key")
            leaves += [
                "COALESCE(cf.consent_marketing, FALSE) AS __f_consent_marketing",
                "COALESCE(cf.consent_double_opt_in, FALSE) AS __f_consent_double_opt_in",
                "COALESCE(cf.consent_unknown, FALSE) AS __f_consent_unknown",
            ]
        ctes.append(
            (
                "__lc_leaves",
                f"""
            SELECT b.*, {", ".join(leaves)}, b.__lc_cur AS __f_current_stage
            FROM __lc_base AS b {" ".join(joins)}""",
            )
        )
        # The derived facts, from their one definition (logic.DERIVED_FACTS).
        derived = ", ".join(
            f"{self.condition_tree(tree)} AS __f_{name}"
            for name, tree in derived_facts(consent is not None).items()
        )
        ctes.append(("__lc_facts", f"SELECT f.*, {derived} FROM __lc_leaves AS f"))

        return ctes

    def _walk_ctes(self, with_deals: bool, with_consent: bool) -> list[tuple[str, str]]:
        """The rule walk (see decide.decide), then the sticky and unknown policies."""
        rules = self.rules
        ctes: list[tuple[str, str]] = []
        # The rule walk (see classify._decide): rule i decides where it is decided and true (step
        # i); where it is undecided, a contact at its stage or above it stops there (step n + i).
        if self.available is None:
            self.available = self.availability(with_deals, with_consent)
        available = self.available
        n = len(rules.rules)
        branches = []
        for i, r in enumerate(rules.rules):
            decided = known(r.when.tree, available)
            at_or_above = ", ".join(map(_str, stages_at_or_above(rules, r.stage)))
            at_stage = f"COALESCE(__lc_cur IN ({at_or_above}), FALSE)"
            if decided is True:
                branches.append(f"WHEN {self.condition(r.when)} THEN {i}")
            elif decided is False:
                branches.append(f"WHEN {at_stage} THEN {n + i}")
            else:
                k = self.condition_tree(decided)
                branches.append(f"WHEN {k} AND {self.condition(r.when)} THEN {i}")
                branches.append(f"WHEN NOT {k} AND {at_stage} THEN {n + i}")
        ctes.append(
            (
                "__lc_first",
                f"SELECT f.*, CASE {' '.join(branches)} END AS __lc_index FROM __lc_facts AS f",
            )
        )

        def by_index(values: list[str]) -> str:
            whens = " ".join(f"WHEN {i} THEN {x}" for i, x in enumerate(values))
            return f"CASE __lc_index {whens} END"

        overrides = [i for i, r in enumerate(rules.rules) if r.overrides_sticky]
        overrides_sql = (
            f"COALESCE(__lc_index IN ({', '.join(map(str, overrides))}), FALSE)"
            if overrides
            else "FALSE"
        )
        ctes.append(
            (
                "__lc_derived",
                f"""
            SELECT f.*, {by_index([_str(r.stage) for r in rules.rules] * 2)} AS __lc_stage,
              {by_index([_str(r.id) for r in rules.rules])} AS __lc_stage_rule,
              NOT {overrides_sql} AS __lc_may_keep_rule,
              CASE WHEN __lc_index >= {n} THEN __lc_index - {n} END AS __lc_unknown_at
            FROM __lc_first AS f""",
            )
        )
        # A policy may keep the current stage unless the deciding rule overrides it; a sticky stage
        # names the sticky policy even where an undecided rule kept it as well.
        may_keep = (
            "(__lc_may_keep_rule AND (__lc_unknown_at IS NOT NULL "
            "OR __lc_stage IS DISTINCT FROM __lc_cur))"
        )
        sticky = [_str(s.id) for s in rules.stages if s.sticky]
        policy = []
        if sticky:
            policy.append(
                f"WHEN {may_keep} AND COALESCE(__lc_cur IN ({', '.join(sticky)}), FALSE) "
                f"THEN {_str(rules.sticky_rule_id)}"
            )
        policy.append(f"WHEN __lc_unknown_at IS NOT NULL THEN {_str(rules.unknown_rule_id)}")
        rule_sql = f"CASE {' '.join(policy)} ELSE __lc_stage_rule END"
        ctes.append(("__lc_ruled", f"SELECT d.*, {rule_sql} AS __lc_rule FROM __lc_derived AS d"))
        kept = _str(rules.sticky_rule_id)
        ctes.append(
            (
                "__lc_decided",
                f"""
            SELECT r.*, CASE WHEN COALESCE(__lc_rule = {kept}, FALSE) THEN __lc_cur
              ELSE COALESCE(__lc_stage, __lc_cur) END AS __lc_new
            FROM __lc_ruled AS r""",
            )
        )

        return ctes

    @property
    def other_sets(self) -> list:
        """(rule id, condition) of each rule that sets the Other Type."""
        return [
            (r.id, cond)
            for r in self.rules.rules
            for target, cond in r.sets
            if target == "other_type"
        ]

    def other_type(self, existing: str | None) -> str:
        """The Other Type the deciding rule sets (where it can be worked out), else the file's
        column `existing` (None: NULL, no Other Type set)."""
        other = f"CAST({_col('o', existing)} AS VARCHAR)" if existing else "CAST(NULL AS VARCHAR)"
        other_sets = self.other_sets
        if not other_sets:
            return other
        hits = []
        for rule_id, cond in other_sets:
            decided = known(cond.tree, self.available)
            if decided is False:
                continue  # the value cannot be worked out: keep the file's
            where = "" if decided is True else f" AND {self.condition_tree(decided)}"
            hits.append(
                f"WHEN __lc_rule = {_str(rule_id)}{where} "
                f"THEN CAST({self.condition(cond)} AS VARCHAR)"
            )
        return f"CASE {' '.join(hits) or 'WHEN FALSE THEN NULL'} ELSE {other} END"

    def output(self) -> str:
        rules = self.rules
        stage_header = self.resolved["contacts"].get("stage")
        written = (
            "CASE __lc_new "
            + " ".join(
                f"WHEN {_str(s.id)} "
                f"THEN {_str(s.label if self.stage_values == 'label' else s.value)}"
                for s in rules.stages
            )
            + " END"
        )
        new_stage = f"COALESCE({written}, __lc_raw)"
        listed = self.headers.get("contacts")
        by_lower = {h.strip().lower(): h for h in listed} if listed is not None else {}
        existing_other = by_lower.get(rules.other_type_column.lower())
        other = self.other_type(existing_other)
        # A table without the stage column (the rules allow it) gets one, as classify adds it.
        updates = {stage_header: new_stage} if stage_header else {}
        extra: list[tuple[str, str]] = (
            [] if stage_header else [(rules.columns["contacts"]["stage"].headers[0], new_stage)]
        )
        for wanted, sql in (
            (rules.previous_stage_column, "__lc_raw"),
            (rules.rule_column, "__lc_rule"),
        ):
            header = by_lower.get(wanted.lower())
            if header:
                updates[header] = sql
            else:
                extra.append((wanted, sql))
        if existing_other or self.other_sets:
            if existing_other:
                updates[existing_other] = other
            else:
                extra.append((rules.other_type_column, other))
        if listed is not None:
            items = []
            for header in listed:
                items.append(
                    f"{updates[header]} AS {_ident(header)}"
                    if header in updates
                    else _col("o", header)
                )
                if header == stage_header:
                    items += [f"{sql} AS {_ident(name)}" for name, sql in extra]
            if not stage_header:
                items += [f"{sql} AS {_ident(name)}" for name, sql in extra]
            return f"SELECT {', '.join(items)} FROM __lc_decided AS o"
        if self.dialect not in STAR_REPLACE_DIALECTS:
            raise ValueError(
                f"{self.dialect} cannot replace a column of SELECT *: pass the contacts table's "
                "headers "
                "(headers={'contacts': [...]}) so the query can list its columns"
            )
        spec = self.rules.columns["contacts"]
        helpers = [
            "__lc_key",
            *(f"__f_{n}" for n in [*spec, *(n for n in DERIVED_INPUTS if n not in spec)]),
            "__lc_email",
            "__f_email_domain",
            "__lc_raw",
            "__lc_cur",
            *(
                f"__f_{c}"
                for c in (*DEAL_FACTS, "marketing_consent", "double_opt_in", "current_stage")
            ),
            *(
                ("__f_consent_marketing", "__f_consent_double_opt_in", "__f_consent_unknown")
                if self.with_consent
                else ()
            ),
            "__lc_index",
            "__lc_stage",
            "__lc_stage_rule",
            "__lc_may_keep_rule",
            "__lc_unknown_at",
            "__lc_rule",
            "__lc_new",
        ]
        replaced = ", ".join(f"{sql} AS {_ident(h)}" for h, sql in updates.items())
        added = "".join(f", {sql} AS {_ident(name)}" for name, sql in extra)
        return (
            f"SELECT o.* EXCEPT ({', '.join(helpers)}) REPLACE ({replaced}){added} "
            "FROM __lc_decided AS o"
        )

    # ------------------------------------------------------------------ facts

    def deal_ctes(self, deals: str) -> list[tuple[str, str]]:
        v = self.rules.values
        text = lambda name: self.text("deals", "d", name)  # noqa: E731
        flags = ("is_won", "is_lost", "is_closed", "is_deleted")
        # Each flag read once (its text and its parsed value), then the outcome once: the rules'
        # expressions read the columns of the step before, not the parsing again.
        read = "".join(
            f", {text(n)} AS {n}_text, {self.parse_bool(text(n))} AS {n}_value" for n in flags
        )
        # A column with true values and no false one (`1`/empty): there empty is false (d.FLAG).
        one_empty = ", ".join(f"{d.only_true_sql(f't.{n}_value')} AS {n}" for n in flags)
        flag = lambda n: d.FLAG.sql(  # noqa: E731
            {"value": f"t.{n}_value", "empty": f"t.{n}_text IS NULL", "only_true": f"f.{n}"}
        )
        won_flag, lost_flag, closed, is_deleted = (flag(n) for n in flags)
        inputs = {"won_flag": won_flag, "lost_flag": lost_flag, "closed": closed}
        for stage, (_, listed_in) in d.STAGE_LISTS.items():
            inputs[stage] = f"COALESCE({_in_values('t.stage', v[listed_in])}, FALSE)"
        # d.DEAL_OUTCOME: NULL unknown (classify stops on such a deal; here it counts as neither).
        outcome = d.DEAL_OUTCOME.sql(inputs)
        by_account = self.deals_by_account()
        account = _account_key(text(by_account[0])) if by_account else "CAST(NULL AS VARCHAR)"
        # The flags' values that do not read as true or false (the engines' checks count them).
        unreadable = "".join(
            f", CASE WHEN o.{n}_value IS NULL THEN o.{n}_text END AS bad_{n}"
            for n in flags[:3]
            if n in self.resolved["deals"]
        )
        ctes = [
            (
                "__lc_deal_text",
                f"""
                SELECT {self.row_number("d")} AS rn, {text("record_id")} AS deal_id,
                  {text("contact_ids")} AS contact_ids, {account} AS account,
                  {text("contact_email")} AS contact_emails, {text("stage")} AS stage,
                  {text("pipeline")} AS pipeline{read}
                FROM {self.table(deals)} AS d""",
            ),
            (
                "__lc_deal_outcomes",
                f"""
                SELECT t.*, {outcome} AS outcome FROM __lc_deal_text AS t
                CROSS JOIN (SELECT {one_empty} FROM __lc_deal_text AS t) AS f
                WHERE NOT COALESCE({is_deleted}, FALSE)""",
            ),
            (
                "__lc_deal_rows",
                f"""
                SELECT o.rn, o.deal_id, COALESCE(o.outcome = {d.WON}, FALSE) AS won,
                  COALESCE(o.outcome = {d.LOST}, FALSE) AS lost, o.outcome IS NULL AS unknown,
                  o.contact_ids, o.account, o.contact_emails, o.stage, o.pipeline{unreadable}
                FROM __lc_deal_outcomes AS o""",
            ),
            # The ids split once: the links and the engines' link counts read them.
            (DEAL_CONTACT_REFS, deal_refs("contact_ids", _not_null_id("TRIM(u.id)"))),
            (
                "__lc_deal_side",
                f"SELECT x.rn, k.__lc_key FROM {DEAL_CONTACT_REFS} AS x "
                "JOIN __lc_keys AS k ON k.__lc_key = x.ref",
            ),
        ]
        pairs = "SELECT rn, __lc_key FROM __lc_deal_side"
        if "contact_email" in self.resolved["deals"]:
            # Deals exported with the contact's email instead of its id (any case, trimmed).
            ctes.append(self.emails())
            ctes.append(
                (
                    "__lc_deal_email_side",
                    _deal_links("contact_emails", _lowered("u.id"), "__lc_emails", "email"),
                )
            )
            pairs += " UNION SELECT rn, __lc_key FROM __lc_deal_email_side"
        if "deal_ids" in self.resolved["contacts"] and "record_id" in self.resolved["deals"]:
            ctes.append(
                (
                    CONTACT_DEAL_IDS,
                    "SELECT b.__lc_key, TRIM(u.id) AS id FROM __lc_base AS b CROSS JOIN "
                    f"UNNEST({_split_ids('b.__f_deal_ids')}) AS u(id) "
                    "WHERE b.__lc_key IS NOT NULL",
                )
            )
            ctes.append(
                (
                    "__lc_contact_side",
                    f"SELECT dr.rn, x.__lc_key FROM {CONTACT_DEAL_IDS} AS x "
                    "JOIN __lc_deal_rows AS dr ON dr.deal_id = x.id",
                )
            )
            pairs += " UNION SELECT rn, __lc_key FROM __lc_contact_side"
        if by_account:
            # Deals that no contact links count for every contact of their account
            # (facts.account_facts): not when any row of the same deal links a contact.
            ctes.append(("__lc_deal_by_contact", pairs))
            ctes.append(
                (
                    "__lc_account_side",
                    f"""
                SELECT dr.rn, b.__lc_key FROM __lc_deal_rows AS dr
                JOIN __lc_base AS b ON b.__lc_key IS NOT NULL
                  AND {_account_key(f"b.{_ident('__f_' + by_account[1])}")} = dr.account
                WHERE dr.rn NOT IN (SELECT rn FROM __lc_deal_by_contact)
                  AND (dr.deal_id IS NULL OR dr.deal_id NOT IN (
                    SELECT r.deal_id FROM __lc_deal_rows AS r
                    JOIN __lc_deal_by_contact AS p ON p.rn = r.rn
                    WHERE r.deal_id IS NOT NULL))""",
                )
            )
            pairs = (
                "SELECT rn, __lc_key FROM __lc_deal_by_contact "
                "UNION SELECT rn, __lc_key FROM __lc_account_side"
            )
        ctes.append(("__lc_deal_pairs", pairs))
        ctes.append(
            (
                "__lc_deal_facts",
                f"""
            SELECT p.__lc_key, {", ".join(d.deal_counts_sql("dr.won", "dr.lost", "dr.unknown"))}
            FROM __lc_deal_pairs AS p JOIN __lc_deal_rows AS dr ON dr.rn = p.rn
            GROUP BY p.__lc_key""",
            )
        )
        return ctes

    def emails(self) -> tuple[str, str]:
        """The contacts' keys by email (trimmed, lower case), for the links by email (deals' and
        consent's both add it: `fact_ctes` keeps the first)."""
        return (
            "__lc_emails",
            "SELECT DISTINCT __lc_key, __lc_email AS email FROM __lc_base "
            "WHERE __lc_key IS NOT NULL AND __lc_email IS NOT NULL",
        )

    def deals_by_account(self) -> tuple[str, ...]:
        """(deals column, contacts column) when the rules link deals by account and both tables have
        them."""
        link = self.rules.deals_by_account
        if link and link[0] in self.resolved["deals"] and link[1] in self.resolved["contacts"]:
            return link
        return ()

    def consent_ctes(self, consent: str) -> list[tuple[str, str]]:
        v = self.rules.values
        text = lambda name: self.text("consent", "s", name)  # noqa: E731
        event_facts, values = d.consent_event(self.rules)
        inputs = {"status": text("status"), "double_opt_in": text("double_opt_in")}
        event = ",\n                  ".join(
            f"{fact.sql(inputs, values)} AS {name}" for name, fact in event_facts.items()
        )
        marketing = _in_values(text("subscription_type"), v["marketing_subscription_types"])
        place = d.event_place_sql("__lc_key, subscription_type", "ts", "rn")
        places = ", ".join(d.consent_places_sql("at", {n: n for n in ("subscribed", "doi")}))
        by_type = {n: f.sql({p: p for p in d.CONSENT_PLACES}) for n, f in d.CONSENT_BY_TYPE.items()}
        return [
            # rn: the row's place in the file, which breaks ties between events with the same
            # timestamp as classify does (the later row wins).
            (
                "__lc_events",
                f"""
                SELECT {self.row_number("s")} AS rn, {text("contact_id")} AS contact_id,
                  {_lowered(text("email"))} AS email, {marketing} AS marketing,
                  {_lowered(text("subscription_type"))} AS subscription_type,
                  {event},
                  {text("status")} AS status,
                  {text("timestamp")} AS ts_text
                FROM {self.table(consent)} AS s""",
            ),
            *_timestamp_ctes(
                "__lc_events", "ts_text", "__lc_events", self.dialect, where="t.marketing"
            ),
            self.emails(),
            # A known Contact ID decides; else every contact with that email.
            (
                "__lc_matched",
                """
                SELECT DISTINCT e.rn,
                  CASE WHEN k.__lc_key IS NOT NULL THEN e.contact_id ELSE m.__lc_key END AS
                  __lc_key, e.subscription_type, e.subscribed, e.doi, e.ts, e.unknown FROM
                  __lc_events_ts AS e LEFT JOIN __lc_keys AS k ON k.__lc_key = e.contact_id LEFT
                  JOIN __lc_emails AS m ON m.email = e.email""",
            ),
            # Per contact and type: each event's place (d.CONSENT_PLACES), the places that
            # decide, and the facts they decide (d.CONSENT_BY_TYPE).
            (
                "__lc_placed",
                f"""
                SELECT __lc_key, subscription_type, subscribed, doi, unknown, {place} AS at
                FROM __lc_matched WHERE __lc_key IS NOT NULL""",
            ),
            (
                "__lc_by_type",
                f"""
                SELECT __lc_key, {places}, MAX(CASE WHEN unknown THEN 1 ELSE 0 END) AS unknown
                FROM __lc_placed GROUP BY __lc_key, subscription_type""",
            ),
            (
                "__lc_consent_facts",
                f"""
                SELECT __lc_key,
                  MAX(CASE WHEN {by_type["subscribed"]} THEN 1 ELSE 0 END) = 1 AS consent_marketing,
                  MAX(CASE WHEN {by_type["doi"]} THEN 1 ELSE 0 END) = 1 AS consent_double_opt_in,
                  MAX(unknown) = 1 AS consent_unknown
                FROM __lc_by_type GROUP BY __lc_key""",
            ),
        ]

    # ------------------------------------------------------------------ conditions

    def condition(self, cond: Condition) -> str:
        """A rule condition with its names bound to the fact columns and `IN @list` expanded."""
        return self.condition_tree(cond.tree)

    def condition_tree(self, tree: exp.Expression) -> str:
        """A condition tree (a rule's, a derived fact's or logic.known's) as SQL over the fact
        columns."""
        values = self.rules.compile_values

        def fact(name: str) -> exp.Expression:
            if NAMED in name:  # logic.named, written out
                return d.bind_sql(named_expression(name), fact, values)
            return exp.column("__f_" + name)

        return f"({d.sql_text(d.bind_sql(tree, fact, values))})"

    def availability(self, with_deals: bool, with_consent: bool) -> dict:
        """Which names are decided, as logic.availability works it out for classify."""
        resolved = self.resolved
        return self.rules.availability(
            set(resolved["contacts"]),
            set(resolved["deals"]) if with_deals else None,
            set(resolved["consent"]) if with_consent else None,
        )


#: The query's builder and its date-time CTEs, for the engines (core/on_engine.py), which run the
#: query's parts one by one and add their checks.
QueryBuilder = _Builder
timestamp_ctes = _timestamp_ctes

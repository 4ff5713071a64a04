"""classify's first three steps run as queries on DuckDB or Spark (`classify --engine`).

The exports are loaded once (io/engines.py), then the query `lifecycle sql` writes runs in its
parts (sql.QueryBuilder): the contacts typed and their deal and consent facts are kept as tables,
the checks read those tables (repeated, missing and Excel-rounded ids; deal stages and consent
statuses no list names; unreadable values; link counts; events dated in the future), then the
rule walk gives every contact's decision. What comes back is what classify's own steps make:
`Facts` (the small tables of the checks) and the narrow decision table, so that the checks'
diagnostics, the report, the gates and the output are made by the same code for every engine.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import polars as pl

from ..io.engines import ROW_COLUMN, Engine
from ..rules.definitions import one_of_sql, sql_identifier, sql_string
from ..rules.logic import DEAL_FACTS
from .checks import EXCEL_ROUNDED
from .columns import BAD, CUR, KEY, NEW, OTHER, RAW, ROW, RULE, SPELLING, UNKNOWN_AT, VOCAB
from .decide import checked_columns, other_type
from .facts import FUTURE_LISTED, ContactIds
from .links import COUNTS
from .problems import LISTED
from .run import Facts, Run, availability, typed_decisions, with_keep
from .sql import CONTACT_DEAL_IDS, DEAL_CONTACT_REFS, QueryBuilder, timestamp_ctes, transpile
from .vocabulary import tested_columns

#: The tables the exports are loaded as.
TABLES = {"contacts": "lc_contacts", "deals": "lc_deals", "consent": "lc_consent"}
#: The first CTE of the rule walk's query: the ones before it are kept as tables or views.
WALK_FROM = "__lc_leaves"
#: The CTEs the checks read.
CHECKED = frozenset(
    {
        "__lc_base",
        "__lc_keys",
        "__lc_deal_text",
        "__lc_deal_rows",
        "__lc_deal_pairs",
        DEAL_CONTACT_REFS,
        CONTACT_DEAL_IDS,
        "__lc_account_side",
        "__lc_every_event_ts",
        "__lc_emails",
    }
)
#: A text with anything but spaces in it (as Polars' `\S`).
NON_BLANK = sql_string(r"\S")


class _Queries:
    """The run's queries on one engine, written in the template dialect and transpiled."""

    def __init__(self, run: Run, engine: Engine) -> None:
        self.run, self.engine = run, engine
        self.sources = {
            role: src
            for role, src in (
                ("contacts", run.contacts),
                ("deals", run.deals),
                ("consent", run.consent),
            )
            if src is not None
        }
        self.builder = QueryBuilder(
            run.rules,
            engine.dialect,
            {role: list(src.headers) for role, src in self.sources.items()},
            "label",
            row_column=ROW_COLUMN,
            resolved={role: dict(src.resolved) for role, src in self.sources.items()},
        )

    def sql(self, text: str) -> str:
        return transpile(text, self.engine.dialect)

    def get(self, text: str) -> pl.DataFrame:
        return self.engine.query(self.sql(text))

    def one(self, text: str) -> dict:
        return self.get(text).row(0, named=True)

    def first_rows(self, table: str, where: str, row: str = "rn", limit: int = LISTED) -> list[int]:
        """The first `limit` rows of `table` (0-based) where `where` holds."""
        first = self.get(
            f"SELECT {row} AS r FROM {table} WHERE {where} ORDER BY {row} LIMIT {limit}"
        )
        return [int(r) for r in first["r"]]


def facts_and_decisions(run: Run, engine: Engine) -> tuple[Facts, pl.DataFrame]:
    """Steps 1 and 3 of classify on `engine`: the facts the checks read, and the decisions."""
    run.found.extend(run.contacts.missing_required)
    q = _Queries(run, engine)
    run.progress(f"loading the exports into {engine.name}")
    for role, src in q.sources.items():
        engine.load(TABLES[role], src, sorted(set(src.resolved.values())))
    deals, consent = run.deals, run.consent
    run.progress(f"working out the deal and consent facts on {engine.name}")
    ctes = q.builder.fact_ctes(
        TABLES["contacts"],
        TABLES["deals"] if deals is not None else None,
        TABLES["consent"] if consent is not None else None,
    )
    if consent is not None:
        ctes = _every_event_timestamp(ctes, engine.dialect)
    walk_at = [name for name, _ in ctes].index(WALK_FROM)
    # The exports' tables each name reads when it is read: a table itself, or a view of them.
    reads = {TABLES[role]: {TABLES[role]} for role in q.sources}

    def read_by(sql: str) -> set[str]:
        return {t for n, tables in reads.items() if re.search(rf"\b{n}\b", sql) for t in tables}

    for i, (name, body) in enumerate(ctes[:walk_at]):
        # A table read more than once is computed once and kept; the others stay views.
        later = "\n".join(b for _, b in ctes[i + 1 :])
        uses = len(re.findall(rf"\b{name}\b", later)) + (name in CHECKED)
        if uses <= 1:
            engine.view(name, q.sql(body))
            reads[name] = read_by(body)
            continue
        engine.keep(name, q.sql(body))
        # An export's table that no later step reads, itself or through a view (the checks read
        # the kept tables), is dropped once what it was read for is kept: at 10M, gigabytes.
        for table in {t for t in TABLES.values() if t in reads} - read_by(later):
            engine.drop(table)
            del reads[table]
    facts = _facts(q, run)
    q.builder.available = facts.available
    run.progress(f"deciding every contact's stage on {engine.name}")
    # A file that links no contact gets a hint naming a column that would: it compares the
    # contacts' ids and emails with each column (links.suggest_link), so only then are the
    # emails read back.
    unlinked = any(
        facts.links.get(total, 0) and not facts.links.get(linked, 0)
        for total, linked in COUNTS.values()
    )
    decided = _decisions(q, run, facts, ctes[walk_at:], with_email=unlinked)
    facts.ids = ContactIds(decided.select(ROW, KEY, *(["email"] if unlinked else [])), False)
    return facts, decided.drop(KEY, "email", strict=False)


def _every_event_timestamp(ctes: list[tuple[str, str]], dialect: str) -> list[tuple[str, str]]:
    """The CTEs with every consent event's timestamp read once (`__lc_every_event_ts`: the
    checks read them all), the marketing events' (`__lc_events_ts`) taken from it."""
    names = [name for name, _ in ctes]
    # The query's own steps from the events to the marketing events' timestamps are replaced.
    at, end = names.index("__lc_events") + 1, names.index("__lc_events_ts") + 1
    every = timestamp_ctes("__lc_events", "ts_text", "__lc_every_event", dialect)
    marketing = ("__lc_events_ts", "SELECT * FROM __lc_every_event_ts AS t WHERE t.marketing")
    return [*ctes[:at], *every, marketing, *ctes[end:]]


def _facts(q: _Queries, run: Run) -> Facts:
    """The checks' tables. One query counts what each input holds; the rows and values of a
    problem are read only when it was found (most runs find none: few queries, which matters on
    Spark, where each is a job)."""
    rules = run.rules
    rounded = f"REGEXP_LIKE(__lc_key, {sql_string(EXCEL_ROUNDED)})"
    n = q.one(
        "SELECT COUNT(__lc_key) - COUNT(DISTINCT __lc_key) AS repeats, "
        f"{_count('__lc_key IS NULL')} AS missing, {_count(rounded)} AS rounded FROM __lc_base"
    )
    n = {k: int(v or 0) for k, v in n.items()}
    repeated = pl.DataFrame(schema={KEY: pl.String, "n": pl.UInt32, "first": pl.UInt32})
    if n["repeats"]:
        repeated = q.get(
            'SELECT __lc_key, COUNT(*) AS n, MIN(__lc_row) AS "first" FROM __lc_base '
            "WHERE __lc_key IS NOT NULL GROUP BY __lc_key HAVING COUNT(*) > 1"
        ).rename({"__lc_key": KEY})
        repeated = repeated.with_columns(
            pl.col("n").cast(pl.UInt32), pl.col("first").cast(pl.UInt32)
        )

    def counted(found: int, where: str) -> pl.DataFrame:
        rows = q.first_rows("__lc_base", where, "__lc_row") if found else []
        return pl.DataFrame(
            {"n": [found], "rows": [rows]}, schema={"n": pl.UInt32, "rows": pl.List(pl.UInt32)}
        )

    facts = Facts(
        ContactIds(pl.DataFrame(schema={ROW: pl.UInt32, KEY: pl.String}), False),
        repeated,
        counted(n["missing"], "__lc_key IS NULL"),
        counted(n["rounded"], rounded),
        tested=tested_columns(rules, run.consent is not None),
    )
    if run.deals is not None:
        _deal_checks(q, run, facts)
    if run.consent is not None:
        _consent_checks(q, run, facts)
    facts.available = availability(run, facts.unknown.get("consent"))
    return facts


def _count(condition: str) -> str:
    return f"COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)"


def _one_row(parts: list[str]) -> str:
    """One row from single-row queries side by side: one query (one Spark job graph)."""
    return "SELECT * FROM " + " CROSS JOIN ".join(f"({p}) AS q{i}" for i, p in enumerate(parts))


def _unreadable(q: _Queries, role: str, table: str, names: list[tuple[str, str]]) -> pl.DataFrame:
    """column, kind, value, count, first_row of the values in the `bad_...` columns (as
    facts.unreadable_values gives them)."""
    src = q.sources[role]
    parts = []
    for name, column in names:
        got = q.get(
            f'SELECT {column} AS "value", COUNT(*) AS "count", MIN(rn) + 2 AS first_row '
            f"FROM {table} WHERE {column} IS NOT NULL GROUP BY {column}"
        )
        parts.append(
            got.select(
                pl.lit(src.resolved[name]).alias("column"),
                pl.lit(q.run.rules.columns[role][name].type).alias("kind"),
                pl.col("value").cast(pl.String),
                pl.col("count").cast(pl.UInt32),
                pl.col("first_row").cast(pl.Int64),
            )
        )
    return pl.concat(parts)


def _deal_checks(q: _Queries, run: Run, facts: Facts) -> None:
    deals, b = run.deals, q.builder
    assert deals is not None
    flags = [(n, f"bad_{n}") for n in ("is_won", "is_lost", "is_closed") if n in deals.resolved]
    # The contact ids the deals name that no contact has (as __lc_deal_side reads them).
    refs = (
        f"SELECT x.rn FROM {DEAL_CONTACT_REFS} AS x WHERE x.ref IS NOT NULL AND x.ref <> '' "
        "AND x.ref NOT IN (SELECT __lc_key FROM __lc_keys)"
    )
    bad = " OR ".join(f"{column} IS NOT NULL" for _, column in flags) or "FALSE"
    parts = [
        "SELECT COUNT(*) AS deal_rows FROM __lc_deal_text",
        "SELECT COUNT(*) AS kept, "
        f"{_count('contact_ids IS NOT NULL OR contact_emails IS NOT NULL')} AS deals_with_refs, "
        f"{_count('unknown')} AS unknown_deals, {_count(bad)} AS bad_flags, "
        f"{_count('account IS NOT NULL')} AS deals_with_accounts FROM __lc_deal_rows",
        "SELECT COUNT(DISTINCT rn) AS deals_linked FROM __lc_deal_pairs",
        "SELECT COUNT(*) AS unknown_contact_refs, COUNT(DISTINCT rn) AS "
        f"deals_with_unknown_contacts FROM ({refs}) AS r",
    ]
    if "deal_ids" in run.contacts.resolved and "record_id" in deals.resolved:
        parts.append(
            f"SELECT COUNT(*) AS contact_deal_ids_not_in_deals FROM {CONTACT_DEAL_IDS} AS x "
            "LEFT JOIN __lc_deal_rows AS dr ON dr.deal_id = x.id "
            "WHERE x.id <> '' AND dr.rn IS NULL"
        )
    by_account = bool(b.deals_by_account())
    if by_account:
        parts.append(
            "SELECT COUNT(DISTINCT rn) AS deals_linked_by_account, "
            "COUNT(DISTINCT __lc_key) AS contacts_linked_by_account FROM __lc_account_side"
        )
    got = {k: int(v or 0) for k, v in q.one(_one_row(parts)).items()}
    # In the order facts.deal_facts counts them (the JSON report lists them so).
    order = ["deal_rows", "deleted_deal_rows", "deals_with_refs", "deals_linked"]
    order += ["unknown_contact_refs", "deals_with_unknown_contacts"]
    order += ["contact_deal_ids_not_in_deals", "deals_with_accounts"]
    order += ["deals_linked_by_account", "contacts_linked_by_account"]
    got["deleted_deal_rows"] = got["deal_rows"] - got["kept"]
    shown = set(got) - {"kept", "unknown_deals", "bad_flags"}
    if "is_deleted" not in deals.resolved:
        shown.discard("deleted_deal_rows")
    if not by_account:
        shown.discard("deals_with_accounts")
    unknown, bad_flags = got["unknown_deals"], got["bad_flags"]
    got = {k: got[k] for k in order if k in shown}
    facts.links.update(got)
    stages = pl.DataFrame(
        schema={
            "stage": pl.String,
            "pipeline": pl.String,
            "count": pl.UInt32,
            "first_row": pl.Int64,
        }
    )
    if unknown:
        stages = q.get(
            "SELECT COALESCE(stage, '(empty)') AS stage, pipeline, COUNT(*) AS \"count\", "
            "MIN(rn) + 2 AS first_row FROM __lc_deal_rows WHERE unknown "
            "GROUP BY COALESCE(stage, '(empty)'), pipeline"
        ).with_columns(
            pl.col("stage").cast(pl.String),
            pl.col("pipeline").cast(pl.String),
            pl.col("count").cast(pl.UInt32),
            pl.col("first_row").cast(pl.Int64),
        )
    facts.unknown["deals"] = stages.sort(["count", "stage"], descending=[True, False])
    if bad_flags:
        facts.bad_values.append(
            (deals, DEAL_FACTS, _unreadable(q, "deals", "__lc_deal_rows", flags))
        )


def _consent_checks(q: _Queries, run: Run, facts: Facts) -> None:
    consent = run.consent
    assert consent is not None
    now = datetime.now(UTC).replace(tzinfo=None)
    future = f"ts > {(now - datetime(1970, 1, 1)).total_seconds()!r}"
    matched = (
        "SELECT COUNT(DISTINCT e.rn) AS matched FROM __lc_every_event_ts AS e "
        "LEFT JOIN __lc_keys AS k ON k.__lc_key = e.contact_id "
        "LEFT JOIN __lc_emails AS m ON m.email = e.email "
        "WHERE k.__lc_key IS NOT NULL OR m.__lc_key IS NOT NULL"
    )
    got = q.one(
        _one_row(
            [
                "SELECT COUNT(*) AS consent_rows FROM __lc_every_event_ts",
                matched,
                f"SELECT {_count('unknown AND status IS NOT NULL')} AS unknown, "
                f"{_count(future)} AS future, "
                f"{_count('ts IS NULL AND ts_text IS NOT NULL')} AS bad FROM __lc_every_event_ts",
            ]
        )
    )
    got = {k: int(v or 0) for k, v in got.items()}
    total, linked = got["consent_rows"], got["matched"]
    facts.links.update(
        {
            "consent_rows": total,
            "consent_rows_matched": linked,
            "consent_rows_unknown_contact": total - linked,
        }
    )
    future_n = got["future"]
    rows = q.first_rows("__lc_every_event_ts", future, limit=FUTURE_LISTED) if future_n else []
    facts.future = (future_n, rows)
    statuses = pl.DataFrame(schema={"value": pl.String, "count": pl.UInt32})
    if got["unknown"]:
        statuses = q.get(
            'SELECT status AS "value", COUNT(*) AS "count" FROM __lc_every_event_ts '
            "WHERE unknown AND status IS NOT NULL GROUP BY status"
        ).with_columns(pl.col("value").cast(pl.String), pl.col("count").cast(pl.UInt32))
    facts.unknown["consent"] = statuses.sort(["count", "value"], descending=[True, False])
    if "timestamp" in consent.resolved and got["bad"]:
        bad = (
            "SELECT rn, CASE WHEN ts IS NULL THEN ts_text END AS bad_timestamp "
            "FROM __lc_every_event_ts"
        )
        facts.bad_values.append(
            (
                consent,
                ("marketing_consent", "double_opt_in"),
                _unreadable(q, "consent", f"({bad}) AS t", [("timestamp", "bad_timestamp")]),
            )
        )


def _decisions(
    q: _Queries, run: Run, facts: Facts, walk: list[tuple[str, str]], *, with_email: bool
) -> pl.DataFrame:
    """Every contact's decision, as classify.decisions gives it, and its key (for the checks)."""
    rules, b, contacts = run.rules, q.builder, run.contacts
    walk = [*walk, *b.walk_ctes(run.deals is not None, run.consent is not None)]
    columns = [
        f"__lc_row AS {sql_identifier(ROW)}",
        f"__lc_key AS {sql_identifier(KEY)}",
        f"__lc_cur AS {sql_identifier(CUR)}",
        f"__lc_new AS {sql_identifier(NEW)}",
        f"__lc_rule AS {sql_identifier(RULE)}",
        f"__lc_unknown_at AS {sql_identifier(UNKNOWN_AT)}",
        f"CASE WHEN __lc_cur IS NULL AND REGEXP_LIKE(__lc_raw, {NON_BLANK}) "
        f"THEN __lc_raw END AS {sql_identifier(RAW)}",
        f"TRIM(__lc_raw) AS {sql_identifier(SPELLING)}",
        *(["__lc_email AS email"] if with_email else []),
    ]
    fact = lambda name: f"o.{sql_identifier('__f_' + name)}"  # noqa: E731
    for name in checked_columns(rules, contacts):
        raw = f"CAST(o.{sql_identifier(contacts.resolved[name])} AS VARCHAR)"
        columns.append(
            f"COALESCE(REGEXP_LIKE({raw}, {NON_BLANK}) AND {fact(name)} IS NULL, FALSE) "
            f"AS {sql_identifier(BAD + name)}"
        )
    for t in facts.tested:
        if t.source == "contacts" and contacts.has(t.column):
            known = one_of_sql(fact(t.column), rules.lists[t.list_name].known)
            columns.append(
                f"COALESCE({fact(t.column)} IS NOT NULL AND NOT COALESCE({known}, FALSE), FALSE) "
                f"AS {sql_identifier(VOCAB + t.column + '@' + t.list_name)}"
            )
    if other_type(rules, facts.available) is not None:
        columns.append(f"{b.other_type(None)} AS {sql_identifier(OTHER)}")
    with_sql = ",\n".join(f"{name} AS ({body})" for name, body in walk)
    got = q.get(f"WITH {with_sql}\nSELECT {', '.join(columns)} FROM __lc_decided AS o")
    frame = got.with_columns(
        pl.col(ROW).cast(pl.UInt32),
        pl.col(KEY).cast(pl.String),
        pl.col(UNKNOWN_AT).cast(pl.Int16),
        pl.col(RAW).cast(pl.String),
        *([pl.col(OTHER).cast(pl.String)] if OTHER in got.columns else []),
    ).lazy()
    frame, keep = with_keep(frame, facts, run)
    frame = typed_decisions(frame.with_columns(*keep), rules)
    return frame.drop("__lc_first", strict=False).collect().sort(ROW)

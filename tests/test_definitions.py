"""Each fact's two renderings (lifecycle_cli.rules.definitions) agree: Polars and DuckDB's SQL.

classify computes a fact with the Polars rendering and `lifecycle sql` with the SQL one; both are
built from one declaration. These properties run both over the same values.
"""

from __future__ import annotations

import itertools
from datetime import UTC
from functools import lru_cache
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle_cli.core.sql import transpile
from lifecycle_cli.rules import definitions as d
from lifecycle_cli.rules.model import load_rules

ROOT = Path(__file__).resolve().parent.parent
RULES = load_rules(ROOT / "rules.yaml")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


#: DuckDB's type for a Polars column's.
SQL_TYPES = {pl.String: "VARCHAR", pl.Boolean: "BOOLEAN", pl.Int64: "BIGINT", pl.UInt32: "BIGINT"}


def load(frame: pl.DataFrame) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `frame` as the table t, its row number as the column i."""
    frame = frame.with_row_index("i")
    con = duckdb.connect()
    columns = ", ".join(f"{n} {SQL_TYPES[t.base_type()]}" for n, t in frame.schema.items())
    con.execute(f"CREATE TABLE t ({columns})")
    marks = ", ".join("?" for _ in frame.columns)
    con.executemany(f"INSERT INTO t VALUES ({marks})", frame.rows())
    return con


def run(con: duckdb.DuckDBPyConnection, template: str) -> list[tuple]:
    """A query written as sql.py writes its template, generated for DuckDB and run."""
    return con.execute(generated(template)).fetchall()


@lru_cache(maxsize=64)
def generated(template: str) -> str:
    # Generated once per template: parsing the date-time arithmetic is the slow part.
    return transpile(template, "duckdb")


def both(values: list, polars_of, sql_of, dtype=pl.String) -> tuple[list, list]:
    """(Polars's results, DuckDB's results) of one fact over `values` (column `v`)."""
    frame = pl.DataFrame({"v": values}, schema={"v": dtype})
    by_polars = frame.select(polars_of(pl.col("v")).alias("out"))["out"].to_list()
    con = load(frame)
    rows = run(con, f"SELECT i, {sql_of('v')} AS out FROM t ORDER BY i")
    return by_polars, [out for _, out in rows]


def padded(words: list[str]) -> st.SearchStrategy[str]:
    """One of `words` in any case, with spaces around it (as exports write them)."""
    return st.builds(
        lambda w, upper, left, right: " " * left + (w.upper() if upper else w) + " " * right,
        st.sampled_from(words),
        st.booleans(),
        st.integers(0, 2),
        st.integers(0, 2),
    )


TEXT = st.text(alphabet="aB1 ;,.@-:/", max_size=12)


@SETTINGS
@given(st.lists(padded(["true", "false", "yes", "No", "1", "0", "maybe", ""]) | TEXT, min_size=1))
def test_booleans(values: list[str]) -> None:
    v = d.bool_values(RULES.values)
    got = both(
        values,
        lambda e: d.BOOLEAN.polars({"value": e}, v),
        lambda s: d.BOOLEAN.sql({"value": s}, v),
    )
    assert got[0] == got[1]


def test_booleans_read_the_rules_spellings() -> None:
    values = [*RULES.values["true_values"], *RULES.values["false_values"], "perhaps", None]
    by_polars, by_sql = both(
        values,
        lambda e: d.BOOLEAN.polars({"value": e}, d.bool_values(RULES.values)),
        lambda s: d.BOOLEAN.sql({"value": s}, d.bool_values(RULES.values)),
    )
    assert by_polars == by_sql
    assert by_polars.count(True) == len(RULES.values["true_values"])
    assert by_polars[-2:] == [None, None]


# --------------------------------------------------------------------------- date-times

#: Each directive's values: mostly valid, sometimes out of range (the engines must agree on those).
PARTS = {
    "%Y": st.integers(1900, 2100).map(str),
    "%m": st.integers(0, 13)
    .map(lambda n: st.sampled_from([str(n), f"{n:02d}"]))
    .flatmap(lambda s: s),
    "%d": st.integers(0, 32)
    .map(lambda n: st.sampled_from([str(n), f"{n:02d}"]))
    .flatmap(lambda s: s),
    "%H": st.integers(0, 24).map(lambda n: f"{n:02d}"),
    "%I": st.integers(0, 13).map(str),
    "%M": st.integers(0, 60).map(lambda n: f"{n:02d}"),
    "%S": st.integers(0, 60).map(lambda n: f"{n:02d}"),
    "%.f": st.sampled_from(["", ".5", ".123456"]),
    "%#z": st.sampled_from(["Z", "+02:00", "-0530", "+01"]),
    "%p": st.sampled_from(["AM", "PM", "am", "pm"]),
}


@st.composite
def datetime_text(draw) -> str:
    """A value written in one of the declared formats (parts drawn at random)."""
    fmt = draw(st.sampled_from(d.DATETIME_FORMATS))
    out = fmt
    for directive in sorted(PARTS, key=len, reverse=True):
        while directive in out:
            out = out.replace(directive, draw(PARTS[directive]), 1)
    return out


def epochs(values: list[str]) -> tuple[list, list]:
    """The values read by classify (seconds since 1970) and by the query's date-time CTEs."""
    from lifecycle_cli.core.facts import parse_datetime
    from lifecycle_cli.core.sql import _timestamp_ctes

    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    parsed = frame.select(parse_datetime(pl.col("v").str.strip_chars()))["v"]
    by_polars = [None if t is None else t.replace(tzinfo=UTC).timestamp() for t in parsed]
    ctes = [
        ("__v", "SELECT i, NULLIF(TRIM(v), '') AS v FROM t"),
        *_timestamp_ctes("__v", "v", "__v", "duckdb"),
    ]
    with_sql = ", ".join(f"{name} AS ({body})" for name, body in ctes)
    by_sql = [
        ts for _, ts in run(load(frame), f"WITH {with_sql} SELECT i, ts FROM __v_ts ORDER BY i")
    ]
    return by_polars, by_sql


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(datetime_text(), min_size=1, max_size=20))
def test_date_times_in_every_format(values: list[str]) -> None:
    by_polars, by_sql = epochs(values)
    assert by_sql == pytest.approx(by_polars), list(zip(values, by_polars, by_sql, strict=True))


def test_every_format_reads_in_both() -> None:
    """One value per declared format: each reads, to the same instant in both engines."""
    values = [
        "2024-03-12T09:14:05Z",
        "2024-03-12T09:14:05.5+02:00",
        "2024-03-12 09:14:05-0530",
        "2024-03-12T09:14:05.25",
        "2024-03-12 09:14:05",
        "2024-03-12 09:14",
        "2024-03-12T09:14",
        "3/12/2024 9:14 PM",
        "3/12/2024 9:14:05 am",
        "3/12/2024 21:14",
        "3/12/2024",
        "12.03.2024 09:14",
        "12.03.2024 09:14:05",
        "12.03.2024",
        "2024-03-12",
    ]
    assert len(values) == len(d.DATETIME_FORMATS)
    by_polars, by_sql = epochs(values)
    assert None not in by_polars
    assert by_sql == pytest.approx(by_polars)


# --------------------------------------------------------------------------- ids, emails, stages


@SETTINGS
@given(st.lists(st.text(alphabet="12a ;,", min_size=1, max_size=12), min_size=1))
def test_id_lists_split_alike(values: list[str]) -> None:
    got = both(values, d.split_ids_polars, d.split_ids_sql)
    assert got[0] == got[1]


SALESFORCE_IDS = st.sampled_from(
    ["000000000000000AAA", "000000000000000", "001000000000001AAA", "001000000000001", "0010"]
) | st.text(alphabet="0aA", min_size=14, max_size=19)


@SETTINGS
@given(st.lists(SALESFORCE_IDS, min_size=1))
def test_null_ids_and_account_keys(values: list[str]) -> None:
    for polars_of, sql_of in (
        (d.not_null_id_polars, d.not_null_id_sql),
        (d.account_key_polars, d.account_key_sql),
    ):
        got = both(values, polars_of, sql_of)
        assert got[0] == got[1]


@SETTINGS
@given(st.lists(st.text(alphabet="aB@. ", max_size=10), min_size=1))
def test_email_domains(values: list[str]) -> None:
    got = both(values, d.email_domain_polars, d.email_domain_sql)
    assert got[0] == got[1]


@SETTINGS
@given(st.lists(padded([*RULES.stage_lookup(), "prospect", "MQL"]), min_size=1))
def test_current_stages(values: list[str]) -> None:
    lookup = RULES.stage_lookup()
    got = both(values, lambda e: d.stage_id_polars(e, lookup), lambda s: d.stage_id_sql(s, lookup))
    assert got[0] == got[1]


# --------------------------------------------------------------------------- deals


def table(rows: list[dict], schema=None) -> tuple[pl.DataFrame, duckdb.DuckDBPyConnection]:
    frame = pl.DataFrame(rows, schema=schema)
    return frame, load(frame)


def test_deal_outcome_for_every_combination_of_inputs() -> None:
    flags, stages = ("won_flag", "lost_flag", "closed"), tuple(d.STAGE_LISTS)
    rows = [
        dict(zip(flags + stages, combo, strict=True))
        for combo in itertools.product(*[[True, False, None]] * 3, *[[True, False]] * 3)
    ]
    frame, con = table(rows)
    by_polars = frame.select(d.DEAL_OUTCOME.polars({n: pl.col(n) for n in frame.columns}))
    sql = d.DEAL_OUTCOME.sql({n: n for n in frame.columns})
    by_sql = [out for _, out in run(con, f"SELECT i, {sql} FROM t ORDER BY i")]
    assert by_polars.to_series().to_list() == by_sql
    assert {d.WON, d.LOST, d.OPEN, None} == set(by_sql)


def test_one_empty_flags_for_every_combination() -> None:
    rows = [
        {"value": v, "empty": e, "only_true": o}
        for v, e, o in itertools.product([True, False, None], [True, False], [True, False])
    ]
    frame, con = table(rows)
    by_polars = frame.select(d.FLAG.polars({n: pl.col(n) for n in frame.columns})).to_series()
    sql = d.FLAG.sql({n: n for n in frame.columns})
    by_sql = [out for _, out in run(con, f"SELECT i, {sql} FROM t ORDER BY i")]
    assert by_polars.to_list() == by_sql


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.booleans()), min_size=1))
def test_deal_counts(deals: list[tuple[int, bool, bool]]) -> None:
    rows = [{"k": k, "won": won, "lost": lost and not won} for k, won, lost in deals]
    frame, con = table(rows)
    by_polars = (
        frame.group_by("k")
        .agg(d.deal_counts_polars(pl.col("won"), pl.col("lost")))
        .sort("k")
        .rows()
    )
    counts = ", ".join(d.deal_counts_sql("won", "lost", "FALSE"))
    by_sql = run(con, f"SELECT k, {counts} FROM t GROUP BY k ORDER BY k")
    assert by_polars == by_sql


# --------------------------------------------------------------------------- consent

EVENTS = st.lists(
    st.tuples(
        st.integers(0, 2),  # contact
        st.sampled_from([None, 1, 2]),  # timestamp: few, so that they tie
        st.booleans(),  # subscribed
        st.booleans(),  # double opt-in
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(EVENTS)
def test_the_latest_consent_event_and_its_ties(events: list) -> None:
    """Per contact: the latest event decides consent (on equal timestamps the later row), and a
    confirmation counts only if no lapse came after it. Both engines, against a plain reading."""
    rows = [{"k": k, "ts": ts, "subscribed": s, "doi": c} for k, ts, s, c in events]
    schema = {"k": pl.Int64, "ts": pl.Int64, "subscribed": pl.Boolean, "doi": pl.Boolean}
    frame, con = table(rows, schema)
    event = {n: pl.col(n) for n in ("subscribed", "doi")}
    places = {n: pl.col(n) for n in d.CONSENT_PLACES}
    at = d.event_place_polars(pl.col("ts"), pl.col("i"))
    by_polars = (
        frame.with_row_index("i")
        .group_by("k")
        .agg(d.consent_places_polars(at, event))
        .select("k", *(f.polars(places).alias(n) for n, f in d.CONSENT_BY_TYPE.items()))
        .sort("k")
        .rows()
    )
    place = d.event_place_sql("k", "ts", "i")
    agg = ", ".join(d.consent_places_sql("at", {"subscribed": "subscribed", "doi": "doi"}))
    by_type = ", ".join(
        f"{f.sql({p: p for p in d.CONSENT_PLACES})} AS {n}" for n, f in d.CONSENT_BY_TYPE.items()
    )
    by_sql = run(
        con,
        f"SELECT k, {by_type} FROM (SELECT k, {agg} FROM "
        f"(SELECT *, {place} AS at FROM t) AS p GROUP BY k) AS q ORDER BY k",
    )
    assert by_polars == by_sql

    expected = {}
    for k in sorted({r["k"] for r in rows}):
        mine = [
            (r["ts"] if r["ts"] is not None else float("-inf"), i, r) for i, r in enumerate(rows)
        ]
        mine = [r for _, _, r in sorted(e for e in mine if e[2]["k"] == k)]
        last_lapse = max((i for i, r in enumerate(mine) if not r["subscribed"]), default=-1)
        confirmed = any(r["doi"] for r in mine[last_lapse + 1 :])
        expected[k] = (mine[-1]["subscribed"], confirmed)
    assert by_sql == [(k, *v) for k, v in expected.items()]

"""`build_query`: the SQL classification gives every contact the stage and rule `lifecycle classify`
gives."""

from __future__ import annotations

import csv
import glob
import io
import os
import shlex
import shutil
import subprocess
import tempfile
from datetime import UTC
from functools import partial
from pathlib import Path

import pytest
import sqlglot
from conftest import EXAMPLES, ROOT, generate, made_once, missing_tool, read_csv, run_cli

from lifecycle_cli.core.sql import build_query, transpile
from lifecycle_cli.rules.model import load_rules, preset_path

try:
    import duckdb
except ImportError:  # a test dependency: only a local run without it may skip
    if os.environ.get("CI"):
        raise
    pytest.skip("duckdb is not installed", allow_module_level=True)

RULES = load_rules(ROOT / "rules.yaml")
#: (deals given, consent given): every combination of the optional sources.
SOURCES = [(True, True), (True, False), (False, True), (False, False)]
COMPARED = ("Record ID", "Lifecycle Stage", "Lifecycle Rule")


def headers_of(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh))


def query_for(folder: Path, dialect: str, deals: bool, consent: bool, rules=RULES) -> str:
    return build_query(
        rules,
        dialect=dialect,
        deals="deals" if deals else None,
        consent="consent" if consent else None,
        headers={
            name: headers_of(folder / f"{name}.csv") for name in ("contacts", "deals", "consent")
        },
    )


def classified(
    folder: Path,
    out: Path,
    deals: bool,
    consent: bool,
    *options: str,
    compared: tuple[str, str, str] = COMPARED,
) -> dict[str, tuple[str, str]]:
    """Record ID -> (stage label, rule) from the real CLI."""
    args = [folder / "contacts.csv", *options]
    if deals:
        args += ["--deals", folder / "deals.csv"]
    if consent:
        args += ["--consent", folder / "consent.csv"]
    run = run_cli("classify", *args, "-o", out, "--stage-values", "label", "-q")
    assert run.code in (0, 1), run.stderr
    key, stage, rule = compared
    return {row[key]: (row[stage], row[rule]) for row in read_csv(out)}


def by_record(
    columns: list[str], rows, compared: tuple[str, str, str] = COMPARED
) -> dict[str, tuple[str, str]]:
    at = [columns.index(name) for name in compared]
    return {row[at[0]]: (row[at[1]] or "", row[at[2]] or "") for row in rows}


def assert_same(got: dict, expected: dict) -> None:
    assert len(got) == len(expected)
    wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not wrong, (
        f"{len(wrong)} contacts differ (sql, classify), e.g. {dict(list(wrong.items())[:5])}"
    )


def run_duckdb(
    folder: Path, deals: bool, consent: bool, rules=RULES, compared=COMPARED
) -> tuple[list[str], list[tuple]]:
    con = duckdb.connect()
    for name in ("contacts", "deals", "consent"):
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_csv('{folder / name}.csv', "
            "all_varchar = true, header = true)"
        )
    cursor = con.execute(query_for(folder, "duckdb", deals, consent, rules))
    return [d[0] for d in cursor.description], cursor.fetchall()


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """40,000 contacts with their deals and consent events (benchmarks/generate.py), made once
    per run."""
    return made_once(tmp_path_factory, "generated_40k", lambda folder: generate(40_000, folder))


@pytest.fixture(scope="session")
def generated_expected(generated: Path, tmp_path_factory) -> dict[str, tuple[str, str]]:
    """classify's (stage, rule) of every record of `generated`, classified once per run."""
    folder = made_once(
        tmp_path_factory,
        "classified_40k",
        lambda folder: classified(generated, folder / "out.csv", True, True),
    )
    key, stage, rule = COMPARED
    return {row[key]: (row[stage], row[rule]) for row in read_csv(folder / "out.csv")}


# --------------------------------------------------------------------------- DuckDB


def test_duckdb_output_columns_are_classifys(tmp_path: Path) -> None:
    columns, rows = run_duckdb(EXAMPLES, True, True)
    classify_out = tmp_path / "out.csv"
    classified(EXAMPLES, classify_out, True, True)
    assert columns == headers_of(classify_out)
    expected = [tuple(row.get(c) or None for c in columns) for row in read_csv(classify_out)]
    assert sorted(rows, key=lambda r: r[0]) == sorted(expected, key=lambda r: r[0])


def test_without_headers_duckdb_selects_star_with_the_stage_replaced(tmp_path: Path) -> None:
    con = duckdb.connect()
    for name in ("contacts", "deals", "consent"):
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_csv('{EXAMPLES / name}.csv', "
            "all_varchar = true, header = true)"
        )
    cursor = con.execute(build_query(RULES, dialect="duckdb"))
    columns = [d[0] for d in cursor.description]
    assert columns == headers_of(EXAMPLES / "contacts.csv") + [
        "Previous Lifecycle Stage",
        "Lifecycle Rule",
        "Other Type",
    ]
    assert_same(
        by_record(columns, cursor.fetchall()),
        classified(EXAMPLES, tmp_path / "out.csv", True, True),
    )


# --------------------------------------------------------------------------- other dialects


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake", "postgres", "spark", "duckdb"])
@pytest.mark.parametrize(
    ("deals", "consent"), SOURCES, ids=lambda flag: "with" if flag else "without"
)
def test_query_transpiles_and_parses_back(dialect: str, deals: bool, consent: bool) -> None:
    sql = query_for(EXAMPLES, dialect, deals, consent)
    parsed = sqlglot.parse_one(sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(parsed, sqlglot.exp.Query)


@pytest.mark.parametrize("dialect", ["spark", "databricks", "snowflake"])
def test_no_window_moves_a_whole_table_into_one_partition(dialect: str) -> None:
    """Every window orders rows within one contact (or contact and subscription type): a window
    without PARTITION BY is what Spark runs on a single partition (with a warning) and BigQuery
    rejects as "resources exceeded". Rows are numbered without one (MONOTONICALLY_INCREASING_ID,
    SEQ8)."""
    sql = query_for(EXAMPLES, dialect, True, True)
    windows = list(sqlglot.parse_one(sql, read=dialect).find_all(sqlglot.exp.Window))
    assert windows, "the consent events are ordered per contact and type by a window"
    unpartitioned = [w.sql(dialect) for w in windows if not w.args.get("partition_by")]
    assert not unpartitioned, unpartitioned


def test_without_headers_dialects_lacking_star_replace_are_refused() -> None:
    with pytest.raises(ValueError, match="headers"):
        build_query(RULES, dialect="postgres")


# --------------------------------------------------------------------------- Spark


def run_spark(
    spark, folder: Path, deals: bool, consent: bool, rules=RULES, compared=COMPARED
) -> tuple[list[str], list[tuple]]:
    for name in ("contacts", "deals", "consent"):
        frame = spark.read.csv(
            str(folder / f"{name}.csv"),
            header=True,
            inferSchema=False,
            escape='"',
            encoding="UTF-8",
        )
        frame.createOrReplaceTempView(name)
    result = spark.sql(query_for(folder, "spark", deals, consent, rules))
    return result.columns, [
        tuple(row) for row in result.select(*(f"`{c}`" for c in compared)).collect()
    ]


# --------------------------------------------------------------------------- PostgreSQL


class Postgres:
    """A throwaway PostgreSQL server (unix socket only, in a temp dir), driven with psql.

    Postgres refuses to run as root: as root the server runs as the `postgres` system user
    (Debian's package creates it) and psql, as root, connects to it with trust auth.
    """

    def __init__(self) -> None:
        self.bin = self._binaries()
        self.psql = str(self.bin / "psql") if (self.bin / "psql").exists() else shutil.which("psql")
        self.as_user: list[str] = []
        owner = None
        if os.geteuid() == 0:
            import pwd

            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                missing_tool(
                    "the 'postgres' system user to run PostgreSQL as root (the package creates it)",
                    "postgresql",
                    "the postgres tests",
                )
            self.as_user = ["runuser", "-u", "postgres", "--"]
        # Not pytest's tmp_path: its parent is private to root, and a socket path must be short.
        self.dir = Path(tempfile.mkdtemp(prefix="lifecycle-pg-"))
        if owner is not None:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self.data, self.log = self.dir / "data", self.dir / "server.log"
        self.loaded: dict[Path, str] = {}
        # No TCP port, a socket only this session knows; durability off (the data is thrown away).
        # The time zone is not UTC (+12:45 / +13:45) on purpose: the results must not depend on it.
        options = [
            "-c",
            "listen_addresses=",
            "-k",
            str(self.dir),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "work_mem=64MB",
            "-c",
            "TimeZone=Pacific/Chatham",
            # No LLVM JIT: compiling the query's expressions took longer than running them.
            "-c",
            "jit=off",
        ]
        try:
            self._server(
                "initdb",
                "-D",
                self.data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            self._server(
                "pg_ctl",
                "-D",
                self.data,
                "-l",
                self.log,
                "-w",
                "-t",
                "60",
                "-o",
                shlex.join(options),
                "start",
            )
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _binaries() -> Path:
        found = sorted(
            (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        )
        on_path = shutil.which("pg_ctl")
        if on_path and (Path(on_path).parent / "postgres").exists():
            found.append(Path(on_path).parent)
        if not found or not (shutil.which("psql") or (found[-1] / "psql").exists()):
            missing_tool(
                "a local PostgreSQL server (no /usr/lib/postgresql/*/bin/postgres, or no psql)",
                "postgresql",
                "the postgres tests (-m 'not postgres' deselects them)",
            )
        return found[-1]

    def _server(self, program: str, *args: str | Path) -> None:
        cmd = [*self.as_user, str(self.bin / program), *map(str, args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            pytest.fail(f"{program} failed ({proc.returncode}):\n{proc.stderr[-3000:]}\n{log}")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._server("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def psql_script(self, script: str) -> str:
        cmd = [
            self.psql,
            "-h",
            str(self.dir),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
        ]
        proc = subprocess.run(
            cmd,
            input=script,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=600,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
                "PGCLIENTENCODING": "UTF8",
            },
        )
        assert proc.returncode == 0, f"psql failed ({proc.returncode}):\n{proc.stderr[-5000:]}"
        return proc.stdout

    def load(self, folder: Path) -> str:
        """The folder's contacts, deals and consent as text tables in a schema of their own
        (once)."""
        folder = folder.resolve()
        if folder not in self.loaded:
            schema = f"src{len(self.loaded)}"
            script = [f"CREATE SCHEMA {schema}; SET search_path TO {schema};"]
            for name in ("contacts", "deals", "consent"):
                path = folder / f"{name}.csv"
                columns = ", ".join(
                    f"{sqlglot.exp.to_identifier(h, quoted=True).sql('postgres')} text"
                    for h in headers_of(path)
                )
                script.append(f"CREATE UNLOGGED TABLE {name} ({columns});")
                # \copy reads the file on psql's side; HEADER skips the header row (and any BOM on
                # it).
                script.append(
                    f"\\copy {name} from {sqlglot.exp.Literal.string(str(path)).sql('postgres')} "
                    "with (format csv, header true, encoding 'UTF8')"
                )
                script.append(f"ANALYZE {name};")
            self.psql_script("\n".join(script) + "\n")
            self.loaded[folder] = schema
        return self.loaded[folder]

    def run(self, query: str, schema: str = "public") -> tuple[list[str], list[list[str]]]:
        """The query's result as CSV text (NULL and '' both read as '')."""
        out = self.psql_script(
            f"SET search_path TO {schema};\n"
            f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true);\n"
        )
        columns, *rows = list(csv.reader(io.StringIO(out, newline="")))
        return columns, rows


@pytest.fixture(scope="session")
def postgres():
    server = Postgres()
    try:
        yield server
    finally:
        server.stop()


def run_postgres(
    postgres: Postgres, folder: Path, deals: bool, consent: bool, rules=RULES, compared=COMPARED
) -> tuple[list[str], list[list[str]]]:
    return postgres.run(query_for(folder, "postgres", deals, consent, rules), postgres.load(folder))


@pytest.mark.postgres
def test_postgres_output_is_classifys(postgres, tmp_path: Path) -> None:
    columns, rows = run_postgres(postgres, EXAMPLES, True, True)
    classify_out = tmp_path / "out.csv"
    classified(EXAMPLES, classify_out, True, True)
    expected = [[row.get(c) or "" for c in columns] for row in read_csv(classify_out)]
    assert sorted(rows) == sorted(expected)


# --------------------------------------------------------------------------- every engine

ENGINES = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("spark", id="spark", marks=pytest.mark.spark),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


#: (engine, deals, consent) for the tests run with and without each file. Spark runs only the
#: query with both (the largest: every CTE transpiled); the others are the same query text with
#: CTEs left out, which DuckDB and PostgreSQL run, and each Spark run costs seconds.
ENGINE_SOURCES = [
    pytest.param(
        engine.values[0], deals, consent,
        id=f"{'with' if deals else 'without'}-{'with' if consent else 'without'}-{engine.id}",
        marks=engine.marks,
    )
    for engine in ENGINES
    for deals, consent in SOURCES
    if engine.id != "spark" or (deals and consent)
]  # fmt: skip


@pytest.fixture
def engine(request):
    """Run the emitted query for (folder, deals, consent) on one engine: its output columns,
    and the (stage, rule) of every record id."""
    name = request.param
    if name == "duckdb":
        run = run_duckdb
    elif name == "spark":
        run = partial(run_spark, request.getfixturevalue("spark"))
    else:
        run = partial(run_postgres, request.getfixturevalue("postgres"))

    def records(
        folder: Path, deals: bool, consent: bool, rules=RULES, compared=COMPARED
    ) -> tuple[list[str], dict[str, tuple[str, str]]]:
        columns, rows = run(folder, deals, consent, rules, compared)
        # run_spark fetches only the compared columns (collecting every generated row is slow).
        return columns, by_record(list(compared) if name == "spark" else columns, rows, compared)

    return records


@pytest.mark.parametrize(("engine", "deals", "consent"), ENGINE_SOURCES, indirect=["engine"])
def test_query_matches_classify_on_examples(
    engine, tmp_path: Path, deals: bool, consent: bool
) -> None:
    columns, got = engine(EXAMPLES, deals, consent)
    expected = classified(EXAMPLES, tmp_path / "out.csv", deals, consent)
    assert columns == headers_of(tmp_path / "out.csv")
    assert_same(got, expected)


SALESFORCE_COMPARED = ("Id", "Lifecycle_Stage__c", "Lifecycle Rule")


@pytest.fixture(scope="module")
def salesforce_exports(tmp_path_factory) -> Path:
    """examples/salesforce as the engines load it: contacts, deals (the opportunities) and a consent
    file."""
    folder = tmp_path_factory.mktemp("salesforce")
    (folder / "contacts.csv").write_bytes((EXAMPLES / "salesforce" / "contacts.csv").read_bytes())
    (folder / "deals.csv").write_bytes((EXAMPLES / "salesforce" / "opportunities.csv").read_bytes())
    (folder / "consent.csv").write_text(
        "ContactId,Email,Subscription type,Status,Double opt-in,Timestamp\n"
        "0035g00000XyZhAAAV,,Marketing Information,Subscribed,true,2024-05-02T10:00:00Z\n"
        ",hana.sato@mail.example,Marketing Information,Subscribed,true,2024-06-01T08:30:00Z\n",
        encoding="utf-8",
    )
    return folder


@pytest.mark.parametrize(("engine", "deals", "consent"), ENGINE_SOURCES, indirect=["engine"])
def test_query_matches_classify_with_the_salesforce_preset(
    engine, salesforce_exports: Path, tmp_path: Path, deals: bool, consent: bool
) -> None:
    """Opportunities linked through the account, and a contacts table without a stage column."""
    rules = load_rules(preset_path("salesforce"))
    columns, got = engine(salesforce_exports, deals, consent, rules, SALESFORCE_COMPARED)
    expected = classified(
        salesforce_exports,
        tmp_path / "out.csv",
        deals,
        consent,
        "--preset",
        "salesforce",
        compared=SALESFORCE_COMPARED,
    )
    assert columns == headers_of(tmp_path / "out.csv")
    assert_same(got, expected)
    if deals:  # an account's won opportunity made its contacts Customers in both
        assert got["0035g00000XyZbAAAV"] == ("Customer", "customer")


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_query_matches_classify_on_40k_generated_contacts(
    engine, generated: Path, generated_expected: dict
) -> None:
    _, got = engine(generated, True, True)
    assert_same(got, generated_expected)


# --------------------------------------------------------------------------- date-times

#: Consent timestamps as exports write them, and values that are not date-times.
DATETIMES = [
    "2024-03-12T09:14:00Z",
    "2024-03-12T09:14:00.250Z",
    "2024-03-12 09:14:05",
    "2024-03-12 09:14",
    "2024-03-12T09:14",
    "2024-03-12",
    "2024-03-12T09:14:00+02:00",
    "2024-03-01T00:30:00+01:00",
    "2023-12-31T23:30:00-01:30",
    "3/15/2024 2:30 PM",
    "3/15/2024 12:05 AM",
    "12/1/2024 12:59 PM",
    "3/15/2024 2:30:15 PM",
    "3/15/2024 14:30",
    "3/15/2024",
    "2024-02-29 23:59",
    "1969-12-31 23:59",
    "not a date",
    "2024-13-01",
    "3/15/2024 13:30 PM",
    "2024-02-30 10:00",
    "2023-02-29",
    "2024-03-12 24:00",
    "2024-3-5 9:05",
    "2024-03-12   09:14",
    "2024-03-12T09:14:00+0530",
    "2024-03-12T09:14:00.5+05",
    "12.03.2024 09:14",
    "12.03.2024 09:14:05",
    "31.04.2024",
    "",
]


def epoch_sql(dialect: str, *, template: bool = False) -> str:
    """DATETIMES parsed as the consent timestamps are (lifecycle_cli.core.sql's CTEs for
    `dialect`); `template`: the CTEs written for `dialect`, generated for DuckDB (the template's
    own dialect) to run there."""
    from lifecycle_cli.core.sql import TEMPLATE_DIALECT, _timestamp_ctes

    assert TEMPLATE_DIALECT == "duckdb"
    values = " UNION ALL ".join(
        f"SELECT {i} AS i, {sqlglot.exp.Literal.string(v).sql()} AS v"
        for i, v in enumerate(DATETIMES)
    )
    ctes = [
        ("__v", f"SELECT i, NULLIF(TRIM(v), '') AS v FROM ({values}) AS t"),
        *_timestamp_ctes("__v", "v", "__v", dialect),
    ]
    with_ctes = ", ".join(f"{name} AS ({body})" for name, body in ctes)
    query = f"WITH {with_ctes} SELECT i, ts FROM __v_ts ORDER BY i"
    return transpile(query, TEMPLATE_DIALECT if template else dialect)


def expected_epochs() -> list[float | None]:
    import polars as pl

    from lifecycle_cli.core.facts import parse_datetime

    parsed = pl.DataFrame({"v": DATETIMES}).select(
        parse_datetime(pl.col("v").str.strip_chars()).alias("ts")
    )["ts"]
    return [None if t is None else t.replace(tzinfo=UTC).timestamp() for t in parsed]


def test_duckdb_parses_date_times_as_classify_does() -> None:
    got = [ts for _, ts in duckdb.connect().execute(epoch_sql("duckdb")).fetchall()]
    assert got == pytest.approx(expected_epochs(), nan_ok=False)


def test_date_times_matched_a_format_first_then_a_part_per_call_as_classify_reads_them() -> None:
    """The CTEs match the formats differently per dialect: DuckDB takes every part of the first
    format that matches in one call, PostgreSQL matches each format once, and the others
    (BigQuery allows one capturing group) find the format first, then take one part per call.
    That last way, run as its DuckDB template, reads every value as classify does."""
    query = epoch_sql("bigquery", template=True)
    got = [ts for _, ts in duckdb.connect().execute(query).fetchall()]
    assert got == pytest.approx(expected_epochs(), nan_ok=False)


@pytest.mark.spark
def test_spark_parses_date_times_as_classify_does(spark) -> None:
    got = [row["ts"] for row in spark.sql(epoch_sql("spark")).collect()]
    assert got == pytest.approx(expected_epochs())


@pytest.mark.postgres
def test_postgres_parses_date_times_as_classify_does(postgres) -> None:
    _, rows = postgres.run(epoch_sql("postgres"))
    got = [None if ts == "" else float(ts) for _, ts in rows]
    assert got == pytest.approx(expected_epochs())


def test_lifecycle_sql_command_runs_on_duckdb(tmp_path: Path) -> None:
    """`lifecycle sql` through the real entry point: the printed query classifies the examples like
    classify."""
    query_file = tmp_path / "classify.sql"
    run = run_cli(
        "sql",
        "--dialect",
        "duckdb",
        "--contacts-header",
        EXAMPLES / "contacts.csv",
        "--deals-header",
        EXAMPLES / "deals.csv",
        "--consent-header",
        EXAMPLES / "consent.csv",
        "-o",
        query_file,
    )
    assert run.code == 0, run.stderr
    printed = run_cli(
        "sql",
        "--dialect",
        "duckdb",
        "--contacts-header",
        EXAMPLES / "contacts.csv",
        "--deals-header",
        EXAMPLES / "deals.csv",
        "--consent-header",
        EXAMPLES / "consent.csv",
    )
    assert printed.stdout == query_file.read_text(encoding="utf-8")
    con = duckdb.connect()
    for name in ("contacts", "deals", "consent"):
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_csv('{EXAMPLES / name}.csv', "
            "all_varchar = true, header = true)"
        )
    cursor = con.execute(query_file.read_text(encoding="utf-8"))
    got = by_record([d[0] for d in cursor.description], cursor.fetchall())
    assert_same(got, classified(EXAMPLES, tmp_path / "out.csv", True, True))


def test_lifecycle_sql_needs_headers_for_spark() -> None:
    run = run_cli("sql", "--dialect", "spark")
    assert run.code == 2 and "--contacts-header" in run.stderr and "Traceback" not in run.stderr

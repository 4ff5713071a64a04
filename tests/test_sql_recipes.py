"""README "Run the rules in a warehouse or on Spark": its commands and recipes, run as written.

The exports live in a temporary folder instead of /data/hubspot (the recipes' folder); DuckDB,
Spark (the shared local session of test_sql.py) and PostgreSQL (test_sql.py's throwaway server)
run them and must give every contact classify's stage and rule. BigQuery and Snowflake cannot
run here: `bq` and `snowsql` are stand-ins that keep what they are given, and everything the
recipes send them must parse with sqlglot in that dialect.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from conftest import EXAMPLES, ROOT, read_csv, run_cli
from test_sql import (  # noqa: F401 (postgres: the fixture, shared rather than started again)
    assert_same,
    by_record,
    headers_of,
    postgres,
)

from lifecycle_cli.core.sql_assumed import assumed_comment

duckdb = pytest.importorskip("duckdb")

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[
    README.index("## Run the rules in a warehouse or on Spark") : README.index("### dbt\n")
]
#: Where the recipes keep the exports.
FOLDER = "/data/hubspot"
BIN = Path(sys.executable).parent  #: lifecycle and a python3 with sqlglot (pip install -e)
TABLES = ("contacts", "deals", "consent")


def block(kind: str, containing: str) -> str:
    """The section's one fenced block of `kind` holding `containing`."""
    found = [b for b in re.findall(rf"```{kind}\n(.*?)```", SECTION, flags=re.S) if containing in b]
    assert len(found) == 1, (
        f"expected one ```{kind} block with {containing!r} in the README section"
    )
    return found[0]


def in_folder(text: str, folder: Path) -> str:
    return text.replace(FOLDER, str(folder))


def run_sh(script: str, folder: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """A recipe's shell lines, as bash runs them, with lifecycle and python3 of this install."""
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", in_folder(script, folder)],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
            "PATH": f"{BIN}:{os.environ['PATH']}",
            **(env or {}),
        },
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def run_python(code: str, folder: Path) -> None:
    exec(compile(in_folder(code, folder), "README.md", "exec"), {"__name__": "__recipe__"})


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """examples/ with a line break and quotes inside quoted fields (an owner's note, a deal name):
    what Spark reads wrongly without multiLine and escape."""
    folder = tmp_path / "hubspot"
    folder.mkdir()
    for name, column, value in (
        ("contacts", "Contact owner", 'Anna "A." Berg\nSales, EMEA'),
        ("deals", "Deal Name", 'Renewal "2025"\nsecond line'),
    ):
        rows = read_csv(EXAMPLES / f"{name}.csv")
        rows[0][column] = value
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    shutil.copy(EXAMPLES / "consent.csv", folder / "consent.csv")
    (folder / "text_tables.py").write_text(block("python", "text_tables.py DIALECT"))
    return folder


def load_duckdb(con, table: str, path: Path, select: str = "*") -> None:
    con.execute(
        f"CREATE TABLE {table} AS SELECT {select} FROM read_csv('{path}', all_varchar = true)"
    )


def expected(folder: Path, tmp_path: Path, stage_values: str = "label") -> dict:
    """Record ID -> (stage, rule) from `lifecycle classify` on the folder's three exports."""
    out = tmp_path / "classify-out.csv"
    run = run_cli(
        "classify", folder / "contacts.csv", "--deals", folder / "deals.csv",
        "--consent", folder / "consent.csv", "-o", out, "--stage-values", stage_values, "-q",
    )  # fmt: skip
    assert run.code in (0, 1), run.stderr
    return {r["Record ID"]: (r["Lifecycle Stage"], r["Lifecycle Rule"]) for r in read_csv(out)}


def result_of(path: Path) -> tuple[list[str], dict[str, tuple[str, str]]]:
    rows = read_csv(path)
    return list(rows[0]), by_record(list(rows[0]), [list(r.values()) for r in rows])


# --------------------------------------------------------------------------- the headline command


def test_readme_command_runs_as_written_on_the_examples(tmp_path: Path) -> None:
    """The section's first command, in a folder holding examples/*.csv: no assumed column, and
    the Snowflake query parses; the same line for DuckDB classifies like classify."""
    command = SECTION.split("```sh\n", 1)[1].split("```", 1)[0]
    assert command == (
        "lifecycle sql --dialect snowflake --contacts-header contacts.csv "
        "--deals-header deals.csv \\\n    --consent-header consent.csv > classify.sql\n"
    )
    for name in TABLES:
        shutil.copy(EXAMPLES / f"{name}.csv", tmp_path / f"{name}.csv")
    done = run_sh(command, tmp_path)
    assert done.stderr == ""
    query = (tmp_path / "classify.sql").read_text(encoding="utf-8")
    assert not query.startswith("--") and 'FROM "CONTACTS" AS c' in query
    assert isinstance(
        sqlglot.parse_one(query, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE),
        sqlglot.exp.Query,
    )
    run_sh(command.replace("snowflake", "duckdb").replace("classify.sql", "q.sql"), tmp_path)
    con = duckdb.connect()
    for name in TABLES:
        load_duckdb(con, name, tmp_path / f"{name}.csv")
    cursor = con.execute((tmp_path / "q.sql").read_text(encoding="utf-8"))
    got = by_record([d[0] for d in cursor.description], cursor.fetchall())
    assert_same(got, expected(tmp_path, tmp_path))


# --------------------------------------------------------------------------- assumed columns


def test_without_deal_and_consent_headers_the_query_names_what_it_assumed(tmp_path: Path) -> None:
    run = run_cli("sql", "--dialect", "duckdb", "--contacts-header", EXAMPLES / "contacts.csv")
    assert run.code == 0, run.stderr
    comment = run.stdout[: run.stdout.index("WITH ")]
    assert comment.startswith(
        "-- lifecycle sql assumed these columns (no header file for deals, consent)"
    )
    assert all(line.startswith("--") for line in comment.splitlines())
    for column in (
        'deals."Deal Stage" (stage)',
        'deals."Is Deal Closed?" (is_closed)',
        'deals."Associated Contact IDs" (contact_ids)',
        'consent."Double opt-in" (double_opt_in)',
        'consent."Timestamp" (timestamp)',
    ):
        assert f"--   {column}\n" in comment
    assert "contacts." not in comment  # its header file was given
    assert "Associated Contact Email" not in comment  # the query does not read it
    assert "--deals-header FILE --consent-header FILE" in comment
    assert "no header file for deals, consent" in run.stderr and "--deals-header FILE" in run.stderr
    # The commented query runs, and as the examples have every assumed column, like classify.
    con = duckdb.connect()
    for name in TABLES:
        load_duckdb(con, name, EXAMPLES / f"{name}.csv")
    cursor = con.execute(run.stdout)
    got = by_record([d[0] for d in cursor.description], cursor.fetchall())
    assert_same(got, expected(EXAMPLES, tmp_path))


def test_without_any_header_every_table_is_assumed_and_a_missing_column_is_named() -> None:
    run = run_cli("sql", "--dialect", "duckdb", "--contacts-table", "crm.people", "--no-consent")
    assert run.code == 0, run.stderr
    assert '--   crm.people."Lifecycle Stage" (stage)\n' in run.stdout
    assert "--contacts-header FILE --deals-header FILE\n" in run.stdout
    assert "consent." not in run.stdout.split("WITH ", 1)[0]
    # A deals table without an assumed column: the query fails naming the column the comment lists.
    con = duckdb.connect()
    con.execute("CREATE SCHEMA crm")
    load_duckdb(con, "crm.people", EXAMPLES / "contacts.csv")
    load_duckdb(con, "deals", EXAMPLES / "deals.csv", '* EXCLUDE ("Is Deal Closed?")')
    assert '--   deals."Is Deal Closed?" (is_closed)\n' in run.stdout
    with pytest.raises(duckdb.BinderException, match="Is Deal Closed"):
        con.execute(run.stdout)
    # With the headers given, nothing is assumed and the missing column is unknown, as in classify.
    full = run_cli(
        "sql", "--dialect", "duckdb", "--contacts-header", EXAMPLES / "contacts.csv",
        "--deals-header", EXAMPLES / "deals.csv", "--consent-header", EXAMPLES / "consent.csv",
    )  # fmt: skip
    assert full.code == 0 and full.stderr == "" and full.stdout.startswith("WITH ")


def test_a_header_with_a_line_break_stays_inside_the_comment() -> None:
    comment = assumed_comment([("deals", 'deals."Deal\nStage\u2028x"', "stage")])
    assert all(line.startswith("--") for line in comment.splitlines())
    assert 'deals."Deal\\nStage\\u2028x" (stage)' in comment


# --------------------------------------------------------------------------- DuckDB


@pytest.mark.parametrize("stage_values", ["label", "value"])
def test_duckdb_recipe(exports: Path, tmp_path: Path, stage_values: str) -> None:
    script = block("sh", "--dialect duckdb")
    if stage_values == "value":
        script = script.replace("-o classify.sql", "--stage-values value -o classify.sql")
    run_sh(script, exports)
    run_python(block("python", "import duckdb"), exports)
    columns, got = result_of(exports / "reclassified.csv")
    want = expected(exports, tmp_path, stage_values)
    assert columns == headers_of(tmp_path / "classify-out.csv")
    assert_same(got, want)
    assert got["51234567899"] == (
        ("Customer", "customer") if stage_values == "label" else ("customer", "customer")
    )


# --------------------------------------------------------------------------- Spark


def spark_result(folder: Path) -> tuple[list[str], dict[str, tuple[str, str]]]:
    rows, columns = [], None
    for part in sorted((folder / "reclassified").glob("part-*.csv")):
        with part.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            columns = next(reader, columns)
            rows += list(reader)
    return columns, by_record(columns, rows)


@pytest.mark.spark
def test_spark_recipe(spark, exports: Path, tmp_path: Path) -> None:  # noqa: F811
    run_sh(block("sh", "--dialect spark"), exports)
    run_python(block("python", "from pyspark.sql import SparkSession"), exports)
    columns, got = spark_result(exports)
    want = expected(exports, tmp_path)
    assert columns == headers_of(tmp_path / "classify-out.csv")
    assert_same(got, want)


@pytest.mark.spark
def test_spark_sql_view_options(spark, exports: Path, tmp_path: Path) -> None:  # noqa: F811
    """The Spark SQL form of the CSV options, as the README writes it for contacts."""
    (view,) = re.findall(
        r"`(CREATE TEMPORARY VIEW contacts USING csv OPTIONS \(.*?\))`", SECTION, re.S
    )
    run_sh(block("sh", "--dialect spark"), exports)
    view = in_folder(" ".join(view.split()), exports)
    for name in TABLES:
        spark.sql(
            view.replace(
                "CREATE TEMPORARY VIEW contacts", f"CREATE OR REPLACE TEMPORARY VIEW {name}"
            ).replace("contacts.csv", f"{name}.csv")
        )
    result = spark.sql((exports / "classify.sql").read_text(encoding="utf-8"))
    got = by_record(result.columns, [tuple(r) for r in result.collect()])
    assert_same(got, expected(exports, tmp_path))


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_recipe(postgres, exports: Path, tmp_path: Path) -> None:  # noqa: F811
    schema = "recipe_" + re.sub(r"\W", "_", tmp_path.name.lower())
    postgres.psql_script(f"CREATE SCHEMA {schema};\n")
    env = {
        "PGHOST": str(postgres.dir),
        "PGUSER": "postgres",
        "PGDATABASE": "postgres",
        "PGOPTIONS": f"-c search_path={schema}",
        "PGCLIENTENCODING": "UTF8",
        "PATH": f"{BIN}:{Path(postgres.psql).parent}:{os.environ['PATH']}",
    }
    script = block("sh", "--dialect postgres")
    run_sh(script, exports, env)
    columns, got = result_of(exports / "reclassified.csv")
    want = expected(exports, tmp_path)
    assert columns == headers_of(tmp_path / "classify-out.csv")
    assert_same(got, want)
    # Run again (a new export): the recipe replaces its tables.
    run_sh(script, exports, env)
    assert result_of(exports / "reclassified.csv")[1] == got


# --------------------------------------------------------------------------- BigQuery, Snowflake


def stand_ins(folder: Path, *programs: str) -> Path:
    """`bq` / `snowsql` that keep their arguments and stdin, and the -f files they are given."""
    bin_dir = folder / "stand-ins"
    bin_dir.mkdir()
    for program in programs:
        path = bin_dir / program
        path.write_text(
            "#!/bin/sh\n"
            f'n=$(ls "{bin_dir}"/{program}.*.args 2>/dev/null | wc -l)\n'
            f'printf "%s\\n" "$@" > "{bin_dir}/{program}.$n.args"\n'
            f'if [ ! -t 0 ]; then cat > "{bin_dir}/{program}.$n.stdin"; fi\n'
            f'for a in "$@"; do [ -f "$a" ] && cp "$a" "{bin_dir}/{program}.$n.file"; done\n'
            "exit 0\n",
            encoding="utf-8",
        )
        path.chmod(0o755)
    return bin_dir


def statements(sql: str, dialect: str) -> list[sqlglot.exp.Expression]:
    parsed = sqlglot.parse(sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    return [p for p in parsed if p is not None]


def test_bigquery_recipe_parses(exports: Path, tmp_path: Path) -> None:
    bin_dir = stand_ins(exports, "bq")
    run_sh(
        block("sh", "--dialect bigquery"),
        exports,
        {"PATH": f"{bin_dir}:{BIN}:{os.environ['PATH']}"},
    )
    tables = (bin_dir / "bq.0.stdin").read_text(encoding="utf-8")
    assert tables == (exports / "tables.sql").read_text(encoding="utf-8")
    created = [s for s in statements(tables, "bigquery") if isinstance(s, sqlglot.exp.Create)]
    assert [c.this.this.name for c in created] == list(TABLES)
    deals = next(c for c in created if c.this.this.name == "deals")
    columns = {d.this.name: d.args["kind"].sql("bigquery") for d in deals.this.expressions}
    assert set(columns.values()) == {"STRING"} and "Is Deal Closed_" in columns
    assert headers_of(exports / "deals.columns.csv") == list(columns)
    loads = [(bin_dir / f"bq.{i}.args").read_text().split("\n") for i in (1, 2, 3)]
    assert [a[-3:-1] for a in loads] == [[f"crm.{t}", f"{t}.csv"] for t in TABLES]
    assert all("--allow_quoted_newlines" in a for a in loads)
    run = (bin_dir / "bq.4.stdin").read_text(encoding="utf-8")
    (create,) = statements(run, "bigquery")
    assert (
        isinstance(create, sqlglot.exp.Create) and create.this.sql("bigquery") == "crm.reclassified"
    )
    assert "`crm`.`deals`" in run and "`Is Deal Closed_`" in run and "`Is Deal Closed?`" not in run
    # Read back by sqlglot as DuckDB's SQL, on tables named as BigQuery's: classify's answer.
    con = duckdb.connect()
    con.execute("CREATE SCHEMA crm")
    for name in TABLES:
        names = ", ".join(
            sqlglot.exp.Literal.string(h).sql("duckdb")
            for h in headers_of(exports / f"{name}.columns.csv")
        )
        con.execute(
            f"CREATE TABLE crm.{name} AS SELECT * FROM read_csv('{exports / name}.csv', "
            f"header = true, all_varchar = true, names = [{names}])"
        )
    cursor = con.execute(
        sqlglot.transpile(create.expression.sql("bigquery"), read="bigquery", write="duckdb")[0]
    )
    got = by_record([d[0] for d in cursor.description], cursor.fetchall())
    assert_same(got, expected(exports, tmp_path))


def test_snowflake_recipe_parses(exports: Path) -> None:
    load = block("sql", "CREATE OR REPLACE FILE FORMAT lifecycle_csv")
    (exports / "snowflake_load.sql").write_text(in_folder(load, exports), encoding="utf-8")
    bin_dir = stand_ins(exports, "snowsql")
    run_sh(
        block("sh", "snowsql -o exit_on_error"),
        exports,
        {"PATH": f"{bin_dir}:{BIN}:{os.environ['PATH']}"},
    )
    run = (bin_dir / "snowsql.0.file").read_text(encoding="utf-8")
    parsed = statements(run, "snowflake")
    kinds = [type(p).__name__ for p in parsed]
    assert kinds == ["Drop", "Create"] * 3 + [
        "Create",
        "Create",
        "Put",
        "Copy",
        "Copy",
        "Copy",
        "Create",
    ]
    assert (
        parsed[1].this.this.name == "contacts"
        and parsed[1].this.expressions[0].args["kind"].sql("snowflake") == "VARCHAR"
    )
    assert f"file://{exports}/*.csv" in parsed[8].sql("snowflake")
    assert isinstance(parsed[-1].expression, sqlglot.exp.Query)
    assert 'FROM "CONTACTS" AS c' in run and '"DEALS" AS d' in run
    read = (bin_dir / "snowsql.1.args").read_text()
    assert "output_format=csv" in read and "SELECT * FROM reclassified" in read

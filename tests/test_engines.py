"""`classify --engine duckdb|spark`: the same run as the default (Polars) engine, byte for byte.

Every real shape of tests/real_shapes/ (the stops included) and examples/ is classified on
Polars and on the engine, each in a private copy of its folder, with `--format json`: the exit
code, the JSON report (its run time aside, which SOURCE_DATE_EPOCH fixes) and the reclassified
file must be the same. The real Typer app runs in this process (a subprocess per run would
double the time); for Spark it finds the one local session the whole test run shares (starting
Spark's JVM costs seconds). The real command runs in a subprocess in one test per engine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CLI_ENV, EXAMPLES, ROOT, Run, run_cli
from typer.testing import CliRunner

from lifecycle_cli.cli import app

SHAPES_DIR = ROOT / "tests" / "real_shapes"
SHAPES = sorted(p.name for p in SHAPES_DIR.iterdir() if (p / "expected.yaml").is_file())
EXAMPLE_ARGS = ["contacts.csv", "--deals", "deals.csv", "--consent", "consent.csv"]
#: Shapes Spark runs in this process (each costs seconds there): the Salesforce Data Export, with
#: its account link and deleted rows; examples/ runs as the real command. DuckDB runs them all,
#: stops included, on the same query text.
SPARK_SHAPES = ["n_salesforce_data_export"]


def case(name: str) -> tuple[Path, list[str]]:
    if name == "examples":
        return EXAMPLES, EXAMPLE_ARGS
    spec = yaml.safe_load((SHAPES_DIR / name / "expected.yaml").read_text(encoding="utf-8"))
    return SHAPES_DIR / name, spec["args"]


def copy_of(folder: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("expected.yaml"))
    return target


def classify_args(args: list[str], *engine: str) -> list[str]:
    return ["classify", *args, "-o", "out.csv", "--format", "json", *engine]


def outcome(folder: Path, run: Run) -> tuple[int, str, bytes | None]:
    out = folder / "out.csv"
    return run.code, run.stdout, out.read_bytes() if out.exists() else None


def assert_same(name: str, polars, engine, engine_run: Run) -> None:
    assert engine[0] == polars[0], (
        f"{name}: exit {engine[0]} on the engine, {polars[0]} on Polars\n{engine_run.stderr}"
    )
    assert engine[1] == polars[1], f"{name}: the JSON reports differ"
    assert engine[2] == polars[2], f"{name}: the reclassified files differ"


def in_process(args: list[str], folder: Path, monkeypatch) -> Run:
    """The real Typer app in this process, in `folder`, as run_cli runs it."""
    monkeypatch.chdir(folder)
    for name, value in CLI_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LIFECYCLE_RULES", raising=False)
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize("name", [*SHAPES, "examples"])
def test_duckdb_engine_gives_classifys_run(name, tmp_path, monkeypatch):
    folder, args = case(name)
    on_polars = copy_of(folder, tmp_path, "polars")
    on_duckdb = copy_of(folder, tmp_path, "duckdb")
    polars_run = in_process(classify_args(args), on_polars, monkeypatch)
    duckdb_run = in_process(classify_args(args, "--engine", "duckdb"), on_duckdb, monkeypatch)
    assert polars_run.code in (0, 1, 2), polars_run.stderr
    assert_same(name, outcome(on_polars, polars_run), outcome(on_duckdb, duckdb_run), duckdb_run)
    assert duckdb_run.stderr == polars_run.stderr


def test_duckdb_engine_agrees_on_generated_exports(tmp_path, monkeypatch):
    """10,000 generated contacts (every boolean spelling, date format, link kind and consent
    history the generator makes): the same JSON report and the same file."""
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--contacts", "10000",
         "--seed", "7", "--out", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    args = ["contacts.csv", "--deals", "deals.csv", "--consent", "consent.csv"]
    runs = {}
    for engine in ("polars", "duckdb"):
        out = f"out.{engine}.csv"
        run = in_process(
            ["classify", *args, "-o", out, "--format", "json", "--engine", engine],
            tmp_path,
            monkeypatch,
        )
        assert run.code == 0, run.stderr
        runs[engine] = (run.stdout.replace(out, "OUT"), (tmp_path / out).read_bytes())
    assert runs["duckdb"] == runs["polars"]


def test_duckdb_engine_checks_repeated_ids_and_keeps_the_first(tmp_path):
    """A repeated Record ID stops the run on the engine as on Polars; with --on-duplicate
    keep-first the later row is left out of the output, on both."""
    lines = (EXAMPLES / "contacts.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    for engine in ("polars", "duckdb"):
        folder = tmp_path / engine
        folder.mkdir()
        (folder / "contacts.csv").write_text("".join([*lines, lines[3]]), encoding="utf-8")
        stop = run_cli("classify", "contacts.csv", "-o", "out.csv", "--engine", engine, cwd=folder)
        assert stop.code == 2 and "Record ID" in stop.stderr and "same id" in stop.stderr
        assert not (folder / "out.csv").exists()
        kept = run_cli(
            "classify", "contacts.csv", "-o", "out.csv", "--on-duplicate", "keep-first",
            "--engine", engine, cwd=folder,
        )  # fmt: skip
        assert kept.code == 0, kept.stderr
    assert (tmp_path / "polars" / "out.csv").read_bytes() == (
        tmp_path / "duckdb" / "out.csv"
    ).read_bytes()
    assert len((tmp_path / "duckdb" / "out.csv").read_text(encoding="utf-8").splitlines()) == len(
        lines
    )


def test_spark_master_needs_the_spark_engine():
    run = run_cli("classify", str(EXAMPLES / "contacts.csv"), "--spark-master", "local[1]")
    assert run.code == 2
    assert "--spark-master is for --engine spark" in run.stderr


# --------------------------------------------------------------------------- Spark


@pytest.mark.spark
@pytest.mark.parametrize("name", SPARK_SHAPES)
def test_spark_engine_gives_classifys_run(name, tmp_path, spark, monkeypatch):
    folder, args = case(name)
    on_polars = copy_of(folder, tmp_path, "polars")
    on_spark = copy_of(folder, tmp_path, "spark")
    polars_run = in_process(classify_args(args), on_polars, monkeypatch)
    spark_run = in_process(classify_args(args, "--engine", "spark"), on_spark, monkeypatch)
    assert_same(name, outcome(on_polars, polars_run), outcome(on_spark, spark_run), spark_run)
    assert spark.getActiveSession() is not None, "the engine stopped a session it did not start"


@pytest.mark.spark
def test_spark_engine_from_the_command_line(tmp_path, spark):
    """The real command starts its own local Spark, keeps Spark's log lines out of the report
    and stdout, and writes what Polars writes (with --changes and the HubSpot import files)."""
    del spark  # the fixture only checks that Java and pyspark are here
    outputs = {}
    for engine in ("polars", "spark"):
        folder = copy_of(EXAMPLES, tmp_path, engine)
        run = run_cli(
            "classify", *EXAMPLE_ARGS, "-o", "-", "--changes", "changes.csv",
            "--hubspot-import", "import", "--engine", engine, cwd=folder,
            # The JVM's quick compiler only: the run is short (as the spark fixture's JVM).
            env={"JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1"},
        )  # fmt: skip
        assert run.code == 0, run.stderr
        outputs[engine] = (
            run.stdout,
            run.stderr,
            (folder / "changes.csv").read_bytes(),
            sorted((p.name, p.read_bytes()) for p in (folder / "import").iterdir()),
        )
    assert outputs["spark"] == outputs["polars"]


def parquet_examples(folder: Path) -> list[str]:
    """examples/ written as Parquet (every column text, as an export loaded into a lake)."""
    import polars as pl

    folder.mkdir()
    for name in ("contacts", "deals", "consent"):
        frame = pl.read_csv(EXAMPLES / f"{name}.csv", infer_schema=False)
        frame.write_parquet(folder / f"{name}.parquet")
    return ["contacts.parquet", "--deals", "deals.parquet", "--consent", "consent.parquet"]


def test_duckdb_engine_reads_parquet_as_classify_does(tmp_path, monkeypatch):
    engine = "duckdb"
    args = parquet_examples(tmp_path / "data")
    runs = {}
    for name in ("polars", engine):
        out = f"out.{name}.parquet"
        run = in_process(
            ["classify", *args, "-o", out, "--format", "json", "--engine", name],
            tmp_path / "data",
            monkeypatch,
        )
        assert run.code == 0, run.stderr
        runs[name] = (run.stdout.replace(out, "OUT"), (tmp_path / "data" / out).read_bytes())
    assert runs[engine] == runs["polars"]


def test_an_engine_that_is_not_installed_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "duckdb", None)  # `import duckdb` fails
    run = in_process(
        ["classify", str(EXAMPLES / "contacts.csv"), "-o", "out.csv", "--engine", "duckdb"],
        tmp_path,
        monkeypatch,
    )
    assert run.code == 2
    assert "pip install 'lifecycle-cli[duckdb]'" in run.stderr
    assert not (tmp_path / "out.csv").exists()


def test_duckdb_engine_names_the_column_that_would_link(tmp_path, monkeypatch):
    """A consent file whose link columns have other names stops on both engines with the same
    hint: which of its columns holds the contacts' emails (the engine then reads them back)."""
    import csv

    rows = list(csv.reader((EXAMPLES / "consent.csv").open(encoding="utf-8", newline="")))
    rows = [row[1:] for row in rows]  # no Contact ID
    rows[0][0] = "Mail of person"  # was Email
    runs = {}
    for engine in ("polars", "duckdb"):
        folder = tmp_path / engine
        folder.mkdir()
        shutil.copy(EXAMPLES / "contacts.csv", folder)
        with (folder / "consent.csv").open("w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerows(rows)
        args = ["classify", "contacts.csv", "--consent", "consent.csv", "-o", "out.csv"]
        runs[engine] = in_process([*args, "--engine", engine], folder, monkeypatch)
        assert runs[engine].code == 2
        assert "column 'Mail of person' holds contact emails" in runs[engine].stderr
    assert runs["duckdb"].stderr == runs["polars"].stderr


# --------------------------------------------------------------------------- tables as inputs

TABLES = ("contacts", "deals", "consent")
TABLE_ARGS = ["table:crm.contacts", "--deals", "table:crm.deals", "--consent", "table:crm.consent"]
PARQUET_ARGS = ["contacts.parquet", "--deals", "deals.parquet", "--consent", "consent.parquet"]


def warehouse(folder: Path) -> Path:
    """examples/ as the tables crm.contacts, crm.deals and crm.consent of a DuckDB database,
    typed as DuckDB reads the CSVs (Record IDs as BIGINT, dates as TIMESTAMP), and each table
    exported as Parquet beside it."""
    import duckdb

    folder.mkdir()
    database = folder / "warehouse.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE SCHEMA crm")
        for name in TABLES:
            con.execute(f"CREATE TABLE crm.{name} AS FROM read_csv('{EXAMPLES / name}.csv')")
            con.execute(f"COPY crm.{name} TO '{folder / name}.parquet' (FORMAT parquet)")
    return database


def report_without_inputs(run: Run) -> dict:
    import json

    report = json.loads(run.stdout)
    del report["files"]  # the inputs as given, and the output
    return report


def test_duckdb_engine_reads_a_databases_tables_as_classify_reads_them_exported(
    tmp_path, monkeypatch
):
    """`table:NAME` inputs with --database: the same run as on the tables' Parquet exports, the
    inputs named as given, and the database left as it was."""
    import hashlib

    database = warehouse(tmp_path / "data")
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    json_out = ["--format", "json"]
    tables = in_process(
        ["classify", *TABLE_ARGS, "--engine", "duckdb", "--database", database.name]
        + ["-o", "out.tables.csv", *json_out],
        database.parent,
        monkeypatch,
    )
    files = in_process(
        ["classify", *PARQUET_ARGS, "-o", "out.files.csv", *json_out], database.parent, monkeypatch
    )
    assert tables.code == files.code == 0, tables.stderr
    assert (tmp_path / "data" / "out.tables.csv").read_bytes() == (
        tmp_path / "data" / "out.files.csv"
    ).read_bytes()
    assert report_without_inputs(tables) == report_without_inputs(files)
    assert '"contacts": "table:crm.contacts"' in tables.stdout
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["table:crm.contacts", "-o", "o.csv"], "a table is read by --engine duckdb"),
        (
            ["table:crm.contacts", "--engine", "duckdb", "-o", "o.csv"],
            "give the database with --database FILE",
        ),
        (
            ["table:crm.contacts", "--engine", "duckdb", "--database", "warehouse.duckdb"],
            "give -o/--output FILE (CSV or Parquet), or --check",
        ),
        (
            [
                "table:crm.nope",
                "--engine",
                "duckdb",
                "--database",
                "warehouse.duckdb",
                "-o",
                "o.csv",
            ],
            "table:crm.nope: DuckDB could not read the table from warehouse.duckdb",
        ),
        (
            ["table:crm.contacts; DROP TABLE crm.deals", "--engine", "duckdb"]
            + ["--database", "warehouse.duckdb", "-o", "o.csv"],
            "'crm.contacts; DROP TABLE crm.deals' is not a table name",
        ),
        (
            ["contacts.parquet", "--database", "warehouse.duckdb", "-o", "o.csv"],
            "--database is for --engine duckdb",
        ),
    ],
    ids=["default-engine", "no-database", "no-output", "no-such-table", "not-a-name", "no-engine"],
)
def test_table_inputs_that_cannot_run_stop_with_what_to_give(args, expected, tmp_path, monkeypatch):
    database = warehouse(tmp_path / "data")
    run = in_process(["classify", *args], database.parent, monkeypatch)
    assert run.code == 2
    assert expected in run.stderr
    assert not (database.parent / "o.csv").exists()


@pytest.mark.spark
def test_spark_engine_reads_the_catalogs_tables_as_classify_reads_them_exported(
    tmp_path, spark, monkeypatch
):
    """The contacts and deals as views of the session (a consent table is read by the same
    function; in the suite each Spark query costs time)."""
    folder = tmp_path / "data"
    parquet_examples(folder)
    for name in TABLES[:2]:
        spark.read.parquet(str(folder / f"{name}.parquet")).createOrReplaceTempView(f"hs_{name}")
    runs = {}
    for engine, inputs in (
        ("spark", ["table:hs_contacts", "--deals", "table:hs_deals"]),
        ("polars", ["contacts.parquet", "--deals", "deals.parquet"]),
    ):
        out = f"out.{engine}.csv"
        args = ["classify", *inputs, "-o", out, "--format", "json", "--engine", engine]
        run = in_process(args, folder, monkeypatch)
        assert run.code == 0, run.stderr
        runs[engine] = (report_without_inputs(run), (folder / out).read_bytes())
    assert runs["spark"] == runs["polars"]


def test_duckdb_spills_into_the_runs_private_folder_and_removes_it(tmp_path, monkeypatch):
    """What DuckDB cannot hold in memory goes to the engine's own scratch folder, not to
    DuckDB's default `.tmp` in the current folder (a cron job's folder may be read-only)."""
    from lifecycle_cli.io.engines import DuckDBEngine

    monkeypatch.chdir(tmp_path)
    engine = DuckDBEngine()
    engine.con.execute("SET memory_limit = '30MB'")
    engine.con.execute(
        "CREATE TABLE big AS SELECT range AS i, md5(range::VARCHAR) AS h FROM range(2000000)"
    )
    spill = Path(engine.con.sql("SELECT current_setting('temp_directory')").fetchall()[0][0])
    assert engine.con.sql("SELECT COUNT(DISTINCT h) FROM big").fetchall() == [(2_000_000,)]
    scratch = spill.parent
    assert scratch.name.startswith("lifecycle-engine-")
    assert spill.is_dir()  # it did spill
    assert list(tmp_path.iterdir()) == []  # and not here (DuckDB's own default: ./.tmp)
    engine.close()
    assert not scratch.exists()

"""`lifecycle dbt`: the models it writes, built by real dbt-core and dbt-duckdb, classify every
contact as `lifecycle classify` does, and their dbt tests pass."""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from conftest import ROOT, read_csv, run_cli

duckdb = pytest.importorskip("duckdb")
pl = pytest.importorskip("polars")
if not (Path(sys.executable).parent / "dbt").exists() and not os.environ.get("CI"):
    pytest.skip("dbt-core is not installed (pip install -e '.[test]')", allow_module_level=True)

#: What is compared for every contact: the new stage, the deciding rule and the Other Type.
COMPARED = ("Lifecycle Stage", "Lifecycle Rule", "Other Type")
CONTACTS = 2000

PROJECT = """name: lifecycle_test
version: "1.0"
profile: lifecycle_test
model-paths: ["models"]
"""
PROFILES = """lifecycle_test:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{path}"
      schema: main
      threads: 1
"""


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    """A few thousand HubSpot-shaped contacts with deals and consent (benchmarks/generate.py)."""
    out = tmp_path_factory.mktemp("exports")
    generate = ROOT / "benchmarks" / "generate.py"
    subprocess.run(
        [sys.executable, str(generate), "--contacts", str(CONTACTS), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def classified(folder: Path, out: Path, *sources: str) -> dict[str, tuple[str, ...]]:
    """Record ID -> (stage, rule, Other Type) from the real `lifecycle classify`."""
    args = [folder / "contacts.csv"]
    for source in sources:
        args += [f"--{source}", folder / f"{source}.csv"]
    run = run_cli("classify", *args, "-o", out, "--stage-values", "label", "-q")
    assert run.code in (0, 1), run.stderr
    return {row["Record ID"]: tuple(row.get(c) or "" for c in COMPARED) for row in read_csv(out)}


def dbt_project(path: Path, database: Path) -> Path:
    path.mkdir()
    (path / "models").mkdir()
    (path / "dbt_project.yml").write_text(PROJECT)
    (path / "profiles.yml").write_text(PROFILES.format(path=database))
    return path


def dbt_build(project: Path) -> subprocess.CompletedProcess:
    """`dbt build` (models, then their tests) in a subprocess, as a user runs it."""
    dbt = Path(sys.executable).parent / "dbt"
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    return subprocess.run(
        [str(dbt), "build", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        cwd=project,
        env=env,
        timeout=600,
    )


def built(database: Path) -> dict[str, tuple[str, ...]]:
    """Record ID -> (stage, rule, Other Type) from the table dbt built."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        columns = ", ".join(f'"{c}"' for c in ("Record ID", *COMPARED))
        rows = con.execute(f"SELECT {columns} FROM main.lifecycle_contacts").fetchall()
    finally:
        con.close()
    return {row[0]: tuple(v or "" for v in row[1:]) for row in rows}


def assert_same(got: dict, expected: dict) -> None:
    assert len(got) == len(expected)
    wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not wrong, f"{len(wrong)} contacts differ (dbt, classify): {list(wrong.items())[:5]}"


def assert_built(run: subprocess.CompletedProcess, models: int) -> None:
    """Every model built and every dbt test (unique, not_null, accepted_values) passed."""
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert f"PASS={models + 4} WARN=0 ERROR=0 SKIP=0" in run.stdout, run.stdout[-2000:]
    assert "Deprecated" not in run.stdout, run.stdout[-3000:]


def test_export_models_build_and_match_classify(exports: Path, tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(database))
    for name in ("contacts", "deals", "consent"):
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv('{exports / name}.csv', "
            "all_varchar = true, header = true)"
        )
    con.close()
    project = dbt_project(tmp_path / "project", database)
    headers = []
    for name in ("contacts", "deals", "consent"):
        headers += [f"--{name}-header", exports / f"{name}.csv"]
    models = project / "models" / "lifecycle"
    run = run_cli("dbt", models, "--dialect", "duckdb", *headers)
    assert run.code == 0, run.stderr
    assert sorted(p.name for p in models.iterdir()) == [
        "lifecycle_contacts.sql",
        "lifecycle_sources.yml",
        "schema.yml",
    ]
    assert_built(dbt_build(project), models=1)
    expected = classified(exports, tmp_path / "classified.csv", "deals", "consent")
    assert_same(built(database), expected)


def test_existing_files_are_kept_without_force(tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert run_cli("dbt", models, "--dialect", "duckdb").code == 0
    (models / "schema.yml").write_text("mine")
    run = run_cli("dbt", models, "--dialect", "duckdb")
    assert run.code == 2
    assert "already there; give --force" in run.stderr
    assert (models / "schema.yml").read_text() == "mine"
    assert run_cli("dbt", models, "--dialect", "duckdb", "--force").code == 0
    assert "accepted_values" in (models / "schema.yml").read_text()


def _generator():
    spec = importlib.util.spec_from_file_location("generate", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Fivetran contact column -> the export column it carries (what the connector syncs).
FIVETRAN_CONTACT = {
    "id": "Record ID",
    "property_email": "Email",
    "property_firstname": "First Name",
    "property_lastname": "Last Name",
    "property_lifecyclestage": "Lifecycle Stage",
    "property_hs_lead_status": "Lead Status",
    "property_notes_last_contacted": "Last Contacted",
    "property_hs_email_optout": "Unsubscribed from all email",
    "property_hs_emailconfirmationstatus": "Marketing email confirmation status",
    "property_contact_type": "Contact type",  # a custom property, named by the header file
    "property_company": "Contact owner",  # a property the rules do not read
}


def fivetran_tables(exports: Path, database: Path, reference: Path) -> None:
    """Fivetran's HubSpot tables in `database` (schema hubspot) built from the exports, and in
    `reference` the exports as those tables tell them (what classify is given)."""
    contacts = pl.read_csv(exports / "contacts.csv", infer_schema=False)
    deals = pl.read_csv(exports / "deals.csv", infer_schema=False)
    generate = _generator()
    stages = generate.DEAL_STAGES
    won = {stages[i] for i in (10, 11, 17)}
    lost = {stages[i] for i in (12, 13, 18)}

    contact = contacts.select(
        pl.col(source).alias(column) for column, source in FIVETRAN_CONTACT.items()
    ).with_columns(pl.col("id").cast(pl.Int64), _fivetran_deleted=pl.lit(False))
    # Deleted in HubSpot: synced with the flag set, never a contact.
    gone = contact.head(5).with_columns(
        pl.col("id") + 1_000_000_000, _fivetran_deleted=pl.lit(True)
    )
    contact = pl.concat([contact, gone])

    deal = deals.select(
        deal_id=pl.col("Record ID").cast(pl.Int64),
        is_deleted=pl.lit(False),
        deal_pipeline_id=pl.col("Pipeline"),
        deal_pipeline_stage_id=pl.col("Deal Stage"),
        property_dealname=pl.col("Deal Name"),
    )
    links = (
        deals.select(
            deal_id=pl.col("Record ID").cast(pl.Int64),
            contact_id=pl.col("Associated Contact IDs").str.replace_all(",", ";").str.split(";"),
        )
        .explode("contact_id")
        .with_columns(pl.col("contact_id").str.strip_chars())
        .filter(pl.col("contact_id").str.contains(r"^\d+$"))
        .with_columns(pl.col("contact_id").cast(pl.Int64))
        .unique()
    )
    # A deleted won deal of a contact: Fivetran keeps it with is_deleted, it decides nothing.
    first = links.row(0, named=True)
    deal = pl.concat(
        [
            deal,
            pl.DataFrame(
                {
                    "deal_id": [1],
                    "is_deleted": [True],
                    "deal_pipeline_id": ["default"],
                    "deal_pipeline_stage_id": ["closedwon"],
                    "property_dealname": ["deleted"],
                }
            ),
        ]
    )
    links = pl.concat([links, pl.DataFrame({"deal_id": [1], "contact_id": [first["contact_id"]]})])
    stage = (
        deals.select(pipeline_id="Pipeline", stage_id="Deal Stage")
        .drop_nulls()
        .unique()
        .with_columns(
            label=pl.col("stage_id"),
            closed_won=pl.col("stage_id").is_in(won),
            is_closed=pl.col("stage_id").is_in(won | lost),
            _fivetran_deleted=pl.lit(False),
        )
    )

    con = duckdb.connect(str(database))
    con.execute("CREATE SCHEMA hubspot")
    for name, frame in (
        ("contact", contact),
        ("deal", deal),
        ("deal_contact", links),
        ("deal_pipeline_stage", stage),
    ):
        parquet = database.parent / f"{name}.parquet"  # keeps the types: ids, booleans, text
        frame.write_parquet(parquet)
        con.execute(f"CREATE TABLE hubspot.{name} AS SELECT * FROM read_parquet('{parquet}')")
    con.close()

    # The same facts as exports: what the staging models must turn the tables into.
    reference.mkdir()
    contact.filter(~pl.col("_fivetran_deleted")).select(
        pl.col(column).cast(pl.String).alias(source)
        for column, source in FIVETRAN_CONTACT.items()
        if column != "property_company"
    ).write_csv(reference / "contacts.csv")
    ids = links.group_by("deal_id").agg(
        pl.col("contact_id").cast(pl.String).sort().str.join(";").alias("Associated Contact IDs")
    )
    flags = stage.select(
        "pipeline_id", "stage_id", "label", "closed_won", "is_closed"
    ).with_columns(pl.col("closed_won", "is_closed").cast(pl.String).str.to_lowercase())
    deal.filter(~pl.col("is_deleted")).join(
        flags,
        left_on=["deal_pipeline_id", "deal_pipeline_stage_id"],
        right_on=["pipeline_id", "stage_id"],
        how="left",
    ).join(ids, on="deal_id", how="left").select(
        pl.col("deal_id").cast(pl.String).alias("Record ID"),
        pl.col("property_dealname").alias("Deal Name"),
        pl.coalesce("label", "deal_pipeline_stage_id").alias("Deal Stage"),
        pl.col("deal_pipeline_id").alias("Pipeline"),
        pl.col("closed_won").alias("Is Closed Won"),
        pl.col("is_closed").alias("Is Deal Closed?"),
        "Associated Contact IDs",
    ).write_csv(reference / "deals.csv")


def test_fivetran_models_build_and_match_classify(exports: Path, tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    reference = tmp_path / "reference"
    fivetran_tables(exports, database, reference)
    header = tmp_path / "contact_columns.csv"
    with header.open("w", newline="") as fh:
        csv.writer(fh).writerow(["_fivetran_deleted", "_fivetran_synced", *FIVETRAN_CONTACT])
    project = dbt_project(tmp_path / "project", database)
    models = project / "models" / "lifecycle"
    run = run_cli(
        "dbt", models, "--dialect", "duckdb", "--source", "fivetran-hubspot",
        "--contacts-header", header,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert_built(dbt_build(project), models=3)
    expected = classified(reference, tmp_path / "classified.csv", "deals")
    assert_same(built(database), expected)
    # Every contact that is not deleted, and only those; the deleted won deal is no deal.
    assert len(expected) == CONTACTS
    con = duckdb.connect(str(database), read_only=True)
    try:
        deleted = "SELECT count(*) FROM main.stg_lifecycle__deals WHERE \"Record ID\" = '1'"
        assert con.execute(deleted).fetchone() == (0,)
    finally:
        con.close()


def rendered(model: str) -> str:
    """A model as dbt compiles it, with each source() or ref() as a plain table name."""
    model = re.sub(r"\{\{ config\([^}]*\) \}\}", "", model)
    model = re.sub(r"\{\{ (?:source|ref)\(([^)]*)\) \}\}", _table, model)
    return model.replace("{% raw %}", "").replace("{% endraw %}", "")


def _table(call: re.Match) -> str:
    return ".".join(part.strip(" '") for part in call.group(1).split(","))


@pytest.mark.parametrize("dialect", ["snowflake", "bigquery", "postgres", "spark", "databricks"])
def test_fivetran_models_are_written_for_every_dialect(tmp_path: Path, dialect: str) -> None:
    models = tmp_path / "models"
    run = run_cli("dbt", models, "--dialect", dialect, "--source", "fivetran-hubspot")
    assert run.code == 0, run.stderr
    model = (models / "lifecycle_contacts.sql").read_text()
    assert "{{ ref('stg_lifecycle__contacts') }}" in model
    assert "{{ ref('stg_lifecycle__deals') }}" in model
    deals = (models / "stg_lifecycle__deals.sql").read_text()
    for table in ("deal", "deal_contact", "deal_pipeline_stage"):
        assert f"{{{{ source('lifecycle_hubspot', '{table}') }}}}" in deals
    assert "lifecycle_dbt_input" not in model + deals
    for name in ("lifecycle_contacts", "stg_lifecycle__contacts", "stg_lifecycle__deals"):
        sqlglot.parse_one(rendered((models / f"{name}.sql").read_text()), read=dialect)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dialect", "spark"], "needs --contacts-header FILE"),
        (
            ["--dialect", "duckdb", "--source", "fivetran-hubspot", "--no-deals"],
            "always reads the deals",
        ),
        (
            ["--dialect", "duckdb", "--source", "fivetran-hubspot", "--deals-header", "{h}"],
            "has no column 'deal_id'",
        ),
    ],
)
def test_what_cannot_be_written_stops_with_exit_2(tmp_path: Path, args, message) -> None:
    header = tmp_path / "deal_columns.csv"
    header.write_text("id,property_dealname\n")
    models = tmp_path / "models"
    run = run_cli("dbt", models, *(a.format(h=header) for a in args))
    assert run.code == 2
    assert message in run.stderr
    assert not models.exists()

"""--changes and --companies-changes: the full list of changed records, one row each."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
from conftest import (
    CHANGES,
    EXAMPLES,
    OK,
    USAGE,
    invoke_assert_code,
    read_csv,
    stage_id,
    write_csv,
)

HEADER = ["Record ID", "Name", "Stage Before", "Stage After", "Direction", "Rule", "Other Type"]
DIRECTIONS = {"promotion", "demotion", "sideways", "newly_staged", "cleared"}
LABELS = {
    "other": "Other",
    "customer": "Customer",
    "opportunity": "Opportunity",
    "sales_lead": "Sales Lead",
    "marketing_lead": "Marketing Lead",
    "lead": "Lead",
    "evangelist": "Evangelist",
    "subscriber": "Subscriber",
    "": "",
}


def _classify(folder: Path, *extra: str, code: int = OK):
    return invoke_assert_code(
        code,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        *extra,
        cwd=folder,
    )


def test_every_changed_contact_is_listed_once(examples: Path) -> None:
    _classify(
        examples,
        "--changes",
        "changes.csv",
        "--report",
        "report.json",
        "--report",
        "report.md",
        "-q",
    )
    report = json.loads((examples / "report.json").read_text())
    rows = read_csv(examples / "changes.csv")
    header = (examples / "changes.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == HEADER
    assert len(rows) == report["summary"]["changed"] == 38
    # The same contacts as the reclassified file filtered on its previous-stage column.
    out = read_csv(examples / "contacts.reclassified.csv")
    moved = {
        r["Record ID"]: r
        for r in out
        if stage_id(r["Lifecycle Stage"]) != stage_id(r["Previous Lifecycle Stage"])
    }
    assert {r["Record ID"] for r in rows} == set(moved)
    for row in rows:
        was = moved[row["Record ID"]]
        assert row["Stage Before"] == LABELS[stage_id(was["Previous Lifecycle Stage"])]
        assert row["Stage After"] == LABELS[stage_id(was["Lifecycle Stage"])]
        assert row["Rule"] == was["Lifecycle Rule"]
        assert row["Other Type"] == was["Other Type"]
        assert row["Name"] == f"{was['First Name']} {was['Last Name']}".strip()
        assert row["Direction"] in DIRECTIONS
    # The move the issue names: a Customer who became Other is in the list.
    karl = next(r for r in rows if r["Record ID"] == "51234567821")
    assert (karl["Stage Before"], karl["Stage After"], karl["Direction"]) == (
        "Customer",
        "Other",
        "sideways",
    )
    counts = {d: sum(r["Direction"] == d for r in rows) for d in DIRECTIONS}
    s = report["summary"]
    assert [counts[k] for k in ("promotion", "demotion", "sideways", "newly_staged")] == [
        s["promotions"],
        s["demotions"],
        s["sideways"],
        s["newly_staged"],
    ]
    assert report["files"]["changes"] == "changes.csv"
    assert "the full list of changes is changes.csv" in (examples / "report.md").read_text()


def test_parquet_and_companies(examples: Path) -> None:
    shutil.copy(EXAMPLES / "companies.csv", examples / "companies.csv")
    run = _classify(
        examples,
        "--companies",
        "companies.csv",
        "--changes",
        "changes.parquet",
        "--companies-changes",
        "companies-changes.csv",
        "--format",
        "markdown",
    )
    contacts = pl.read_parquet(examples / "changes.parquet")
    assert contacts.columns == HEADER and contacts.height == 38
    companies = read_csv(examples / "companies-changes.csv")
    by_id = {r["Record ID"]: r for r in companies}
    # Companies are named, with the rule that decided.
    assert by_id["20456781006"]["Name"] == "Litware"
    assert (
        by_id["20456781006"]["Stage Before"],
        by_id["20456781006"]["Stage After"],
        by_id["20456781006"]["Direction"],
    ) == ("Opportunity", "Sales Lead", "demotion")
    assert by_id["20456781011"]["Direction"] == "newly_staged"
    assert by_id["20456781011"]["Stage Before"] == ""
    assert all(
        r["Rule"].startswith("company-") or r["Rule"] in ("sticky", "kept-unknown")
        for r in companies
    )
    assert "the full list of changes is changes.parquet" in run.stdout
    assert "the companies' is companies-changes.csv" in run.stdout


def test_redact_leaves_names_out(examples: Path) -> None:
    _classify(examples, "--changes", "changes.csv", "--redact", "-q")
    rows = read_csv(examples / "changes.csv")
    assert list(rows[0]) == [h for h in HEADER if h != "Name"]
    text = (examples / "changes.csv").read_text(encoding="utf-8")
    assert "Vogel" not in text and "@" not in text
    # The same from the rules file.
    rules = (EXAMPLES.parent / "rules.yaml").read_text(encoding="utf-8")
    assert "report:\n  redact: false\n" in rules
    rules = rules.replace("report:\n  redact: false\n", "report:\n  redact: true\n")
    (examples / "rules.yaml").write_text(rules, encoding="utf-8")
    _classify(examples, "--changes", "changes2.csv", "--rules", "rules.yaml", "-q")
    assert "Name" not in read_csv(examples / "changes2.csv")[0]


def test_without_changes_the_report_names_the_filter(examples: Path) -> None:
    run = _classify(examples, "--format", "markdown")
    assert (
        "the full list of changes is contacts.reclassified.csv, filtered on rows whose "
        "'Previous Lifecycle Stage' differs from their stage; --changes FILE writes them "
        "alone"
    ) in run.stdout


def test_written_with_the_others_or_not_at_all(examples: Path) -> None:
    before = {p.name: p.read_bytes() for p in examples.iterdir()}
    run = _classify(examples, "--check", "--changes", "changes.csv", code=USAGE)
    assert "--check writes nothing" in run.stderr and "--changes" in run.stderr
    run = _classify(examples, "--changes", "missing/changes.csv", code=USAGE)
    assert "missing/changes.csv" in run.stderr and "does not exist" in run.stderr
    run = _classify(examples, "--changes", "deals.csv", code=USAGE)
    assert "would overwrite the input" in run.stderr
    run = _classify(examples, "--changes", "x.csv", "--companies-changes", "y.csv", code=USAGE)
    assert "--companies-changes needs --companies" in run.stderr
    run = _classify(examples, "--changes", "-", code=USAGE)
    assert "--changes -: stdout is not supported here; give a file name" in run.stderr
    run = invoke_assert_code(
        USAGE, "diff", "contacts.csv", "contacts.csv", "--changes", "-", cwd=examples
    )
    assert "--changes -" in run.stderr
    # Nothing was written by any of them: no reclassified file, no list.
    assert {p.name: p.read_bytes() for p in examples.iterdir()} == before


def test_diff_lists_added_and_removed(tmp_path: Path, examples: Path) -> None:
    _classify(examples, "-q")
    after = read_csv(examples / "contacts.reclassified.csv")
    headers = list(after[0])
    removed = after.pop(3)["Record ID"]
    after.append(
        {**after[0], "Record ID": "51234599990", "First Name": "New", "Last Name": "Person"}
    )
    write_csv(tmp_path / "after.csv", headers, after)
    run = invoke_assert_code(
        OK,
        "diff",
        examples / "contacts.csv",
        tmp_path / "after.csv",
        "--changes",
        tmp_path / "d.csv",
        "--format",
        "json",
    )
    summary = json.loads(run.stdout)["summary"]
    rows = read_csv(tmp_path / "d.csv")
    by_id = {r["Record ID"]: r for r in rows}
    assert by_id["51234599990"]["Direction"] == "added"
    added = by_id["51234599990"]
    assert added["Name"] == "New Person" and added["Stage Before"] == ""
    assert by_id[removed]["Direction"] == "removed" and by_id[removed]["Stage After"] == ""
    assert sum(r["Direction"] == "added" for r in rows) == summary["added"] == 1
    assert sum(r["Direction"] == "removed" for r in rows) == summary["removed"] == 1
    moved = [r for r in rows if r["Direction"] not in ("added", "removed")]
    assert len(moved) == summary["changed"]
    assert all(r["Rule"] for r in moved)  # the reclassified file's rule column


def test_diff_gate_still_applies_with_changes(tmp_path: Path, examples: Path) -> None:
    _classify(examples, "-q")
    run = invoke_assert_code(
        CHANGES,
        "diff",
        "contacts.csv",
        "contacts.reclassified.csv",
        "--changes",
        tmp_path / "d.parquet",
        "--fail-on",
        "demotion",
        cwd=examples,
    )
    assert "--fail-on demotion" in run.stderr
    frame = pl.read_parquet(tmp_path / "d.parquet")
    assert frame.filter(pl.col("Direction") == "demotion").height == 10

"""`lifecycle diff` and the --fail-on gates, through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CHANGES, CONTACT_HEADERS, OK, ROOT, USAGE, invoke_assert_code, write_csv

from lifecycle_cli.core.diff import diff, diff_columns
from lifecycle_cli.io.sources import read_source
from lifecycle_cli.rules.model import load_rules

RULES = load_rules(ROOT / "rules.yaml", str(ROOT / "rules.yaml"))


def export(path: Path, rows: list[tuple[str, str]], **extra: str) -> Path:
    """A contacts export with (Record ID, Lifecycle Stage) rows."""
    return write_csv(
        path,
        CONTACT_HEADERS,
        [
            {"Record ID": i, "Lifecycle Stage": s, "Email": f"{i}@x.example", **extra}
            for i, s in rows
        ],
    )


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    before = export(
        tmp_path / "before.csv",
        [
            ("1", "lead"),
            ("2", "Marketing Qualified Lead"),
            ("3", "customer"),
            ("4", "SQL"),
            ("5", "opportunity"),
            ("6", "lead"),
        ],
    )
    # Same CRM a week later, written with labels instead of internal values: 1 promoted, 2 demoted,
    # 3 unchanged (other spelling), 4 -> Other, 5 removed, 7 added.
    after = export(
        tmp_path / "after.csv",
        [
            ("1", "Customer"),
            ("2", "Lead"),
            ("3", "Customer"),
            ("4", "Other"),
            ("6", "LEAD"),
            ("7", "Lead"),
        ],
    )
    return before, after


def test_diff_counts_every_kind_of_change(pair, tmp_path: Path) -> None:
    run = invoke_assert_code(OK, "diff", *pair, "--format", "json")
    data = json.loads(run.stdout)
    s = data["summary"]
    assert (s["rows_before"], s["rows_after"], s["added"], s["removed"], s["common"]) == (
        6,
        6,
        1,
        1,
        5,
    )
    assert (s["changed"], s["promotions"], s["demotions"], s["sideways"], s["unchanged"]) == (
        3,
        1,
        1,
        1,
        2,
    )
    moves = {(t["from"], t["to"]): (t["count"], t["direction"]) for t in data["transitions"]}
    assert moves[("lead", "customer")] == (1, "promotion")
    assert moves[("marketing_lead", "lead")] == (1, "demotion")
    assert moves[("sales_lead", "other")] == (1, "sideways")
    assert moves[("customer", "customer")] == (1, "unchanged")
    assert {r["record_id"] for r in data["samples"]} == {"1", "2", "4"}
    assert data["samples"][0]["to"] == "lead"  # demotions first


def test_json_equals_the_result_object(pair) -> None:
    run = invoke_assert_code(OK, "diff", *pair, "--format", "json", "--rules", ROOT / "rules.yaml")
    columns = diff_columns(RULES, None, None)
    result = diff(
        read_source(str(pair[0]), "contacts", columns),
        read_source(str(pair[1]), "contacts", columns),
        RULES,
    )
    report = json.loads(run.stdout)
    assert (
        report.pop("run")["at"] == "2026-01-01T00:00:00Z"
    )  # added by the CLI (SOURCE_DATE_EPOCH in run_cli)
    assert report == result.to_dict()


@pytest.mark.parametrize(
    "gate,code",
    [
        ("any", CHANGES),
        ("demotion", CHANGES),
        ("demotions", CHANGES),
        ("promotion", CHANGES),
        ("sideways", CHANGES),
        ("added", CHANGES),
        ("removed", CHANGES),
        ("marketing_lead->lead", CHANGES),
        ("MQL->*", CHANGES),
        ("customer->lead", OK),
        ("*->evangelist", OK),
        ("lead->customer", CHANGES),
    ],
)
def test_diff_gates(pair, gate: str, code: int) -> None:
    run = invoke_assert_code(code, "diff", *pair, "--fail-on", gate, "-q")
    assert run.stdout == ""
    assert (f"--fail-on {gate}" in run.stderr) == (code == CHANGES)


def test_gates_on_an_unchanged_pair_pass(tmp_path: Path) -> None:
    same = export(tmp_path / "a.csv", [("1", "lead"), ("2", "customer")])
    twin = export(tmp_path / "b.csv", [("1", "Lead"), ("2", "CUSTOMER")])
    for gate in ("any", "demotion", "added", "removed", "*->*"):
        invoke_assert_code(OK, "diff", same, twin, "--fail-on", gate, "-q")


@pytest.mark.parametrize("gate", ["demotoin", "customer->vip", "->"])
def test_unknown_gate_is_a_usage_error(pair, gate: str) -> None:
    run = invoke_assert_code(USAGE, "diff", *pair, "--fail-on", gate)
    assert "--fail-on" in run.stderr


def test_classify_gates(examples: Path) -> None:
    args = [
        "classify",
        examples / "contacts.csv",
        "--deals",
        examples / "deals.csv",
        "--consent",
        examples / "consent.csv",
        "-q",
    ]
    invoke_assert_code(CHANGES, *args, "--fail-on", "demotion")
    invoke_assert_code(OK, *args, "--fail-on", "added")  # classify never adds or removes records
    invoke_assert_code(OK, *args, "--fail-on", "customer->lead")  # Customer is sticky
    run = invoke_assert_code(CHANGES, *args, "--fail-on", "customer->other")
    assert "moved customer -> other" in run.stderr
    assert (
        examples / "contacts.reclassified.csv"
    ).exists()  # gates judge; they do not stop the write


def test_custom_key_and_stage_columns_and_column_changes(tmp_path: Path) -> None:
    headers = ["Contact", "Phase", "Owner"]
    before = write_csv(
        tmp_path / "b.csv",
        headers,
        [
            {"Contact": "a", "Phase": "lead", "Owner": "Ann"},
            {"Contact": "b", "Phase": "lead", "Owner": "Bo"},
        ],
    )
    after = write_csv(
        tmp_path / "a.csv",
        headers,
        [
            {"Contact": "a", "Phase": "opportunity", "Owner": "Ann"},
            {"Contact": "b", "Phase": "lead", "Owner": "Cy"},
        ],
    )
    run = invoke_assert_code(
        OK,
        "diff",
        before,
        after,
        "--key",
        "Contact",
        "--stage",
        "Phase",
        "--columns",
        "Owner",
        "-f",
        "json",
    )
    data = json.loads(run.stdout)
    assert data["summary"]["promotions"] == 1 and data["column_changes"] == {"Owner": 1}
    bad = invoke_assert_code(
        USAGE, "diff", before, after, "--key", "Contact", "--stage", "Phase", "--columns", "Budget"
    )
    assert "Budget" in bad.stderr


def test_duplicate_ids_and_unknown_stages_are_errors(tmp_path: Path) -> None:
    before = export(tmp_path / "b.csv", [("1", "lead"), ("1", "lead"), ("2", "lead")])
    after = export(tmp_path / "a.csv", [("1", "lead"), ("2", "VIP")])
    run = invoke_assert_code(USAGE, "diff", before, after)
    assert "id appears more than once: rows 2 and 3 have the same id" in run.stderr
    assert "'VIP' (1 row, first at row 3)" in run.stderr


def test_classify_and_diff_word_the_same_problems_alike(tmp_path: Path) -> None:
    """One contacts file with a repeated id, a row without an id and an unknown stage: both
    commands name each problem in the same words."""
    rows = [("7", "lead"), ("7", "lead"), ("", "lead"), ("8", "VIP"), ("9", "customer")]
    bad = export(tmp_path / "contacts.csv", rows)
    good = export(tmp_path / "good.csv", [("7", "lead"), ("9", "customer")])
    from_classify = invoke_assert_code(USAGE, "classify", bad, cwd=tmp_path).stderr
    from_diff = invoke_assert_code(USAGE, "diff", good, bad, cwd=tmp_path).stderr
    problems = [line.strip() for line in from_classify.splitlines()[1:] if line.strip()]
    # classify adds how to keep the first row of each repeated id; diff has no such option.
    assert problems[-2].endswith(" (--on-duplicate keep-first keeps the first row of each)")
    problems[-2] = problems[-2].removesuffix(
        " (--on-duplicate keep-first keeps the first row of each)"
    )
    assert problems == [line.strip() for line in from_diff.splitlines()[1:] if line.strip()]
    assert (
        f"{bad}: column 'Record ID': 1 record id appears more than once: rows 2 and 3 have the "
        "same id" in problems
    )
    assert f"{bad}: column 'Record ID': 1 row has no record id (row 4)" in problems
    assert any("'VIP' (1 row, first at row 5)" in line for line in problems)


def test_diff_of_classify_output_shows_its_rules(examples: Path) -> None:
    invoke_assert_code(
        OK,
        "classify",
        examples / "contacts.csv",
        "--deals",
        examples / "deals.csv",
        "--consent",
        examples / "consent.csv",
        "-q",
    )
    run = invoke_assert_code(
        OK, "diff", examples / "contacts.csv", examples / "contacts.reclassified.csv", "-f", "json"
    )
    data = json.loads(run.stdout)
    assert data["columns"]["rule"] == "Lifecycle Rule"
    assert all(s["rule"] for s in data["samples"])
    classify_json = invoke_assert_code(
        OK,
        "classify",
        examples / "contacts.csv",
        "--deals",
        examples / "deals.csv",
        "--consent",
        examples / "consent.csv",
        "-o",
        examples / "again.csv",
        "-f",
        "json",
    ).stdout
    # diff of input vs output agrees with what classify reported.
    assert json.loads(classify_json)["transitions"] == data["transitions"]


@pytest.mark.parametrize(
    "before_ids,after_ids,matched",
    [
        # Plain numbers are compared as numbers, but an id written another way is another id.
        (["00123", "7"], ["123", "7"], 1),
        (["+123", "7"], ["123", "7"], 1),
        # Stray spaces are not part of an id (text comparison, trimmed), in either file.
        ([" 123", "7"], ["123", " 7 "], 2),
        # Ids that are not numbers at all (Salesforce), and a mix of both.
        (["003A0000015ZQaAAM", "42"], ["42", "003A0000015ZQaAAM"], 2),
    ],
)
def test_ids_match_as_written(tmp_path: Path, before_ids, after_ids, matched) -> None:
    before = export(tmp_path / "before.csv", [(i, "lead") for i in before_ids])
    after = export(tmp_path / "after.csv", [(i, "customer") for i in after_ids])
    summary = json.loads(invoke_assert_code(OK, "diff", before, after, "--format", "json").stdout)[
        "summary"
    ]
    assert (summary["common"], summary["promotions"]) == (matched, matched)
    assert (summary["added"], summary["removed"]) == (2 - matched, 2 - matched)


def test_empty_before_file_counts_everyone_as_added(tmp_path: Path) -> None:
    before = write_csv(tmp_path / "before.csv", CONTACT_HEADERS, [])
    after = export(tmp_path / "after.csv", [("1", "lead"), ("2", "customer")])
    summary = json.loads(invoke_assert_code(OK, "diff", before, after, "--format", "json").stdout)[
        "summary"
    ]
    assert (summary["rows_before"], summary["added"], summary["common"], summary["removed"]) == (
        0,
        2,
        0,
        0,
    )


def test_samples_are_the_first_rows_of_each_move(tmp_path: Path) -> None:
    ids = [str(i) for i in range(1, 41)]
    before = export(tmp_path / "before.csv", [(i, "lead") for i in ids])
    # After, in another order: every contact promoted to customer (two spellings) or demoted to
    # other.
    rows = [(i, "Customer" if int(i) % 3 else "customer") for i in reversed(ids[:30])] + [
        (i, "other") for i in ids[30:]
    ]
    after = export(tmp_path / "after.csv", rows)
    data = json.loads(invoke_assert_code(OK, "diff", before, after, "--format", "json").stdout)
    by_move = {}
    for sample in data["samples"]:
        by_move.setdefault((sample["from"], sample["to"]), []).append(sample["row"])
    # The first two rows of the after file of each move, whatever the spelling.
    assert by_move == {("lead", "customer"): [2, 3], ("lead", "other"): [32, 33]}


def test_samples_include_cleared_and_newly_staged_contacts(tmp_path: Path) -> None:
    before = export(
        tmp_path / "before.csv", [("1", "lead"), ("2", ""), ("3", "lead"), ("4", "customer")]
    )
    after = export(tmp_path / "after.csv", [("1", ""), ("2", "Lead"), ("3", "lead"), ("4", "lead")])
    data = json.loads(invoke_assert_code(OK, "diff", before, after, "--format", "json").stdout)
    assert (
        data["summary"]["cleared"],
        data["summary"]["newly_staged"],
        data["summary"]["demotions"],
    ) == (1, 1, 1)
    moves = {(s["record_id"], s["from"], s["to"]) for s in data["samples"]}
    assert moves == {("1", "lead", "(empty)"), ("2", "(empty)", "lead"), ("4", "customer", "lead")}

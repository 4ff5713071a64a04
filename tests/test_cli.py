"""`lifecycle classify` through the real entry point: files written, exit codes, stdin/stdout,
--check, -q."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import (
    CHANGES,
    CONTACT_HEADERS,
    OK,
    USAGE,
    invoke_assert_code,
    read_csv,
    run_cli,
    write_csv,
)

ADDED = ["Previous Lifecycle Stage", "Lifecycle Rule", "Other Type"]


def classify_examples(examples: Path, *extra: str) -> Path:
    invoke_assert_code(
        OK,
        "classify",
        examples / "contacts.csv",
        "--deals",
        examples / "deals.csv",
        "--consent",
        examples / "consent.csv",
        *extra,
    )
    return examples / "contacts.reclassified.csv"


def test_examples_quick_start(examples: Path) -> None:
    before = (examples / "contacts.csv").read_bytes()
    run = run_cli(
        "classify",
        examples / "contacts.csv",
        "--deals",
        examples / "deals.csv",
        "--consent",
        examples / "consent.csv",
    )
    assert run.code == OK, run.stderr
    assert run.stdout == ""  # the report goes to stderr; stdout stays clean for pipes
    out = examples / "contacts.reclassified.csv"
    assert (examples / "contacts.csv").read_bytes() == before, "the input must never change"
    rows_in, rows_out = read_csv(examples / "contacts.csv"), read_csv(out)
    header_in = list(rows_in[0])
    header_out = list(rows_out[0])
    stage_at = header_in.index("Lifecycle Stage")
    # Same columns in the same order, the three new ones right beside the stage.
    assert header_out == header_in[: stage_at + 1] + ADDED + header_in[stage_at + 1 :]
    assert [r["Record ID"] for r in rows_out] == [r["Record ID"] for r in rows_in]
    for a, b in zip(rows_in, rows_out, strict=True):
        assert {k: v for k, v in a.items() if k != "Lifecycle Stage"} == {
            k: b[k] for k in a if k != "Lifecycle Stage"
        }
        assert b["Previous Lifecycle Stage"] == a["Lifecycle Stage"]
        assert b["Lifecycle Rule"] in {
            "other",
            "customer",
            "opportunity",
            "sales_lead",
            "marketing_lead",
            "lead",
            "sticky",
        }
    changed = sum(
        a["Lifecycle Stage"] != b["Lifecycle Stage"] for a, b in zip(rows_in, rows_out, strict=True)
    )
    assert f"of {len(rows_in)} contacts change stage" in run.stderr
    assert changed > 0
    for section in ("Stages", "Transitions", "Decided by", "Examples of the changes"):
        assert section in run.stderr


def test_check_writes_nothing_and_exits_1_then_0_on_its_own_output(examples: Path) -> None:
    run = invoke_assert_code(
        CHANGES,
        "classify",
        examples / "contacts.csv",
        "--deals",
        examples / "deals.csv",
        "--consent",
        examples / "consent.csv",
        "--check",
    )
    assert "check only" in run.stderr
    assert not (examples / "contacts.reclassified.csv").exists()
    out = classify_examples(examples)
    # Classifying the result again changes nothing: the CI gate is green.
    invoke_assert_code(
        OK,
        "classify",
        out,
        "--deals",
        examples / "deals.csv",
        "--consent",
        examples / "consent.csv",
        "--check",
    )


def test_quiet_still_writes(examples: Path) -> None:
    run = invoke_assert_code(OK, "classify", examples / "contacts.csv", "-q", cwd=examples)
    assert run.stderr == "" and run.stdout == ""
    assert (examples / "contacts.reclassified.csv").is_file()


def test_stdin_to_stdout(examples: Path) -> None:
    data = (examples / "contacts.csv").read_bytes()
    run = invoke_assert_code(
        OK, "classify", "-", "--deals", examples / "deals.csv", "-q", stdin=data
    )
    file_run = invoke_assert_code(
        OK,
        "classify",
        examples / "contacts.csv",
        "--deals",
        examples / "deals.csv",
        "-o",
        "-",
        "-q",
    )
    assert run.stdout == file_run.stdout
    assert run.stdout.splitlines()[0].startswith("Record ID,")
    assert len(run.stdout.splitlines()) == len(data.decode().splitlines())


def test_json_report_is_the_result(examples: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    classify_examples(examples, "--report", str(report), "-q")
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["command"] == "classify"
    summary = data["summary"]
    rows_in = read_csv(examples / "contacts.csv")
    rows_out = read_csv(examples / "contacts.reclassified.csv")
    assert summary["contacts"] == len(rows_in)
    assert summary["changed"] + summary["unchanged"] == len(rows_in)
    assert (
        summary["promotions"] + summary["demotions"] + summary["sideways"] + summary["newly_staged"]
        == summary["changed"]
    )
    assert sum(t["count"] for t in data["transitions"]) == len(rows_in)
    assert sum(r["count"] for r in data["decided_by"]) == len(rows_in)
    by_rule = {r["rule"]: r["count"] for r in data["decided_by"]}
    for rule, count in by_rule.items():
        assert sum(r["Lifecycle Rule"] == rule for r in rows_out) == count
    assert data["missing_sources"] == []
    assert data["links"]["deal_rows"] == len(read_csv(examples / "deals.csv"))


def test_without_deals_nobody_is_demoted_for_lack_of_deals(examples: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    invoke_assert_code(
        OK, "classify", examples / "contacts.csv", "-o", tmp_path / "out.csv", "--report", report
    )
    rows = read_csv(tmp_path / "out.csv")
    data = json.loads(report.read_text())
    assert any("no deals file" in note for note in data["missing_sources"])
    for row in rows:
        if row["Previous Lifecycle Stage"].strip().lower() in ("opportunity", "customer"):
            assert (
                row["Lifecycle Stage"] == row["Previous Lifecycle Stage"]
                or row["Lifecycle Rule"] == "other"
            )


def test_semicolon_bom_crlf_round_trip(tmp_path: Path) -> None:
    rows = [
        {
            "Record ID": "0042",
            "First Name": "Jürgen",
            "Email": "j@kunde.example",
            "Lifecycle Stage": "Kunde",
            "Amount": "1.234,50",
        },
        {
            "Record ID": "0043",
            "First Name": "Ana; María",
            "Email": "a@x.example",
            "Lifecycle Stage": "Marketing Qualified Lead",
            "Unsubscribed from all email": "true",
        },
    ]
    headers = [
        "Record ID",
        "First Name",
        "Email",
        "Lifecycle-Phase",
        "Unsubscribed from all email",
        "Amount",
    ]
    rows = [
        {("Lifecycle-Phase" if k == "Lifecycle Stage" else k): v for k, v in r.items()}
        for r in rows
    ]
    path = write_csv(
        tmp_path / "de.csv", headers, rows, delimiter=";", encoding="utf-8-sig", newline="\r\n"
    )
    invoke_assert_code(OK, "classify", path, "-q")
    out = (tmp_path / "de.reclassified.csv").read_bytes()
    assert out.startswith(b"\xef\xbb\xbf")
    lines = out.decode("utf-8-sig").split("\r\n")
    assert (
        lines[0] == "Record ID;First Name;Email;Lifecycle-Phase;Previous Lifecycle Stage;Lifecycle "
        "Rule;Other Type;Unsubscribed from all email;Amount"
    )
    assert lines[1] == "0042;Jürgen;j@kunde.example;Kunde;Kunde;sticky;;;1.234,50"
    # Lead is not spelled in the file: the HubSpot internal value, which every portal accepts.
    assert lines[2] == '0043;"Ana; María";a@x.example;lead;Marketing Qualified Lead;lead;;true;'


def test_parquet_in_parquet_out(examples: Path, tmp_path: Path) -> None:
    src = tmp_path / "contacts.parquet"
    pl.read_csv(examples / "contacts.csv", infer_schema=False).write_parquet(src)
    invoke_assert_code(OK, "classify", src, "--deals", examples / "deals.csv", "-q")
    out = pl.read_parquet(tmp_path / "contacts.reclassified.parquet")
    csv_out = tmp_path / "c.csv"
    invoke_assert_code(
        OK,
        "classify",
        examples / "contacts.csv",
        "--deals",
        examples / "deals.csv",
        "-q",
        "-o",
        csv_out,
    )
    assert (
        out["Lifecycle Stage"].to_list()
        == pl.read_csv(csv_out, infer_schema=False)["Lifecycle Stage"].to_list()
    )


def test_stage_values_option(examples: Path, tmp_path: Path) -> None:
    invoke_assert_code(
        OK,
        "classify",
        examples / "contacts.csv",
        "--stage-values",
        "value",
        "-o",
        tmp_path / "v.csv",
        "-q",
    )
    values = {r["Lifecycle Stage"] for r in read_csv(tmp_path / "v.csv")}
    assert values <= {
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
        "other",
        "",
    }
    invoke_assert_code(
        OK,
        "classify",
        examples / "contacts.csv",
        "--stage-values",
        "label",
        "-o",
        tmp_path / "l.csv",
        "-q",
    )
    labels = {r["Lifecycle Stage"] for r in read_csv(tmp_path / "l.csv")}
    assert labels <= {
        "Subscriber",
        "Lead",
        "Marketing Lead",
        "Sales Lead",
        "Opportunity",
        "Customer",
        "Evangelist",
        "Other",
        "",
    }


@pytest.mark.parametrize(
    "args,words",
    [
        (["classify", "missing.csv"], ["missing.csv: contacts file not found"]),
        (["classify", "CONTACTS", "--deals", "nope.csv"], ["nope.csv: deals file not found"]),
        (["classify", "CONTACTS", "-o", "CONTACTS"], ["would overwrite the input"]),
        (["classify", "CONTACTS", "-o", "no/such/dir/out.csv"], ["does not exist"]),
        (["classify", "CONTACTS", "--stage-values", "fancy"], ["Invalid value"]),
    ],
)
def test_user_errors_exit_2(examples: Path, args: list[str], words: list[str]) -> None:
    args = [str(examples / "contacts.csv") if a == "CONTACTS" else a for a in args]
    run = invoke_assert_code(USAGE, *args, cwd=examples)
    for word in words:
        assert word in run.stderr


def test_missing_column_suggests_close_match(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        ["Record ID", "Email", "Lifecycle Stag"],
        [{"Record ID": "1", "Email": "a@b.example", "Lifecycle Stag": "lead"}],
    )
    run = invoke_assert_code(USAGE, "classify", path)
    assert "did you mean 'Lifecycle Stag'?" in run.stderr and "'Lifecycle Stage'" in run.stderr


def test_unknown_stages_are_listed_with_counts(tmp_path: Path) -> None:
    rows = [
        {"Record ID": str(i), "Email": f"p{i}@x.example", "Lifecycle Stage": s}
        for i, s in enumerate(["lead", "1234567", "1234567", "Prospect", "MQL"])
    ]
    path = write_csv(tmp_path / "c.csv", CONTACT_HEADERS, rows)
    run = invoke_assert_code(USAGE, "classify", path)
    assert "'1234567' (2 rows, first at row 3)" in run.stderr
    assert "'Prospect' (1 row, first at row 5)" in run.stderr
    assert "aliases" in run.stderr
    assert not (tmp_path / "c.reclassified.csv").exists()


def test_duplicate_ids_and_bad_booleans_are_all_reported(tmp_path: Path) -> None:
    rows = [
        {
            "Record ID": "1",
            "Email": "secret.person@x.example",
            "Lifecycle Stage": "lead",
            "Unsubscribed from all email": "maybe",
        },
        {"Record ID": "1", "Email": "b@x.example", "Lifecycle Stage": "lead"},
        {
            "Record ID": "2",
            "Email": "c@x.example",
            "Lifecycle Stage": "lead",
            "Unsubscribed from all email": "Yes",
        },
    ]
    run = invoke_assert_code(
        USAGE, "classify", write_csv(tmp_path / "c.csv", CONTACT_HEADERS, rows)
    )
    assert "record id appears more than once: rows 2 and 3 have the same id" in run.stderr
    assert "column 'Unsubscribed from all email'" in run.stderr and "1 value: row 2;" in run.stderr
    assert "marketing_lead" in run.stderr  # the rule that needs the column
    assert "secret.person" not in run.stderr  # no personal data in errors


def test_unreadable_values_are_counted_over_the_whole_file(tmp_path: Path) -> None:
    """1,200 rows say 'maybe', then 1,500 say 'unknown': every one is counted, not a sample."""
    values = ["maybe"] * 1200 + ["unknown"] * 1500 + ["yes"] * 300
    rows = [
        {"Record ID": str(1000 + i), "Lifecycle Stage": "lead", "Unsubscribed from all email": v}
        for i, v in enumerate(values)
    ]
    run = invoke_assert_code(
        USAGE, "classify", write_csv(tmp_path / "c.csv", CONTACT_HEADERS, rows)
    )
    assert (
        "column 'Unsubscribed from all email': 2,700 rows hold values that are not true/false"
        in run.stderr
    )
    assert "2 different values: rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 2,690 more;" in run.stderr
    assert (
        "maybe" not in run.stderr
    )  # values other than stages are not shown: a shifted row puts names there


def test_version_and_help() -> None:
    assert invoke_assert_code(OK, "--version").stdout.startswith("lifecycle ")
    help_text = invoke_assert_code(OK, "classify", "--help").stdout
    for option in (
        "--deals",
        "--consent",
        "--rules",
        "--check",
        "--quiet",
        "--report",
        "--stage-values",
    ):
        assert option in help_text


def test_stdout_closed_early_is_quiet(tmp_path: Path) -> None:
    """`lifecycle classify big.csv -o - | head -1` ends without a trace (the pipe closes
    mid-write)."""
    import subprocess
    import sys

    rows = [
        {
            "Record ID": str(10_000 + i),
            "Email": f"p{i}@acme.example",
            "Lifecycle Stage": "lead",
            "First Name": "x" * 40,
        }
        for i in range(60_000)
    ]
    big = write_csv(tmp_path / "big.csv", CONTACT_HEADERS, rows)
    proc = subprocess.run(
        f'"{sys.executable}" -m lifecycle_cli classify "{big}" -o - -q | head -1; exit '
        f"${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.stdout.startswith("Record ID,")
    assert proc.stdout.count("\n") == 1
    assert proc.stderr == ""
    assert proc.returncode == OK


def test_debug_shows_the_trace_only_when_asked(tmp_path: Path) -> None:
    plain = invoke_assert_code(USAGE, "classify", tmp_path / "missing.csv")
    assert "Traceback" not in plain.stderr
    debug = run_cli("classify", tmp_path / "missing.csv", "--debug")
    assert (
        debug.code == USAGE
        and "Traceback" in debug.stderr
        and "contacts file not found" in debug.stderr
    )


def test_classify_json_format_is_the_result_object(examples: Path) -> None:
    """`--format json` prints exactly `ClassifyResult.to_dict()` (the CSV goes to its file, the
    JSON to stdout)."""
    from conftest import ROOT

    from lifecycle_cli.core.classify import classify
    from lifecycle_cli.io.sources import read_source
    from lifecycle_cli.rules.model import load_rules

    out = examples / "out.csv"
    args = [
        "classify",
        examples / "contacts.csv",
        "--deals",
        examples / "deals.csv",
        "--consent",
        examples / "consent.csv",
    ]
    run = invoke_assert_code(
        OK, *args, "-o", out, "--format", "json", "--rules", ROOT / "rules.yaml"
    )
    rules = load_rules(ROOT / "rules.yaml", str(ROOT / "rules.yaml"))
    sources = [
        read_source(str(examples / f"{n}.csv"), n, rules.columns[n])
        for n in ("contacts", "deals", "consent")
    ]
    result = classify(*sources, rules, output_file=str(out)).result
    report = json.loads(run.stdout)
    # The CLI adds when the report was made and the rules' hash (SOURCE_DATE_EPOCH is fixed in
    # run_cli).
    assert report.pop("run") == {
        "at": "2026-01-01T00:00:00Z",
        "rules_hash": report_hash(ROOT / "rules.yaml"),
    }
    assert report == result.to_dict()


def report_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


OURS = "dirty_decay_ms:10000,muzzy_decay_ms:10000"


@pytest.mark.parametrize("command", ["classify", "diff"])
@pytest.mark.parametrize(
    "preset,expected",
    [
        (None, OURS),
        ("narenas:2", "narenas:2"),  # the user's own
        # What `import polars` set in a parent process that started lifecycle: not the user's
        # choice.
        ("dirty_decay_ms:500,muzzy_decay_ms:1000", OURS),
        (
            "dirty_decay_ms:500,muzzy_decay_ms:1000,narenas:2",
            "dirty_decay_ms:500,muzzy_decay_ms:1000,narenas:2",
        ),
    ],
)
def test_allocator_setting_is_made_before_polars_loads_and_a_users_own_wins(
    command, preset, expected
) -> None:
    # jemalloc reads its settings once, when Polars is loaded: main() must set them before that.
    # Only classify gains from it; diff keeps whatever was there.
    if command == "diff":
        expected = preset
    code = (
        f"import os, sys\ncommand = {command!r}\n"
        "from lifecycle_cli.cli import main\n"
        "assert 'polars' not in sys.modules\n"
        "sys.argv = ['lifecycle', command, '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(os.environ.get('_RJEM_MALLOC_CONF'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if preset is not None:
        env["_RJEM_MALLOC_CONF"] = preset
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(expected)

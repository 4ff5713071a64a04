"""Every problem of an export in one run (issue 21, part 4): exports with several problems at
once through the real CLI, exit 2, each problem named, no traceback, nothing written; and the
diagnostics as data (rules problems with their file and line as fields, one renderer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CONTACT_HEADERS, DEAL_HEADERS, USAGE, invoke_assert_code, write_csv

from lifecycle_cli.base.diagnostics import (
    Diagnostic,
    Diagnostics,
    as_dict,
    as_text,
    from_rules_error,
    headline,
)
from lifecycle_cli.base.errors import InputError, RulesError
from lifecycle_cli.rules.model import load_rules, packaged_rules_path, validate_rules

PEOPLE = [
    {"Record ID": str(101 + i), "First Name": name, "Email": f"p{i}@client.example"}
    for i, name in enumerate(["Ann", "Bob", "Cyd", "Dee", "Eve"])
]
ROWS = [{**p, "Lifecycle Stage": "Lead", "Lead Status": "Connected"} for p in PEOPLE]
WITHOUT_STAGE = [h for h in CONTACT_HEADERS if h != "Lifecycle Stage"]


def broken_contacts(path: Path) -> Path:
    """Contacts without their stage column, 'Email' twice, row 3 short, row 4 with a field too
    many, a cp1252 byte (not UTF-8) in row 6."""
    headers = WITHOUT_STAGE + ["E-mail"]
    write_csv(path, headers, [{k: v for k, v in r.items() if k in headers} for r in ROWS])
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].split(b",", 2)[0] + b",Bob"  # row 3: two fields
    lines[3] += b",extra"  # row 4
    lines[5] = lines[5].replace(b"Eve", b"\xc9ve")  # row 6: cp1252 'É'
    path.write_bytes(b"\n".join(lines))
    return path


def assert_stopped(run, *words: str) -> None:
    assert run.code == USAGE
    assert "Traceback" not in run.stderr
    for word in words:
        assert word in run.stderr, run.stderr


# --------------------------------------------------------------------------- one file, one round


def test_every_problem_of_a_contacts_file_in_one_run(tmp_path: Path) -> None:
    contacts = broken_contacts(tmp_path / "contacts.csv")
    out = tmp_path / "out.csv"
    run = invoke_assert_code(USAGE, "classify", contacts, "--encoding", "utf-8", "-o", out)
    n = len(WITHOUT_STAGE) + 1
    assert_stopped(
        run,
        f"lifecycle: error: {contacts}: the contacts file cannot be read (4 problems, 1 warning):",
        f"{contacts}: the contacts file has two columns for the same thing: "
        f"'Email' (column 4) and 'E-mail' (column {n}) both mean 'Email' (email)",
        f"{contacts}: the contacts file is missing a required column: "
        "column 'Lifecycle Stage' not found",
        f"{contacts}: the contacts file is not UTF-8 at line 6",
        f"{contacts}: the contacts file has rows with more fields than its header's {n}: "
        f"row 4 ({n + 1} fields); check the delimiter",
        f"warning: {contacts}: 1 row has fewer fields than the header (row 3)",
        "hint: Excel drops trailing empty fields",
    )
    assert run.stderr.count("lifecycle: error:") == 1  # one stop, not one per problem
    assert not out.exists()


def test_the_json_report_of_a_stop_lists_each_problem_as_data(tmp_path: Path) -> None:
    contacts = broken_contacts(tmp_path / "contacts.csv")
    run = invoke_assert_code(
        USAGE, "classify", contacts, "--encoding", "utf-8", "--format", "json", "--check"
    )
    report = json.loads(run.stdout)
    assert report["stopped"] is True
    found = {d["code"]: d for d in report["diagnostics"]}
    assert set(found) == {
        "repeated-header",
        "missing-column",
        "encoding",
        "long-rows",
        "short-rows",
    }
    assert {d["file"] for d in report["diagnostics"]} == {str(contacts)}
    assert found["short-rows"]["severity"] == "warning" and found["short-rows"]["row"] == 3
    assert found["missing-column"]["column"] == "Lifecycle Stage"
    for item in report["diagnostics"]:
        assert list(item) == [
            "code",
            "severity",
            "file",
            "line",
            "row",
            "column",
            "message",
            "hint",
        ]


def test_a_wrong_encoding_and_a_broken_header_together(tmp_path: Path) -> None:
    """The header's unclosed quote makes the rows unreadable: the two problems found before the
    rows are named, and nothing about rows that cannot be told apart."""
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(
        b'Record ID,"Lifecycle Stage,Email\n1,Lead,ann@x.example\n2,Lead,j\xfcrgen@x.example\n'
    )
    run = invoke_assert_code(USAGE, "classify", contacts, "--encoding", "ascii", "--check")
    assert_stopped(
        run,
        f"{contacts}: the contacts file cannot be read (2 problems):",
        f"{contacts}: cannot decode the contacts file as ascii (line 3, byte 62)",
        f"{contacts}: the contacts file has a quoted field that is not closed properly in row 1",
    )
    assert "more fields" not in run.stderr and "fewer fields" not in run.stderr


def test_a_single_problem_reads_as_before(tmp_path: Path) -> None:
    contacts = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, ROWS)
    lines = contacts.read_text(encoding="utf-8").splitlines()
    lines[2] += ",x"
    contacts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = invoke_assert_code(USAGE, "classify", contacts, "--check")
    n = len(CONTACT_HEADERS)
    assert run.stderr == (
        f"lifecycle: error: {contacts}: the contacts file has rows with more fields than its "
        f"header's {n}: row 3 ({n + 1} fields); check the delimiter and quoting of those rows\n"
    )


# --------------------------------------------------------------------------- several files


def test_the_problems_of_every_input_stop_the_run_together(tmp_path: Path) -> None:
    contacts = broken_contacts(tmp_path / "contacts.csv")
    deals = write_csv(tmp_path / "deals.csv", [h for h in DEAL_HEADERS if h != "Deal Stage"], [])
    consent = tmp_path / "consent.csv"  # not there
    run = invoke_assert_code(
        USAGE, "classify", contacts, "--deals", deals, "--consent", consent, "--check"
    )
    assert_stopped(
        run,
        "lifecycle: error: cannot read the inputs (5 problems, 1 warning):",
        f"{contacts}: the contacts file has two columns for the same thing",
        f"{contacts}: the contacts file is missing a required column",
        f"{deals}: the deals file is missing a required column: column 'Deal Stage' not found",
        f"{consent}: consent file not found",
        f"warning: {contacts}: 1 row has fewer fields",
    )


def test_row_problems_found_while_classifying_name_every_file(tmp_path: Path) -> None:
    """Headers and columns are sound, so the rows are read by the run itself; when it fails,
    every file's rows are read again for all of their problems, and a contacts file's missing
    stage column (reported with the rest) is among them."""
    contacts = write_csv(tmp_path / "contacts.csv", WITHOUT_STAGE, [{**p} for p in PEOPLE])
    lines = contacts.read_text(encoding="utf-8").splitlines()
    lines[2] += ",x"  # row 3: a field too many
    lines[4] = lines[4].split(",", 1)[0]  # row 5: one field
    contacts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    deal = {"Record ID": "9", "Deal Stage": "closedwon", "Associated Contact IDs": "101"}
    deals = write_csv(tmp_path / "deals.csv", DEAL_HEADERS, [deal, deal])
    deals.write_text(deals.read_text(encoding="utf-8") + '10,"never closed\n', encoding="utf-8")
    run = invoke_assert_code(USAGE, "classify", contacts, "--deals", deals, "--check")
    assert_stopped(
        run,
        f"cannot read the input ({contacts}, {deals}) (3 problems, 1 warning):",
        f"{contacts}: the contacts file has rows with more fields than its header",
        f"{deals}: the deals file has a quoted field that is not closed properly in row 4",
        f"{contacts}: the contacts file is missing a required column: "
        "column 'Lifecycle Stage' not found",
        f"warning: {contacts}: 1 row has fewer fields than the header (row 5)",
    )


# --------------------------------------------------------------------------- rules: fields


def rules_with(tmp_path: Path, rule: str) -> tuple[Path, int]:
    """The default rules with `rule` (YAML lines) first in `rules:`; and the line it starts on."""
    text = packaged_rules_path().read_text(encoding="utf-8")
    at = text.index("\nrules:\n") + len("\nrules:\n")
    path = tmp_path / "rules.yaml"
    path.write_text(text[:at] + rule + text[at:], encoding="utf-8")
    return path, text[:at].count("\n") + 1


def test_a_rules_error_carries_its_file_and_line(tmp_path: Path) -> None:
    rules, line = rules_with(tmp_path, '  - id: broken\n    stage: lead\n    when: "record_id >"\n')
    with pytest.raises(RulesError) as raised:
        load_rules(rules, "rules.yaml")
    error = raised.value
    assert (error.file, error.line) == ("rules.yaml", line + 2)
    assert error.message.startswith("rule 'broken': SQL syntax error")
    assert str(error).startswith(f"rules.yaml:{line + 2}: rule 'broken': SQL syntax error")
    found = from_rules_error(error)
    assert (found.code, found.file, found.line) == ("rules", "rules.yaml", line + 2)
    assert headline(found, severity=True).startswith(f"rules.yaml:{line + 2}: error: rule 'broken'")


def test_rules_warnings_are_diagnostics_with_a_line(tmp_path: Path) -> None:
    rules, line = rules_with(tmp_path, '  - id: everyone\n    stage: lead\n    when: "TRUE"\n')
    loaded = load_rules(rules, "rules.yaml")
    warning = loaded.warnings[0]
    assert (warning.severity, warning.file, warning.line) == ("warning", "rules.yaml", line + 3)
    assert warning.message == (
        "rule 'other' can never decide: rule 'everyone' before it always matches"
    )
    assert as_text(warning) == f"rules.yaml:{line + 3}: {warning.message}"
    assert as_dict(validate_rules(rules, "rules.yaml")[0])["line"] == line + 3


def test_a_rules_file_problem_without_a_line_names_the_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_bytes(b"stages: \xff\n")
    (found,) = validate_rules(rules, "rules.yaml")
    assert found.line is None and found.file == "rules.yaml"
    assert found.message == "rules.yaml: not UTF-8 text (byte 8); save the rules file as UTF-8"
    assert not validate_rules(packaged_rules_path(), "default rules")


# --------------------------------------------------------------------------- one renderer


def test_one_renderer_for_a_finding_as_object_and_as_dict() -> None:
    found = Diagnostic("short-rows", "warning", "a.csv: 2 rows ...", file="a.csv", row=3, hint="h")
    assert as_text(found) == "a.csv: 2 rows ...\n    hint: h"
    assert as_text(found.to_dict(), "  ") == "a.csv: 2 rows ...\n  hint: h"
    assert as_text(found, inline=True) == "a.csv: 2 rows ... (hint: h)"
    assert as_dict(as_dict(found)) == as_dict(found) == found.to_dict()
    assert str(found) == as_text(found)


def test_a_stop_carries_its_findings_as_a_field() -> None:
    found = Diagnostics()
    found.error("a", "a.csv: first", file="a.csv")
    with pytest.raises(InputError) as one:
        found.stop_if_any("a.csv: cannot be read")
    assert str(one.value) == "a.csv: first" and one.value.diagnostics == tuple(found.items)
    found.error("b", "a.csv: second", file="a.csv", hint="fix it")
    with pytest.raises(InputError) as two:
        found.stop_if_any("a.csv: cannot be read")
    assert str(two.value) == (
        "a.csv: cannot be read (2 problems):\n  a.csv: first\n  a.csv: second\n    hint: fix it"
    )
    assert [d.code for d in two.value.diagnostics] == ["a", "b"]
    assert InputError("plain").diagnostics == ()

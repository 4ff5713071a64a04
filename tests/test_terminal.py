"""On an 80-column terminal the text report never cuts a record id, and the matrix fits."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import CHANGES, CONTACT_HEADERS, OK, invoke_assert_code, write_csv
from terminal import run_in_terminal

ARGS = ("classify", "contacts.csv", "--deals", "deals.csv", "--consent", "consent.csv")


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("lifecycle: note:")]


def test_classify_report_fits_80_columns_and_keeps_every_id(examples: Path) -> None:
    shown = run_in_terminal(*ARGS, "--check", cwd=examples, columns=80)
    assert shown.code == CHANGES, shown.stdout
    lines = _lines(shown.stdout)
    assert max(len(line) for line in lines) <= 80
    report = json.loads(
        invoke_assert_code(CHANGES, *ARGS, "--check", "--format", "json", cwd=examples).stdout
    )
    ids = [s["record_id"] for s in report["samples"]]
    assert len(ids) == 10
    for record_id in ids:
        assert any(re.search(rf"│ {record_id} +│", line) for line in lines), record_id
    # The matrix: short stage names on one header line, a legend for them, no cut header.
    header = next(line for line in lines if "from \\ to" in line)
    assert re.search(r"Lead ┃ +ML ┃ +SL ┃ Oppo ┃ Cust ┃ Evan ┃ Other", header)
    legend = " ".join(line.strip("│ ") for line in lines)
    assert "ML = Marketing Lead" in legend and "Oppo = Opportunity" in legend
    matrix = lines[lines.index(header) : lines.index(header) + 12]
    assert not any("…" in line for line in matrix)


def test_long_ids_and_names_give_way_to_the_id(tmp_path: Path) -> None:
    """Salesforce-length ids and long names: the names and rules fold, the id stays whole."""
    rows = []
    stages = ["Subscriber", "Lead", "MQL", "SQL", "Opportunity", ""]
    for i in range(12):  # Employees: everyone moves to Other, from six different stages
        rows.append(
            {
                "Record ID": f"0035g00000{i:08d}",
                "First Name": "Maximiliane-Annabell",
                "Last Name": f"Wolkenstein-Rodenegg-Trostburg {i}",
                "Email": f"maximiliane.{i}@a-very-long-company-domain.example",
                "Lifecycle Stage": stages[i % 6],
                "Contact type": "Employee",
            }
        )
    write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, rows)
    shown = run_in_terminal("classify", "contacts.csv", "--check", cwd=tmp_path, columns=80)
    assert shown.code == CHANGES, shown.stdout
    lines = _lines(shown.stdout)
    assert max(len(line) for line in lines) <= 80
    report = json.loads(
        invoke_assert_code(
            CHANGES, "classify", "contacts.csv", "--check", "--format", "json", cwd=tmp_path
        ).stdout
    )
    ids = [s["record_id"] for s in report["samples"]]
    assert len(ids) == 6
    for record_id in ids:
        assert any(re.search(rf"│ {record_id} +│", line) for line in lines), record_id
    assert not any("0035g" in line and "…" in line for line in lines)
    assert any("Maximili" in line for line in lines)  # the names fold onto more lines


def test_diff_report_keeps_every_id(examples: Path) -> None:
    invoke_assert_code(OK, *ARGS, "-q", cwd=examples)
    shown = run_in_terminal(
        "diff", "contacts.csv", "contacts.reclassified.csv", cwd=examples, columns=80
    )
    assert shown.code == OK, shown.stdout
    lines = _lines(shown.stdout)
    assert max(len(line) for line in lines) <= 80
    report = json.loads(
        invoke_assert_code(
            OK,
            "diff",
            "contacts.csv",
            "contacts.reclassified.csv",
            "--format",
            "json",
            cwd=examples,
        ).stdout
    )
    for sample in report["samples"]:
        assert any(re.search(rf"│ {sample['record_id']} +│", line) for line in lines)


def test_matrix_of_a_big_export_fits_with_short_counts(generated_200k: Path) -> None:
    shown = run_in_terminal(
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "--check",
        cwd=generated_200k,
        columns=80,
    )
    assert shown.code == CHANGES, shown.stdout[-2000:]
    lines = _lines(shown.stdout.split("╭", 1)[1])  # the progress line is drawn before the report
    assert max(len(line) for line in lines) <= 80
    header = lines.index(next(line for line in lines if "from \\ to" in line))
    matrix = lines[header : header + 11]
    assert not any("…" in line for line in matrix)
    assert any(re.search(r"[▲▼◆+] \d+(\.\d)?k", line) for line in matrix)
    legend = " ".join(line.strip("│ ") for line in lines[header + 11 : header + 15])
    assert "k = thousand" in legend

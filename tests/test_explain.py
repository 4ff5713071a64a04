"""`lifecycle explain CONTACTS ID`: why one contact gets its stage. Issue 13."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import (
    CONTACT_HEADERS,
    OK,
    USAGE,
    invoke_assert_code,
    read_csv,
    stage_id,
    write_csv,
)


def test_explain_a_won_deal(examples: Path) -> None:
    run = invoke_assert_code(
        OK,
        "explain",
        "contacts.csv",
        "51234567899",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        cwd=examples,
    )
    out = run.stdout
    assert out.startswith("Contact 51234567899 (row ")
    assert "Decision: Lead -> Customer by rule 'customer'" in out
    assert "deal 18401230011 stage closedwon: won (linked by deal's contact ids)" in out
    assert "TRUE     customer -> Customer: won_deals > 0" in out
    assert "Marketing Information: Subscribed" in out


def test_explain_agrees_with_classify_for_every_example_contact(examples: Path) -> None:
    """The same decision as the reclassified file, for each contact of the examples (JSON, one run
    each
    would be slow: the library entry point the command calls, on the real files)."""
    from lifecycle_cli.core.explain import explain
    from lifecycle_cli.io.sources import read_source
    from lifecycle_cli.rules.model import load_rules, packaged_rules_path

    invoke_assert_code(
        OK,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "-q",
        "-o",
        "out.csv",
        cwd=examples,
    )
    rules = load_rules(packaged_rules_path())
    srcs = [
        read_source(str(examples / f"{role}.csv"), role, rules.columns[role])
        for role in ("contacts", "deals", "consent")
    ]
    rows = read_csv(examples / "out.csv")
    assert len(rows) == 52
    for row in rows:
        view = explain(*srcs, rules, row["Record ID"])
        assert (view["decision"]["to"], view["decision"]["rule"]) == (
            stage_id(row["Lifecycle Stage"]),
            row["Lifecycle Rule"],
        ), row["Record ID"]


def test_explain_shows_what_a_missing_column_leaves_unknown(tmp_path: Path) -> None:
    headers = [h for h in CONTACT_HEADERS if h != "Last Contacted"]
    contacts = write_csv(
        tmp_path / "c.csv",
        headers,
        [
            {
                "Record ID": "41",
                "Email": "kim@client.example",
                "Lifecycle Stage": "Sales Qualified Lead",
                "Lead Status": "New",
            },
        ],
    )
    run = invoke_assert_code(OK, "explain", contacts, "41", "--format", "json")
    view = json.loads(run.stdout)
    assert view["decision"] == {
        "from": "sales_lead",
        "to": "sales_lead",
        "rule": "kept-unknown",
        "stopped_at": "sales_lead",
    }
    sales = next(r for r in view["rules"] if r["rule"] == "sales_lead")
    assert sales["result"] == "unknown" and sales["missing"] == ["last_contacted"]
    assert [p["result"] for p in sales["parts"]] == ["false", "unknown"]
    assert {"column": "last_contacted", "header": None, "value": None, "missing": True} in view[
        "columns"
    ]
    text = invoke_assert_code(OK, "explain", contacts, "41").stdout
    assert "UNKNOWN  sales_lead -> Sales Lead" in text and "(missing: last_contacted)" in text
    assert "kept at Sales Lead (rule 'kept-unknown')" in text


@pytest.mark.parametrize(
    "record_id, message",
    [
        ("999", "no contact has the record id '999' in column 'Record ID'"),
        (
            "",
            "ID is empty: give a record id",
        ),  # an empty argument is refused before the file is read
    ],
)
def test_an_id_not_in_the_file_is_exit_2(examples: Path, record_id: str, message: str) -> None:
    run = invoke_assert_code(USAGE, "explain", "contacts.csv", record_id, cwd=examples)
    assert message in run.stderr

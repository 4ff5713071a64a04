"""`classify --hubspot-import DIR`: the files HubSpot's importer takes as they are.

HubSpot moves a lifecycle stage only forward on import, so records moving back are first
cleared (file 1), then every changed record is set (file 2). Issue 12."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import (
    CONTACT_HEADERS,
    DEAL_HEADERS,
    OK,
    ROOT,
    USAGE,
    invoke_assert_code,
    read_csv,
    stage_id,
    write_csv,
)

RULES = yaml.safe_load((ROOT / "rules.yaml").read_text(encoding="utf-8"))
ORDER = [s["id"] for s in RULES["stages"]]  # HubSpot's stage order, as rules.yaml lists it
VALUE = {s["id"]: s["value"] for s in RULES["stages"]}
CLEAR, SET = "contacts-1-clear-stage.csv", "contacts-2-set-stage.csv"


def moves_from_output(
    path: Path,
    id_header: str = "Record ID",
    stage: str = "Lifecycle Stage",
    previous: str = "Previous Lifecycle Stage",
) -> dict[str, tuple[str, str]]:
    """Record id -> (previous stage id, new stage id) for every changed row of a reclassified
    file."""
    out = {}
    for row in read_csv(path):
        before, after = stage_id(row[previous]), stage_id(row[stage])
        if before != after:
            out[row[id_header]] = (before, after)
    return out


def test_examples_give_an_import_folder_matching_the_reclassified_file(examples: Path) -> None:
    run = invoke_assert_code(
        OK,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "-q",
        "--format",
        "json",
        "--hubspot-import",
        "hubspot",
        cwd=examples,
    )
    folder = examples / "hubspot"
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", CLEAR, SET]
    moves = moves_from_output(examples / "contacts.reclassified.csv")
    summary = json.loads(run.stdout)["summary"]
    assert len(moves) == summary["changed"] > 0

    set_rows = read_csv(folder / SET)
    assert list(set_rows[0])[:2] == ["Record ID", "Lifecycle Stage"]
    assert {r["Record ID"]: r["Lifecycle Stage"] for r in set_rows} == {
        rid: VALUE[new] for rid, (_, new) in moves.items()
    }
    back = {rid for rid, (old, new) in moves.items() if old and ORDER.index(new) < ORDER.index(old)}
    clear_rows = read_csv(folder / CLEAR)
    assert back and {r["Record ID"] for r in clear_rows} == back
    assert all(r["Lifecycle Stage"] == "" for r in clear_rows)

    readme = (folder / "README.txt").read_text(encoding="utf-8")
    assert readme.index(f"1. {CLEAR}: {len(back)} contacts") < readme.index(
        f"2. {SET}: {len(moves)} contacts"
    )
    assert "Record ID" in readme and "empty cells" in readme


def contacts_with_every_move(folder: Path) -> tuple[Path, Path]:
    rows = [
        {
            "Record ID": "101",
            "Lifecycle Stage": "Lead",
            "Email": "won@client.example",
        },  # won deal: up to Customer
        {
            "Record ID": "102",
            "Lifecycle Stage": "Marketing Qualified Lead",
            "Email": "gone@client.example",
            "Unsubscribed from all email": "true",
            "Marketing email confirmation status": "Confirmed",
        },  # MQL -> Lead: back
        {
            "Record ID": "103",
            "Lifecycle Stage": "customer",
            "Contact type": "Employee",
        },  # Customer -> Other: forward
        {
            "Record ID": "104",
            "Lifecycle Stage": "",
            "Email": "new@client.example",
        },  # no stage yet -> Lead
        {
            "Record ID": "105",
            "Lifecycle Stage": "Sales Qualified Lead",
            "Lead Status": "Connected",
        },  # unchanged
        {"Record ID": "106", "Lifecycle Stage": "opportunity"},  # its deal was lost: back to Lead
        {"Record ID": "107", "Lifecycle Stage": "subscriber"},  # Subscriber -> Lead: forward
        {
            "Record ID": "108",
            "Lifecycle Stage": "MQL",
            "Lead Status": "In progress",
        },  # MQL -> SQL: forward
    ]
    contacts = write_csv(folder / "contacts.csv", CONTACT_HEADERS, rows)
    deals = write_csv(
        folder / "deals.csv",
        DEAL_HEADERS,
        [
            {
                "Record ID": "9001",
                "Deal Name": "Won",
                "Deal Stage": "closedwon",
                "Is Closed Won": "true",
                "Is Deal Closed?": "true",
                "Associated Contact IDs": "101",
            },
            {
                "Record ID": "9002",
                "Deal Name": "Lost",
                "Deal Stage": "closedlost",
                "Is Closed Won": "false",
                "Is closed lost": "true",
                "Is Deal Closed?": "true",
                "Associated Contact IDs": "106",
            },
        ],
    )
    return contacts, deals


def test_clear_and_set_for_every_kind_of_move(tmp_path: Path) -> None:
    contacts, deals = contacts_with_every_move(tmp_path)
    invoke_assert_code(
        OK,
        "classify",
        contacts,
        "--deals",
        deals,
        "-q",
        "--stage-values",
        "label",
        "--hubspot-import",
        tmp_path / "hs",
        "-o",
        tmp_path / "out.csv",
    )
    cleared = [r["Record ID"] for r in read_csv(tmp_path / "hs" / CLEAR)]
    assert cleared == ["102", "106"], "only moves back in HubSpot's order are cleared"
    set_rows = {r["Record ID"]: r for r in read_csv(tmp_path / "hs" / SET)}
    assert {k: v["Lifecycle Stage"] for k, v in set_rows.items()} == {
        "101": "customer",
        "102": "lead",
        "103": "other",
        "104": "lead",
        "106": "lead",
        "107": "lead",
        "108": "salesqualifiedlead",
    }, "internal values, whatever the file or --stage-values wrote"
    assert set_rows["103"]["Other Type"] == "Employee" and set_rows["101"]["Other Type"] == ""
    assert set(set_rows) == set(moves_from_output(tmp_path / "out.csv"))


def test_a_move_out_of_other_is_cleared_first(tmp_path: Path) -> None:
    """Other is last in HubSpot's order: leaving it (where a rules file makes Other not sticky)
    goes back."""
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    block = "    aliases: [Andere, Sonstige]\n    sticky: true\n"
    assert block in text
    rules = tmp_path / "rules.yaml"
    rules.write_text(text.replace(block, "    aliases: [Andere, Sonstige]\n"), encoding="utf-8")
    contacts = write_csv(
        tmp_path / "c.csv",
        CONTACT_HEADERS,
        [
            {"Record ID": "1", "Lifecycle Stage": "other", "Lead Status": "Connected"},
            {"Record ID": "2", "Lifecycle Stage": "lead", "Contact type": "Vendor"},
        ],
    )
    invoke_assert_code(
        OK, "classify", contacts, "--rules", rules, "-q", "--hubspot-import", tmp_path / "hs"
    )
    assert [r["Record ID"] for r in read_csv(tmp_path / "hs" / CLEAR)] == ["1"]
    assert {r["Record ID"]: r["Lifecycle Stage"] for r in read_csv(tmp_path / "hs" / SET)} == {
        "1": "salesqualifiedlead",
        "2": "other",
    }


def test_headers_follow_the_portal_and_a_german_export(tmp_path: Path) -> None:
    """The import files name the columns as the export did, so the importer maps them by itself."""
    headers = ["Datensatz-ID", "Vorname", "Nachname", "E-Mail", "Lifecycle-Phase", "Lead-Status"]
    contacts = write_csv(
        tmp_path / "kontakte.csv",
        headers,
        [
            {
                "Datensatz-ID": "7001",
                "Vorname": "Jürgen",
                "E-Mail": "j@kunde.example",
                "Lifecycle-Phase": "Kunde",
            },
            {
                "Datensatz-ID": "7002",
                "Vorname": "Anna",
                "E-Mail": "a@kunde.example",
                "Lifecycle-Phase": "Marketing-Qualified-Lead",
            },
            {
                "Datensatz-ID": "7003",
                "Vorname": "Eva",
                "E-Mail": "e@kunde.example",
                "Lifecycle-Phase": "Lead",
                "Lead-Status": "Kontakt aufgenommen",
            },
        ],
        delimiter=";",
    )
    run = invoke_assert_code(
        OK, "classify", contacts, "-q", "--hubspot-import", tmp_path / "hs", cwd=tmp_path
    )
    assert "preset hubspot-de" in run.stderr
    set_rows = read_csv(tmp_path / "hs" / SET)
    assert list(set_rows[0])[:2] == ["Datensatz-ID", "Lifecycle-Phase"], run.stderr
    assert {r["Datensatz-ID"]: r["Lifecycle-Phase"] for r in set_rows} == {
        "7003": "salesqualifiedlead"
    }


def test_nothing_changed_gives_empty_files_and_says_skip(examples: Path) -> None:
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
        "once.csv",
        cwd=examples,
    )
    invoke_assert_code(
        OK,
        "classify",
        "once.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "-q",
        "-o",
        "twice.csv",
        "--hubspot-import",
        "hs",
        cwd=examples,
    )
    assert read_csv(examples / "hs" / CLEAR) == [] and read_csv(examples / "hs" / SET) == []
    readme = (examples / "hs" / "README.txt").read_text(encoding="utf-8")
    assert readme.count("Nothing to import in this step: skip it.") == 2


@pytest.mark.parametrize(
    "where, words",
    [
        ("contacts.csv", "it is a file, not a folder"),
        ("missing/hs", "the folder 'missing' does not exist"),
    ],
)
def test_a_bad_import_folder_stops_before_anything_is_written(
    examples: Path, where: str, words: str
) -> None:
    before = sorted(p.name for p in examples.iterdir())
    run = invoke_assert_code(
        USAGE, "classify", "contacts.csv", "-q", "--hubspot-import", where, cwd=examples
    )
    assert words in run.stderr
    assert sorted(p.name for p in examples.iterdir()) == before


def test_a_run_that_stops_creates_no_import_folder(examples: Path) -> None:
    """All files are written together or not at all: a stopped run leaves no folder, no
    reclassified file."""
    (examples / "rules.yaml").write_text(
        (ROOT / "rules.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    bad = examples / "contacts.csv"
    bad.write_text(bad.read_text(encoding="utf-8").replace(",lead,", ",VIP,", 1), encoding="utf-8")
    before = sorted(p.name for p in examples.iterdir())
    invoke_assert_code(
        USAGE,
        "classify",
        "contacts.csv",
        "-q",
        "--hubspot-import",
        "hs",
        "--report",
        "r.md",
        cwd=examples,
    )
    assert sorted(p.name for p in examples.iterdir()) == before
    run = invoke_assert_code(
        USAGE,
        "classify",
        "contacts.csv",
        "-q",
        "--hubspot-import",
        "hs",
        "--report",
        "hs/README.txt",
        cwd=examples,
    )
    assert "would both be written to this file" in run.stderr

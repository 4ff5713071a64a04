"""Rule cases as data (rule_cases/*.yaml, the test cases of the default rules): contacts, deals and
consent in, stage and rule out.

Every case becomes one contact in real export files; cases that give the same
sources (deals file or not, consent file or not) share one `lifecycle classify` run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import CONSENT_HEADERS, CONTACT_HEADERS, DEAL_HEADERS, read_csv, run_cli, write_csv

CASE_DIR = (
    Path(__file__).resolve().parent.parent / "rule_cases"
)  # the default rules include them (tests:)


def load_cases() -> list[dict]:
    cases = []
    for path in sorted(CASE_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            case["file"] = path.name
            cases.append(case)
    return cases


CASES = load_cases()


def group_of(case: dict) -> tuple[bool, bool]:
    return ("deals" in case, "consent" in case)


def as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict]:
    """Run classify once per source combination; map case name -> output row."""
    by_name: dict[str, dict] = {}
    groups: dict[tuple[bool, bool], list[dict]] = {}
    for case in CASES:
        groups.setdefault(group_of(case), []).append(case)
    for (with_deals, with_consent), cases in groups.items():
        folder = tmp_path_factory.mktemp(f"cases_deals{int(with_deals)}_consent{int(with_consent)}")
        contacts, deals, consent = [], [], []
        ids = {}
        for i, case in enumerate(cases):
            record_id = str(7_000_100 + i)
            ids[case["name"]] = record_id
            row = {k: as_text(v) for k, v in (case.get("contact") or {}).items()}
            row["Record ID"] = record_id
            contact_deal_ids = []
            for j, deal in enumerate(case.get("deals") or []):
                deal = dict(deal)
                link = deal.pop("link", "deal")
                deal_id = f"{record_id}{j:02d}"
                deal_row = {k: as_text(v) for k, v in deal.items()}
                deal_row["Record ID"] = deal_id
                deal_row.setdefault("Deal Name", f"Deal {deal_id}")
                if link == "contact":
                    contact_deal_ids.append(deal_id)
                else:
                    deal_row["Associated Contact IDs"] = record_id
                deals.append(deal_row)
            if contact_deal_ids:
                row["Associated Deal IDs"] = ";".join(contact_deal_ids)
            for event in case.get("consent") or []:
                event = dict(event)
                by = event.pop("by", "id")
                event_row = {k: as_text(v) for k, v in event.items()}
                if by == "email":
                    event_row.setdefault("Email", row.get("Email", ""))
                else:
                    event_row["Contact ID"] = record_id
                consent.append(event_row)
            contacts.append(row)
        args = [write_csv(folder / "contacts.csv", CONTACT_HEADERS, contacts)]
        if with_deals:
            args += ["--deals", write_csv(folder / "deals.csv", DEAL_HEADERS, deals)]
        if with_consent:
            args += ["--consent", write_csv(folder / "consent.csv", CONSENT_HEADERS, consent)]
        out = folder / "out.csv"
        run = run_cli("classify", *args, "--stage-values", "label", "-o", out, "-q")
        assert run.code == 0, run.stderr
        rows = {r["Record ID"]: r for r in read_csv(out)}
        assert len(rows) == len(cases)
        for case in cases:
            by_name[case["name"]] = rows[ids[case["name"]]]
    return by_name


def test_case_names_are_unique():
    names = [c["name"] for c in CASES]
    assert len(CASES) >= 40
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=[f"{c['file']}::{c['name']}" for c in CASES])
def test_rule_case(case: dict, outcomes: dict[str, dict]) -> None:
    row = outcomes[case["name"]]
    expect = case["expect"]
    assert (row["Lifecycle Stage"], row["Lifecycle Rule"]) == (expect["stage"], expect["rule"])
    if "other_type" in expect:
        assert row["Other Type"] == expect["other_type"]
    # The previous stage is the input value, exactly as written.
    assert row["Previous Lifecycle Stage"] == as_text(
        (case.get("contact") or {}).get("Lifecycle Stage")
    )

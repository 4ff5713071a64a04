"""`classify --companies`: a company's stage is the highest stage among its contacts (Other
contacts do not count) and its own deals (won: Customer, open: Opportunity). Issue 12."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import (
    CONTACT_HEADERS,
    DEAL_HEADERS,
    EXAMPLES,
    OK,
    USAGE,
    invoke_assert_code,
    read_csv,
    stage_id,
    write_csv,
)

COMPANY_HEADERS = [
    "Record ID",
    "Company name",
    "Company Domain Name",
    "Lifecycle Stage",
    "Company owner",
    "Industry",
]


@pytest.fixture
def with_companies(examples: Path) -> Path:
    (examples / "companies.csv").write_bytes((EXAMPLES / "companies.csv").read_bytes())
    return examples


def companies_out(path: Path) -> dict[str, dict[str, str]]:
    return {r["Record ID"]: r for r in read_csv(path)}


def test_examples_roll_up_and_report_companies(with_companies: Path) -> None:
    run = invoke_assert_code(
        OK,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "--companies",
        "companies.csv",
        "-q",
        "--format",
        "json",
        cwd=with_companies,
    )
    out = companies_out(with_companies / "companies.reclassified.csv")
    assert list(read_csv(with_companies / "companies.reclassified.csv")[0])[:6] == [
        "Record ID",
        "Company name",
        "Company Domain Name",
        "Lifecycle Stage",
        "Previous Lifecycle Stage",
        "Lifecycle Rule",
    ]
    expect = {  # record id: (stage id, rule)
        "20456781001": (
            "customer",
            "company-contacts",
        ),  # Marcus Webb's won deal made him a Customer
        "20456781000": ("other", "sticky"),  # the own company, set to Other by hand
        "20456781004": (
            "customer",
            "sticky",
        ),  # a Customer whose contacts are Opportunities keeps it
        "20456781011": ("opportunity", "company-contacts"),  # had no stage: newly staged
        "20456781012": (
            "lead",
            "kept-unknown",
        ),  # no contact and no deal in the files: kept, not cleared
        "20456781013": ("subscriber", "kept-unknown"),
    }
    for rid, (stage, rule) in expect.items():
        assert (stage_id(out[rid]["Lifecycle Stage"]), out[rid]["Lifecycle Rule"]) == (
            stage,
            rule,
        ), rid
    report = json.loads(run.stdout)["companies"]
    changed = sum(
        stage_id(r["Lifecycle Stage"]) != stage_id(r["Previous Lifecycle Stage"])
        for r in out.values()
    )
    assert report["companies"] == len(out) == 14 and report["changed"] == changed
    after = {s["stage"]: s["after"] for s in report["stages"]}
    assert after["customer"] == sum(
        stage_id(r["Lifecycle Stage"]) == "customer" for r in out.values()
    )


def test_each_report_format_has_a_companies_section(with_companies: Path) -> None:
    invoke_assert_code(
        OK,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--companies",
        "companies.csv",
        "-q",
        "--report",
        "r.md",
        "--report",
        "r.html",
        "--report",
        "r.txt",
        cwd=with_companies,
    )
    md = (with_companies / "r.md").read_text(encoding="utf-8")
    assert "### Companies" in md and "of 14 companies in companies.csv changed stage" in md
    html = (with_companies / "r.html").read_text(encoding="utf-8")
    assert "<h2>Companies</h2>" in html
    text = (with_companies / "r.txt").read_text(encoding="utf-8")
    assert "Company stages" in text and "Companies:" in text


def rollup_case(
    folder: Path, contacts: list[dict], deals: list[dict], companies: list[dict], *extra: str
):
    c = write_csv(folder / "contacts.csv", CONTACT_HEADERS, contacts)
    co = write_csv(folder / "companies.csv", COMPANY_HEADERS, companies)
    args = [
        "classify",
        c,
        "--companies",
        co,
        "-q",
        "-o",
        folder / "out.csv",
        "--companies-output",
        folder / "co.csv",
        *extra,
    ]
    if deals is not None:
        args[2:2] = ["--deals", write_csv(folder / "deals.csv", DEAL_HEADERS, deals)]
    return args


def test_rollup_from_deals_alone(tmp_path: Path) -> None:
    """Companies with no contact in the export: their own won or open deal decides."""
    args = rollup_case(
        tmp_path,
        [{"Record ID": "1", "Lifecycle Stage": "lead", "Email": "a@x.example"}],
        [
            {
                "Record ID": "900",
                "Deal Stage": "closedwon",
                "Associated Contact IDs": "1",
                "Associated Company IDs": "11",
            },
            {"Record ID": "901", "Deal Stage": "qualifiedtobuy", "Associated Company IDs": "12"},
            {"Record ID": "902", "Deal Stage": "closedlost", "Associated Company IDs": "13"},
        ],
        [
            {"Record ID": "11", "Company name": "Won Co", "Lifecycle Stage": "lead"},
            {"Record ID": "12", "Company name": "Open Co", "Lifecycle Stage": "Lead"},
            {"Record ID": "13", "Company name": "Lost Co", "Lifecycle Stage": "Opportunity"},
        ],
    )
    invoke_assert_code(OK, *args)
    out = companies_out(tmp_path / "co.csv")
    assert (stage_id(out["11"]["Lifecycle Stage"]), out["11"]["Lifecycle Rule"]) == (
        "customer",
        "company-won-deal",
    )
    assert (stage_id(out["12"]["Lifecycle Stage"]), out["12"]["Lifecycle Rule"]) == (
        "opportunity",
        "company-open-deal",
    )
    # A lost deal is nothing to go by: the company keeps its stage.
    assert (stage_id(out["13"]["Lifecycle Stage"]), out["13"]["Lifecycle Rule"]) == (
        "opportunity",
        "kept-unknown",
    )


def test_other_contacts_do_not_count_and_sticky_only_moves_up(tmp_path: Path) -> None:
    args = rollup_case(
        tmp_path,
        [
            {
                "Record ID": "1",
                "Lifecycle Stage": "lead",
                "Contact type": "Employee",
                "Associated Company IDs": "21",
            },
            {
                "Record ID": "2",
                "Lifecycle Stage": "lead",
                "Contact type": "Vendor",
                "Associated Company IDs": "22",
            },
            {"Record ID": "3", "Lifecycle Stage": "lead", "Associated Company IDs": "22;23"},
            {"Record ID": "4", "Lifecycle Stage": "evangelist", "Associated Company IDs": "24"},
        ],
        None,
        [
            {
                "Record ID": "21",
                "Company name": "Only employees",
                "Lifecycle Stage": "Marketing Qualified Lead",
            },
            {
                "Record ID": "22",
                "Company name": "Vendor and lead",
                "Lifecycle Stage": "Opportunity",
            },
            {
                "Record ID": "23",
                "Company name": "Customer with a lead",
                "Lifecycle Stage": "Customer",
            },
            {
                "Record ID": "24",
                "Company name": "Customer with an evangelist",
                "Lifecycle Stage": "Customer",
            },
        ],
    )
    invoke_assert_code(OK, *args)
    out = companies_out(tmp_path / "co.csv")
    got = {rid: (stage_id(r["Lifecycle Stage"]), r["Lifecycle Rule"]) for rid, r in out.items()}
    assert got == {
        "21": ("marketing_lead", "kept-unknown"),  # its only contact is Other: nothing to go by
        "22": (
            "lead",
            "company-contacts",
        ),  # the Vendor does not count, the Lead does: down to Lead
        "23": ("customer", "sticky"),  # a Customer keeps it over a Lead
        "24": ("evangelist", "company-contacts"),  # but moves up to a higher stage
    }


def test_association_export_keys(tmp_path: Path) -> None:
    """Exports with associations name the keys `Record ID - Contact` and `Record ID - Company`."""
    headers = [
        "Record ID - Contact",
        "First Name",
        "Email",
        "Lifecycle Stage",
        "Lead Status",
        "Record ID - Company",
    ]
    contacts = write_csv(
        tmp_path / "contacts.csv",
        headers,
        [
            {
                "Record ID - Contact": "501",
                "Email": "a@x.example",
                "Lifecycle Stage": "lead",
                "Lead Status": "Connected",
                "Record ID - Company": "77",
            },
        ],
    )
    companies = write_csv(
        tmp_path / "companies.csv",
        ["Record ID - Company", "Company name", "Lifecycle Stage"],
        [{"Record ID - Company": "77", "Company name": "Assoc Co", "Lifecycle Stage": "lead"}],
    )
    invoke_assert_code(OK, "classify", contacts, "--companies", companies, "-q")
    out = read_csv(tmp_path / "companies.reclassified.csv")
    assert stage_id(out[0]["Lifecycle Stage"]) == "sales_lead"


def test_hubspot_import_files_for_companies(with_companies: Path) -> None:
    invoke_assert_code(
        OK,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "--companies",
        "companies.csv",
        "-q",
        "--hubspot-import",
        "hs",
        cwd=with_companies,
    )
    out = companies_out(with_companies / "companies.reclassified.csv")
    moved = {
        rid
        for rid, r in out.items()
        if stage_id(r["Lifecycle Stage"]) != stage_id(r["Previous Lifecycle Stage"])
    }
    assert {
        r["Record ID"] for r in read_csv(with_companies / "hs" / "companies-2-set-stage.csv")
    } == moved
    cleared = {
        r["Record ID"] for r in read_csv(with_companies / "hs" / "companies-1-clear-stage.csv")
    }
    assert cleared and cleared < moved
    assert "companies-2-set-stage.csv" in (with_companies / "hs" / "README.txt").read_text(
        encoding="utf-8"
    )


def test_diff_works_on_companies_exports(with_companies: Path) -> None:
    invoke_assert_code(
        OK,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--companies",
        "companies.csv",
        "-q",
        "--companies-output",
        "companies-after.csv",
        cwd=with_companies,
    )
    run = invoke_assert_code(
        OK, "diff", "companies.csv", "companies-after.csv", "--format", "json", cwd=with_companies
    )
    summary = json.loads(run.stdout)["summary"]
    out = companies_out(with_companies / "companies-after.csv")
    assert summary["changed"] == sum(
        stage_id(r["Lifecycle Stage"]) != stage_id(r["Previous Lifecycle Stage"])
        for r in out.values()
    )


def test_bad_companies_input_stops_with_nothing_written(with_companies: Path) -> None:
    companies = with_companies / "companies.csv"
    companies.write_text(
        companies.read_text(encoding="utf-8").replace(",Customer,", ",Kundin,", 1), encoding="utf-8"
    )
    before = sorted(p.name for p in with_companies.iterdir())
    run = invoke_assert_code(
        USAGE, "classify", "contacts.csv", "--companies", "companies.csv", "-q", cwd=with_companies
    )
    assert "companies.csv: column 'Lifecycle Stage'" in run.stderr and "'Kundin'" in run.stderr
    assert sorted(p.name for p in with_companies.iterdir()) == before
    run = invoke_assert_code(
        USAGE, "classify", "contacts.csv", "--companies-output", "x.csv", cwd=with_companies
    )
    assert "--companies-output needs --companies" in run.stderr


def test_companies_that_nothing_links_stop_the_run(tmp_path: Path) -> None:
    args = rollup_case(
        tmp_path,
        [{"Record ID": "1", "Lifecycle Stage": "lead", "Associated Company IDs": "999"}],
        None,
        [{"Record ID": "11", "Company name": "Elsewhere", "Lifecycle Stage": "lead"}],
    )
    run = invoke_assert_code(USAGE, *args)
    assert "none of its 1 company is named by the contacts' or deals' company IDs" in run.stderr

"""`--preset salesforce`: Salesforce contacts, leads and opportunities, through the real CLI.

The examples in examples/salesforce/ classify with no edits; opportunities reach contacts
through their contact role or, without one, through the account; a first export without a
stage field is classified and gets the column; API names and report labels both work.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES, OK, ROOT, USAGE, invoke_assert_code, read_csv, write_csv

SALESFORCE = EXAMPLES / "salesforce"
PRESET = ("--preset", "salesforce")

# Data Loader headers (API names) and the same columns as a report writes them (labels).
CONTACT_API = [
    "Id",
    "AccountId",
    "FirstName",
    "LastName",
    "Email",
    "HasOptedOutOfEmail",
    "Double_Opt_In__c",
    "LastActivityDate",
    "Lifecycle_Stage__c",
]
CONTACT_LABELS = [
    "Contact ID",
    "Account ID",
    "First Name",
    "Last Name",
    "Email",
    "Email Opt Out",
    "Double Opt-In",
    "Last Activity",
    "Lifecycle Stage",
]
OPPORTUNITY_API = [
    "Id",
    "AccountId",
    "ContactId",
    "Name",
    "StageName",
    "IsWon",
    "IsClosed",
    "CloseDate",
]
OPPORTUNITY_LABELS = [
    "Opportunity ID",
    "Account ID",
    "Contact ID",
    "Opportunity Name",
    "Stage",
    "Won",
    "Closed",
    "Close Date",
]

# Accounts and contacts of the hand-made exports below (18-character ids, as Data Loader writes
# them).
ACME, GLOBEX, INITECH, UMBRELLA = (
    "0015g00000Ac1AAAAY",
    "0015g00000Ac2AAAAY",
    "0015g00000Ac3AAAAY",
    "0015g00000Ac4AAAAY",
)
CONTACTS = {  # id: (account, first name, last name, stage in the file)
    "0035g00000Ct1AAAAY": (ACME, "Alice", "Archer", "Lead"),
    "0035g00000Ct2AAAAY": (ACME, "Aaron", "Ames", "Marketing Lead"),
    "0035g00000Ct3AAAAY": (GLOBEX, "Greta", "Gould", "Lead"),
    "0035g00000Ct4AAAAY": (INITECH, "Ivan", "Ito", "Lead"),
    "0035g00000Ct5AAAAY": (INITECH, "Iris", "Irving", "Opportunity"),
    "0035g00000Ct6AAAAY": ("", "Nora", "Nobody", "Opportunity"),
    "0035g00000Ct7AAAAY": (UMBRELLA, "Uma", "Ueda", "Lead"),
}
ALICE, AARON, GRETA, IVAN, IRIS, NORA, UMA = CONTACTS
OPPORTUNITIES = [  # id, account, contact role, stage, won, closed
    ("0065g00000Op1AAAAY", ACME, "", "Closed Won", "true", "true"),  # Acme's contacts: Customers
    (
        "0065g00000Op2AAAAY",
        GLOBEX,
        "",
        "Negotiation/Review",
        "false",
        "false",
    ),  # Globex's: Opportunity
    ("0065g00000Op3AAAAY", INITECH, IVAN, "Closed Won", "true", "true"),  # Ivan only, not Iris
    ("0065g00000Op4AAAAY", "", "", "Closed Won", "true", "true"),  # no account, no role: nobody
    (
        "0065g00000Op5AAAAY",
        UMBRELLA,
        "",
        "Closed Lost",
        "false",
        "true",
    ),  # lost: counts for nobody's stage
]


def contact_rows(headers: list[str], *, booleans=("false", "true")) -> list[dict]:
    no, yes = booleans
    rows = []
    for (cid, (account, first, last, stage)), doi in zip(
        CONTACTS.items(), [yes, no, no, no, no, no, no], strict=False
    ):
        values = [
            cid,
            account,
            first,
            last,
            f"{first.lower()}@{last.lower()}.example",
            no,
            doi,
            "",
            stage,
        ]
        rows.append(dict(zip(headers, values, strict=True)))
    return rows


def opportunity_rows(
    headers: list[str], *, ids=lambda i: i, booleans=("false", "true")
) -> list[dict]:
    spelled = dict(zip(("false", "true"), booleans, strict=True))
    return [
        dict(
            zip(
                headers,
                [
                    oid,
                    ids(account),
                    role,
                    f"Deal {n}",
                    stage,
                    spelled[won],
                    spelled[closed],
                    "2024-10-01",
                ],
                strict=True,
            )
        )
        for n, (oid, account, role, stage, won, closed) in enumerate(OPPORTUNITIES, start=1)
    ]


def classify(
    tmp_path: Path, contacts: Path, *args: str, code: int = OK
) -> tuple[dict[str, dict], dict]:
    """Run classify with the preset; (output rows by their first column, the JSON report)."""
    out, report = tmp_path / "out.csv", tmp_path / "report.json"
    invoke_assert_code(
        code, "classify", contacts, *PRESET, "-o", out, "--report", report, "-q", *args
    )
    rows = read_csv(out)
    key = next(iter(rows[0]))
    return {row[key]: row for row in rows}, json.loads(report.read_text(encoding="utf-8"))


def stages(
    rows: dict[str, dict], stage_header: str = "Lifecycle_Stage__c"
) -> dict[str, tuple[str, str]]:
    return {key: (row[stage_header], row["Lifecycle Rule"]) for key, row in rows.items()}


@pytest.fixture
def salesforce_examples(tmp_path: Path) -> Path:
    """A private copy of examples/salesforce, so tests never write beside the real files."""
    target = tmp_path / "salesforce"
    shutil.copytree(SALESFORCE, target)
    return target


# --------------------------------------------------------------------------- the examples


def test_contacts_example_with_opportunities(salesforce_examples: Path, tmp_path: Path) -> None:
    rows, report = classify(
        tmp_path,
        salesforce_examples / "contacts.csv",
        "--deals",
        salesforce_examples / "opportunities.csv",
    )
    got = stages(rows)
    assert got["0035g00000XyZbAAAV"] == (
        "Customer",
        "customer",
    )  # Olivia: Granite Peak's won opportunity, no role
    assert got["0035g00000XyZcAAAV"] == (
        "Opportunity",
        "opportunity",
    )  # Marcus: Bluewater's open ones
    assert got["0035g00000XyZeAAAV"] == (
        "Customer",
        "customer",
    )  # Priya: the contact role of the won one
    assert got["0035g00000XyZfAAAV"] == (
        "Sales Lead",
        "sales_lead",
    )  # Daniel: same account, not the role
    assert got["0035g00000XyZiAAAV"] == ("Lead", "lead")  # Hana: no account
    assert got["0035g00000XyZgAAAV"] == (
        "Marketing Lead",
        "marketing_lead",
    )  # Tom: double opt-in, only a lost deal
    assert got["0035g00000XyZhAAAV"] == ("Lead", "lead")  # Emma: opted out
    assert got["0035g00000XyZmAAAV"] == ("Other", "other")  # Jordan: internal domain
    links = report["links"]
    assert (links["deal_rows"], links["deals_linked"], links["deals_linked_by_account"]) == (
        13,
        12,
        10,
    )
    assert links["contacts_linked_by_account"] == 9
    assert not [d for d in report["diagnostics"] if d["code"] in ("weak-link", "no-link")]


def test_contacts_example_is_newly_staged_and_gets_the_stage_column(
    salesforce_examples: Path, tmp_path: Path
) -> None:
    contacts = salesforce_examples / "contacts.csv"
    out = tmp_path / "out.csv"
    run = invoke_assert_code(
        OK,
        "classify",
        contacts,
        *PRESET,
        "--deals",
        salesforce_examples / "opportunities.csv",
        "-o",
        out,
        "--format",
        "markdown",
    )
    assert "15 newly staged" in run.stdout
    assert (
        "has no stage column ('Lifecycle_Stage__c', 'Lifecycle Stage'), so every contact is newly "
        "staged" in run.stdout
    )
    assert "10 through their account, to 9 contacts" in run.stdout
    header = out.read_text(encoding="utf-8").splitlines()[0]
    original = contacts.read_text(encoding="utf-8").splitlines()[0]
    # Every field as the input wrote it (Data Loader quotes all), the new ones after the last.
    assert (
        header
        == original
        + ',"Lifecycle_Stage__c","Previous Lifecycle Stage","Lifecycle Rule","Other Type"'
    )
    rows = read_csv(out)
    assert {row["Previous Lifecycle Stage"] for row in rows} == {""}
    assert all(row["Lifecycle_Stage__c"] for row in rows)


def test_leads_example_statuses(salesforce_examples: Path, tmp_path: Path) -> None:
    rows, report = classify(tmp_path, salesforce_examples / "leads.csv")
    got = stages(rows, "Lifecycle Stage")
    assert got["00Q5g00000DqRs1"] == ("Lead", "lead")  # Open - Not Contacted
    assert got["00Q5g00000DqRs4"] == ("Sales Lead", "sales_lead")  # Working - Contacted, was Lead
    assert got["00Q5g00000DqRs6"] == ("Sales Lead", "sales_lead")  # Closed - Converted
    # Closed - Not Converted, was Sales Lead: not one any more, and without a double opt-in column
    # nothing says she is not a Marketing Lead, so she falls no further than that.
    assert got["00Q5g00000DqRs7"] == ("Marketing Lead", "kept-unknown")
    assert got["00Q5g00000DqRs2"] == ("Marketing Lead", "kept-unknown")  # no double opt-in column
    assert got["00Q5g00000DqRs3"] == (
        "Lead",
        "lead",
    )  # opted out (1): decided without double opt-in
    missing = {m["column"] for m in report["missing_columns"]}
    assert "confirmation_status" in missing


def test_explain_agrees_with_classify_and_names_the_account_link(
    salesforce_examples: Path, tmp_path: Path
) -> None:
    """explain, run on each example contact (through the library entry point the command calls: one
    process each would be slow), gives the reclassified file's stage and rule."""
    from lifecycle_cli.core.explain import explain
    from lifecycle_cli.io.sources import read_source
    from lifecycle_cli.rules.model import load_rules, preset_path

    rows, _ = classify(
        tmp_path,
        salesforce_examples / "contacts.csv",
        "--deals",
        salesforce_examples / "opportunities.csv",
    )
    rules = load_rules(preset_path("salesforce"))
    contacts = read_source(
        str(salesforce_examples / "contacts.csv"), "contacts", rules.columns["contacts"]
    )
    deals = read_source(
        str(salesforce_examples / "opportunities.csv"), "deals", rules.columns["deals"]
    )
    labels = {s.id: s.label for s in rules.stages}
    for record_id, (stage, rule) in stages(rows).items():
        view = explain(contacts, deals, None, rules, record_id)
        assert (labels[view["decision"]["to"]], view["decision"]["rule"]) == (stage, rule), (
            record_id
        )
    run = invoke_assert_code(
        OK,
        "explain",
        salesforce_examples / "contacts.csv",
        "0035g00000XyZbAAAV",
        *PRESET,
        "--deals",
        salesforce_examples / "opportunities.csv",
    )
    assert "0065g00000AQr1bAAD stage Closed Won: won (linked by contact's account)" in run.stdout
    daniel = explain(
        contacts, deals, None, rules, "0035g00000XyZfAAAV"
    )  # his account's deals name Priya
    assert daniel["deals"] == [] and daniel["facts"]["deals"] == 0


def test_diff_takes_the_preset(salesforce_examples: Path, tmp_path: Path) -> None:
    leads = salesforce_examples / "leads.csv"
    out = tmp_path / "leads.out.csv"
    invoke_assert_code(OK, "classify", leads, *PRESET, "-o", out, "-q")
    run = invoke_assert_code(OK, "diff", leads, out, *PRESET, "--format", "json")
    assert json.loads(run.stdout)["summary"]["changed"] == 5


# --------------------------------------------------------------------------- the account link


@pytest.fixture
def exports(tmp_path: Path) -> tuple[Path, Path]:
    contacts = write_csv(tmp_path / "contacts.csv", CONTACT_API, contact_rows(CONTACT_API))
    opportunities = write_csv(
        tmp_path / "opportunities.csv", OPPORTUNITY_API, opportunity_rows(OPPORTUNITY_API)
    )
    return contacts, opportunities


def test_opportunities_link_through_the_account(exports, tmp_path: Path) -> None:
    contacts, opportunities = exports
    rows, report = classify(tmp_path, contacts, "--deals", opportunities)
    got = stages(rows)
    assert (
        got[ALICE] == got[AARON] == ("Customer", "customer")
    )  # Acme's won opportunity has no contact role
    assert got[GRETA] == ("Opportunity", "opportunity")  # Globex's open one
    assert got[IVAN] == ("Customer", "customer")  # the contact role ...
    assert got[IRIS] == ("Lead", "lead")  # ... takes precedence: Initech's won deal is not hers
    assert got[NORA] == ("Lead", "lead")  # no account: the opportunity without one reaches nobody
    assert got[UMA] == ("Lead", "lead")  # Umbrella's only opportunity was lost
    links = report["links"]
    assert (
        links["deals_linked"],
        links["deals_linked_by_account"],
        links["contacts_linked_by_account"],
    ) == (4, 3, 4)


def test_a_contact_role_row_keeps_the_whole_opportunity_off_the_account(tmp_path: Path) -> None:
    """An OpportunityContactRole export: one row per role. An opportunity that has a role for a
    contact of the file never reaches its account's other contacts, even from a row without one."""
    contacts = write_csv(tmp_path / "contacts.csv", CONTACT_API, contact_rows(CONTACT_API))
    headers = [
        "Id",
        "OpportunityId",
        "ContactId",
        "Role",
        "Opportunity.StageName",
        "Opportunity.IsWon",
        "Opportunity.IsClosed",
        "Opportunity.AccountId",
    ]
    roles = write_csv(
        tmp_path / "roles.csv",
        headers,
        [
            dict(
                zip(
                    headers,
                    [
                        "00K5g00000Rl1AAAAY",
                        "0065g00000Op3AAAAY",
                        IVAN,
                        "Decision Maker",
                        "Closed Won",
                        "true",
                        "true",
                        INITECH,
                    ],
                    strict=True,
                )
            ),
            dict(
                zip(
                    headers,
                    [
                        "00K5g00000Rl2AAAAY",
                        "0065g00000Op3AAAAY",
                        "",
                        "Influencer",
                        "Closed Won",
                        "true",
                        "true",
                        INITECH,
                    ],
                    strict=True,
                )
            ),
            dict(
                zip(
                    headers,
                    [
                        "00K5g00000Rl3AAAAY",
                        "0065g00000Op1AAAAY",
                        "",
                        "Other",
                        "Closed Won",
                        "true",
                        "true",
                        ACME,
                    ],
                    strict=True,
                )
            ),
        ],
    )
    rows, _ = classify(tmp_path, contacts, "--deals", roles)
    got = stages(rows)
    assert got[IVAN] == ("Customer", "customer")
    assert got[IRIS] == ("Lead", "lead")
    assert got[ALICE] == ("Customer", "customer")


def test_report_labels_and_15_character_ids(tmp_path: Path) -> None:
    """A contacts report and an opportunities report: labels, 1/0, and the 15-character ids reports
    write, against Data Loader's 18-character ones in the other file."""
    contacts = write_csv(
        tmp_path / "contacts.csv", CONTACT_LABELS, contact_rows(CONTACT_LABELS, booleans=("0", "1"))
    )
    opportunities = write_csv(
        tmp_path / "opportunities.csv",
        OPPORTUNITY_LABELS,
        opportunity_rows(OPPORTUNITY_LABELS, ids=lambda i: i[:15], booleans=("0", "1")),
    )
    rows, _ = classify(tmp_path, contacts, "--deals", opportunities)
    api_contacts = write_csv(tmp_path / "api.csv", CONTACT_API, contact_rows(CONTACT_API))
    api_opportunities = write_csv(
        tmp_path / "api-opps.csv", OPPORTUNITY_API, opportunity_rows(OPPORTUNITY_API)
    )
    (tmp_path / "api").mkdir()
    api_rows, _ = classify(tmp_path / "api", api_contacts, "--deals", api_opportunities)
    assert stages(rows, "Lifecycle Stage") == stages(api_rows)
    assert stages(rows, "Lifecycle Stage")[AARON] == ("Customer", "customer")


def test_opportunities_linked_only_by_account_are_linked(tmp_path: Path) -> None:
    contacts = write_csv(tmp_path / "contacts.csv", CONTACT_API, contact_rows(CONTACT_API))
    headers = ["Id", "AccountId", "StageName", "IsWon", "IsClosed"]  # no ContactId column at all
    opportunities = write_csv(
        tmp_path / "opportunities.csv",
        headers,
        [
            dict(
                zip(
                    headers, ["0065g00000Op1AAAAY", ACME, "Closed Won", "true", "true"], strict=True
                )
            ),
            dict(
                zip(
                    headers,
                    ["0065g00000Op2AAAAY", GLOBEX, "Prospecting", "false", "false"],
                    strict=True,
                )
            ),
        ],
    )
    rows, report = classify(tmp_path, contacts, "--deals", opportunities)
    assert stages(rows)[GRETA] == ("Opportunity", "opportunity")
    assert not [d for d in report["diagnostics"] if d["code"] in ("weak-link", "no-link")]


def test_opportunities_of_unknown_accounts_link_to_no_contact(tmp_path: Path) -> None:
    contacts = write_csv(tmp_path / "contacts.csv", CONTACT_API, contact_rows(CONTACT_API))
    headers = ["Id", "AccountId", "StageName", "IsWon", "IsClosed"]
    opportunities = write_csv(
        tmp_path / "opportunities.csv",
        headers,
        [
            dict(
                zip(
                    headers,
                    ["0065g00000Op1AAAAY", "0015g00000Zz9AAAAY", "Closed Won", "true", "true"],
                    strict=True,
                )
            ),
        ],
    )
    run = invoke_assert_code(
        USAGE, "classify", contacts, *PRESET, "--deals", opportunities, "-o", tmp_path / "o.csv"
    )
    assert "opportunities.csv" in run.stderr and "links to a contact" in run.stderr
    assert "'AccountId' to the contacts' 'AccountId' (by account)" in run.stderr
    assert not (tmp_path / "o.csv").exists()


def test_hubspot_deals_do_not_link_by_company(tmp_path: Path) -> None:
    """The default (HubSpot) rules keep linking deals by contact only: a deal whose only link is
    its company does not make the company's contacts Customers."""
    headers = ["Record ID", "First Name", "Email", "Lifecycle Stage", "Associated Company IDs"]
    contacts = write_csv(
        tmp_path / "contacts.csv",
        headers,
        [
            {
                "Record ID": "101",
                "First Name": "Ann",
                "Email": "ann@acme.example",
                "Lifecycle Stage": "lead",
                "Associated Company IDs": "9001",
            },
            {
                "Record ID": "102",
                "First Name": "Bo",
                "Email": "bo@acme.example",
                "Lifecycle Stage": "lead",
                "Associated Company IDs": "9001",
            },
        ],
    )
    deal_headers = ["Record ID", "Deal Stage", "Associated Contact IDs", "Associated Company IDs"]
    deals = write_csv(
        tmp_path / "deals.csv",
        deal_headers,
        [
            {
                "Record ID": "501",
                "Deal Stage": "closedwon",
                "Associated Contact IDs": "101",
                "Associated Company IDs": "9001",
            },
            {
                "Record ID": "502",
                "Deal Stage": "closedwon",
                "Associated Contact IDs": "",
                "Associated Company IDs": "9001",
            },
        ],
    )
    out = tmp_path / "out.csv"
    invoke_assert_code(OK, "classify", contacts, "--deals", deals, "-o", out, "-q")
    got = {row["Record ID"]: row["Lifecycle Stage"] for row in read_csv(out)}
    assert got == {"101": "customer", "102": "lead"}


def test_accounts_as_companies(salesforce_examples: Path, tmp_path: Path) -> None:
    """--companies reads Salesforce accounts; a first export without their stage field is newly
    staged."""
    accounts = salesforce_examples / "accounts.csv"
    out = tmp_path / "accounts.out.csv"
    invoke_assert_code(
        OK,
        "classify",
        salesforce_examples / "contacts.csv",
        *PRESET,
        "-q",
        "--deals",
        salesforce_examples / "opportunities.csv",
        "-o",
        tmp_path / "c.csv",
        "--companies",
        accounts,
        "--companies-output",
        out,
    )
    rows = read_csv(out)
    assert list(rows[0])[-3:] == [
        "Lifecycle_Stage__c",
        "Previous Lifecycle Stage",
        "Lifecycle Rule",
    ]
    got = {row["Name"]: row["Lifecycle_Stage__c"] for row in rows}
    assert (
        got["Granite Peak Inc."] == "Customer"
    )  # its contacts are Customers through its won opportunity
    assert got["Harbor Logistics Ltd"] == "Sales Lead"
    assert all(row["Previous Lifecycle Stage"] == "" for row in rows)
    # With the stage field present, the accounts' own stages are what changes are measured from.
    originals = read_csv(accounts)
    staged = write_csv(
        tmp_path / "accounts.csv",
        [*originals[0], "Lifecycle_Stage__c"],
        [{**row, "Lifecycle_Stage__c": "Lead"} for row in originals],
    )
    invoke_assert_code(
        OK,
        "classify",
        salesforce_examples / "contacts.csv",
        *PRESET,
        "-q",
        "--deals",
        salesforce_examples / "opportunities.csv",
        "-o",
        tmp_path / "c2.csv",
        "--companies",
        staged,
        "--companies-output",
        tmp_path / "again.csv",
    )
    again = {
        row["Name"]: (row["Lifecycle_Stage__c"], row["Previous Lifecycle Stage"])
        for row in read_csv(tmp_path / "again.csv")
    }
    assert again["Granite Peak Inc."] == ("Customer", "Lead")


def test_hubspot_import_files_need_hubspot_record_ids(
    salesforce_examples: Path, tmp_path: Path
) -> None:
    """Salesforce ids update no HubSpot record: --hubspot-import stops before writing anything,
    naming the column and an example id."""
    folder = tmp_path / "import"
    run = invoke_assert_code(
        USAGE,
        "classify",
        salesforce_examples / "contacts.csv",
        *PRESET,
        "-q",
        "-o",
        tmp_path / "c.csv",
        "--hubspot-import",
        folder,
    )
    assert (
        "column 'Id'" in run.stderr
        and "0035g00000XyZ" in run.stderr
        and "HubSpot record ids" in run.stderr
    )
    assert not folder.exists() and not (tmp_path / "c.csv").exists()


# --------------------------------------------------------------------------- a file without a stage
# column


def test_without_a_stage_column_every_contact_is_newly_staged(exports, tmp_path: Path) -> None:
    contacts, _ = exports
    headers = [h for h in CONTACT_API if h != "Lifecycle_Stage__c"]
    write_csv(contacts, headers, [{h: r[h] for h in headers} for r in contact_rows(CONTACT_API)])
    rows, report = classify(tmp_path, contacts)
    assert list(next(iter(rows.values())))[-4:] == [
        "Lifecycle_Stage__c",
        "Previous Lifecycle Stage",
        "Lifecycle Rule",
        "Other Type",
    ]
    assert stages(rows)[ALICE] == ("Marketing Lead", "marketing_lead")
    assert report["summary"]["newly_staged"] == report["summary"]["contacts"] == len(CONTACTS)
    assert any("newly staged" in note for note in report["missing_sources"])


def test_a_contacts_report_without_a_stage_field(tmp_path: Path) -> None:
    """tests/real_shapes/k_salesforce_no_stage stops under the HubSpot rules; the preset classifies
    it."""
    contacts = tmp_path / "contacts.csv"
    shutil.copy(ROOT / "tests" / "real_shapes" / "k_salesforce_no_stage" / "contacts.csv", contacts)
    rows, report = classify(tmp_path, contacts)
    got = stages(rows)
    # No deals, no activity and no double opt-in column: nothing makes anyone more than a Lead.
    assert got["0035g00000XyZ1aAAF"] == ("Lead", "lead")
    assert got["0035g00000XyZ1cAAF"] == ("Lead", "lead")  # Email Opt Out 1
    assert report["summary"]["newly_staged"] == 10


def test_the_hubspot_rules_still_need_a_stage_column(tmp_path: Path) -> None:
    headers = ["Record ID", "Email"]
    contacts = write_csv(
        tmp_path / "contacts.csv", headers, [{"Record ID": "1", "Email": "a@b.example"}]
    )
    run = invoke_assert_code(USAGE, "classify", contacts, "-o", tmp_path / "o.csv")
    assert "Lifecycle Stage" in run.stderr and "--preset salesforce" not in run.stderr


def test_a_salesforce_export_under_the_hubspot_rules_gets_a_hint(
    salesforce_examples: Path, tmp_path: Path
) -> None:
    run = invoke_assert_code(
        USAGE, "classify", salesforce_examples / "contacts.csv", "-o", tmp_path / "o.csv"
    )
    assert "contacts.csv" in run.stderr and "Record ID" in run.stderr
    assert "--preset salesforce" in run.stderr


# --------------------------------------------------------------------------- rules files


BASE_RULES = (ROOT / "lifecycle_cli" / "presets" / "salesforce.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (
            "deals_by_account: {deals: account_id, contacts: account_id}",
            "deals_by_account: {deals: account_id, contacts: acount_id}",
            ["links.deals_by_account.contacts", "'acount_id'", "did you mean 'account_id'"],
        ),
        (
            "deals_by_account: {deals: account_id, contacts: account_id}",
            "deals_by_account: {deals: account_id, people: account_id}",
            ["unknown key 'people'"],
        ),
        (
            "    email: [Email]\n    first_name",
            "    email: {headers: [Email], optional: true}\n    first_name",
            ["only a stage column can be optional"],
        ),
    ],
)
def test_link_and_optional_column_mistakes_name_the_line(
    tmp_path: Path, old: str, new: str, words: list[str]
) -> None:
    assert BASE_RULES.count(old) == 1
    rules = tmp_path / "rules.yaml"
    rules.write_text(BASE_RULES.replace(old, new), encoding="utf-8")
    changed = BASE_RULES.replace(old, new)
    line = changed[: changed.index(new)].count("\n") + 1
    run = invoke_assert_code(
        USAGE, "classify", SALESFORCE / "contacts.csv", "--rules", rules, "--check"
    )
    assert f"rules.yaml:{line}" in run.stderr
    for word in words:
        assert word in run.stderr


def test_init_validate_and_test_the_preset(tmp_path: Path) -> None:
    """`lifecycle init --preset salesforce` starts from the preset; its own cases (the account link,
    the lead statuses, a file without the stage field) pass through the real classifier."""
    invoke_assert_code(OK, "init", "--preset", "salesforce", cwd=tmp_path)
    assert (tmp_path / "rules.yaml").read_bytes() == (
        ROOT / "lifecycle_cli" / "presets" / "salesforce.yaml"
    ).read_bytes()
    assert "no problems found" in invoke_assert_code(OK, "validate", cwd=tmp_path).stdout
    run = invoke_assert_code(OK, "test", cwd=tmp_path)
    assert (
        "an account's won opportunity without a contact role makes its contacts Customers PASSED"
        in run.stdout
    )
    assert "an export without the stage field is classified all the same PASSED" in run.stdout
    assert " 0 failed" not in run.stdout and "failed" not in run.stdout.splitlines()[-1]

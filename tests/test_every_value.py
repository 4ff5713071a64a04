"""Every value accounted for, from the command line: init --from on real shapes, consent statuses no
list names, explain by email and with unknown facts, every stopping problem in one run, columns
declared absent under --strict, and the SQL query agreeing with classify on falling contacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import (
    CHANGES,
    CONSENT_HEADERS,
    CONTACT_HEADERS,
    OK,
    ROOT,
    USAGE,
    invoke_assert_code,
    read_csv,
    run_cli,
    write_csv,
)

SHAPES = ROOT / "tests" / "real_shapes"


def contact(record_id: str, stage: str, **values: str) -> dict:
    row = dict.fromkeys(CONTACT_HEADERS, "")
    row.update(
        {
            "Record ID": record_id,
            "First Name": "Jo",
            "Last Name": f"Park{record_id[-2:]}",
            "Email": f"jo{record_id[-2:]}@fabrikam.example",
            "Lifecycle Stage": stage,
            "Unsubscribed from all email": "false",
            "Opted out of email: Marketing Information": "false",
        }
    )
    row.update(values)
    return row


def report_of(run) -> dict:
    return json.loads(run.stdout)


# --------------------------------------------------------------------------- init --from on real
# shapes

#: Real shapes with values no list names (l_custom_pipeline_flags has none: its flags decide every
#: deal), with their contacts, deals and preset.
INIT_SHAPES = {
    "m_custom_pipeline_no_flags": ("contacts.csv", "deals.csv", None),
    "o_renamed_lead_statuses": ("leads.csv", None, "salesforce"),
    "p_falling_contacts": ("contacts.csv", "deals.csv", None),
}


@pytest.mark.parametrize("shape", sorted(INIT_SHAPES))
def test_init_from_a_real_shape_then_validate_and_classify(shape: str, tmp_path: Path) -> None:
    """init --from writes the export's unknown values under sort_these; validate lists them (exit
    1);
    classify with the file reports them as the built-in rules do; once sorted, validate is clean,
    the vocabulary is empty, and a stopping shape classifies."""
    contacts, deals, preset = INIT_SHAPES[shape]
    work = tmp_path / shape
    shutil.copytree(SHAPES / shape, work)
    args = [
        "--from",
        contacts,
        *(["--deals", deals] if deals else []),
        *(["--preset", preset] if preset else []),
    ]
    run = invoke_assert_code(OK, "init", *args, cwd=work)
    text = (work / "rules.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    unsorted = {
        name: spec["sort_these"]
        for name, spec in data["values"].items()
        if isinstance(spec, dict) and spec.get("sort_these")
    }
    assert unsorted, f"{shape}: nothing to sort in\n{run.stderr}"
    # The preset's comments (where each value was found) are kept.
    preset_text = (
        ROOT / "rules.yaml" if not preset else ROOT / "lifecycle_cli" / "presets" / f"{preset}.yaml"
    ).read_text(encoding="utf-8")
    assert [line for line in preset_text.splitlines() if line.lstrip().startswith("#")][:20] == [
        line for line in text.splitlines() if line.lstrip().startswith("#")
    ][:20]

    check = run_cli("validate", "rules.yaml", cwd=work)
    assert check.code == CHANGES, check.stdout
    for name, values in unsorted.items():
        assert f"value list '{name}' has {len(values)} value(s) still to sort" in check.stdout

    classify = [
        "classify",
        contacts,
        *(["--deals", deals] if deals else []),
        "--rules",
        "rules.yaml",
        "-o",
        "out.csv",
        "--format",
        "json",
    ]
    first = run_cli(*classify, cwd=work)
    if "open_deal_stages" in unsorted and shape.startswith("m_"):
        assert first.code == USAGE and "unknown-deal-stage" in first.stdout + first.stderr
    else:
        assert first.code == OK, first.stderr
        words = {
            (v["list"], value["value"])
            for v in report_of(first)["vocabulary"]
            for value in v["values"]
        }
        assert words == {
            (name, value)
            for name, values in unsorted.items()
            for value in values
            if name != "open_deal_stages"
        }

    # Sorting: every value to sort into not_in (deal stages: into lost_deal_stages).
    for name, values in unsorted.items():
        spec = data["values"][name]
        del spec["sort_these"]
        if name == "open_deal_stages":
            lost = data["values"]["lost_deal_stages"]
            data["values"]["lost_deal_stages"] = (
                lost if isinstance(lost, list) else lost["in"]
            ) + values
        else:
            spec["not_in"] = list(spec.get("not_in") or []) + values
    (work / "rules.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    invoke_assert_code(OK, "validate", "rules.yaml", cwd=work)
    sorted_run = invoke_assert_code(OK, *classify, cwd=work)
    assert report_of(sorted_run)["vocabulary"] == []


# --------------------------------------------------------------------------- consent statuses


def test_a_consent_status_no_list_names_keeps_marketing_leads(tmp_path: Path) -> None:
    """A consent event `Resubscribed` (a portal's own status) is neither subscribed nor not: the
    Marketing Lead whose latest marketing event has it keeps the stage; a known lapse still
    demotes."""
    contacts = write_csv(
        tmp_path / "contacts.csv",
        CONTACT_HEADERS,
        [
            contact(
                "51234590001",
                "Marketing Qualified Lead",
                **{"Marketing email confirmation status": "Confirmed"},
            ),
            contact(
                "51234590002",
                "Marketing Qualified Lead",
                **{"Marketing email confirmation status": "Confirmed"},
            ),
            contact("51234590003", "Lead", **{"Marketing email confirmation status": "Confirmed"}),
        ],
    )
    event = lambda cid, status: {  # noqa: E731
        "Contact ID": cid,
        "Email": "",
        "Subscription type": "Marketing Information",
        "Status": status,
        "Legal basis": "Freely given consent from contact",
        "Double opt-in": "true",
        "Timestamp": "2024-05-02T09:00:00Z",
    }
    consent = write_csv(
        tmp_path / "consent.csv",
        CONSENT_HEADERS,
        [
            event("51234590001", "Resubscribed"),
            event("51234590002", "Opted out"),
            event("51234590003", "Resubscribed"),
        ],
    )
    run = invoke_assert_code(
        OK,
        "classify",
        contacts,
        "--consent",
        consent,
        "-o",
        tmp_path / "out.csv",
        "--format",
        "json",
    )
    got = {
        r["Record ID"]: (r["Lifecycle Stage"], r["Lifecycle Rule"])
        for r in read_csv(tmp_path / "out.csv")
    }
    assert got["51234590001"] == ("Marketing Qualified Lead", "kept-unknown")
    assert got["51234590002"] == ("Lead", "lead")  # Opted out is a known no
    assert got["51234590003"] == ("Lead", "lead")  # never promoted on an unknown
    [entry] = report_of(run)["vocabulary"]
    assert (entry["source"], entry["header"], entry["values"]) == (
        "consent",
        "Status",
        [{"value": "Resubscribed", "count": 2}],
    )
    strict = run_cli(
        "classify", contacts, "--consent", consent, "-o", tmp_path / "strict.csv", "--strict"
    )
    assert (
        strict.code == USAGE
        and "Resubscribed" in strict.stderr
        and not (tmp_path / "strict.csv").exists()
    )


# --------------------------------------------------------------------------- explain


def test_explain_finds_a_contact_by_email_and_shows_unknown_facts(tmp_path: Path) -> None:
    folder = SHAPES / "p_falling_contacts"
    rows = read_csv(folder / "contacts.csv")
    fallen = next(r for r in rows if r["Record ID"] == "51234581023")  # Opportunity, status Working
    run = invoke_assert_code(
        OK,
        "explain",
        folder / "contacts.csv",
        fallen["Email"].upper(),
        "--deals",
        folder / "deals.csv",
        "--format",
        "json",
    )
    view = json.loads(run.stdout)
    assert view["record_id"] == "51234581023"
    assert view["decision"] == {
        "from": "opportunity",
        "to": "sales_lead",
        "rule": "kept-unknown",
        "stopped_at": "sales_lead",
    }
    # No consent columns: the facts read unknown, as the rules below call them.
    assert (
        view["facts"]["double_opt_in"] == "unknown"
        and view["facts"]["marketing_consent"] == "unknown"
    )
    sales = next(r for r in view["rules"] if r["rule"] == "sales_lead")
    assert sales["result"] == "unknown"
    assert any("Working" in v and "@sales_lead_statuses" in v for v in sales["unknown_values"])
    text = invoke_assert_code(
        OK, "explain", folder / "contacts.csv", "51234581023", "--deals", folder / "deals.csv"
    )
    assert (
        "stopped at Sales Lead" in text.stdout
        and "True" not in text.stdout.split("Facts:")[1].split("Rules")[0]
    )
    missing = run_cli("explain", folder / "contacts.csv", "nobody@nowhere.example")
    assert (
        missing.code == USAGE
        and "no contact has the record id" in missing.stderr
        and "or the email" in missing.stderr
    )


# --------------------------------------------------------------------------- every stop in one run


def test_every_stopping_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    """No stage column, Excel-rounded ids that collide, a deal stage no list names and a deals file
    that links nothing: one run names them all (text and JSON), and writes nothing."""
    headers = [h for h in CONTACT_HEADERS if h != "Lifecycle Stage"]
    rows = [
        {k: v for k, v in contact(i, "").items() if k != "Lifecycle Stage"}
        for i in ("5.12346E+10", "5.12346E+10", "51234567003")
    ]
    contacts = write_csv(tmp_path / "contacts.csv", headers, rows)
    deals = write_csv(
        tmp_path / "deals.csv",
        ["Record ID", "Deal Stage", "Pipeline", "Associated Contact IDs"],
        [
            {
                "Record ID": "901",
                "Deal Stage": "Won - Paid",
                "Pipeline": "Renewals",
                "Associated Contact IDs": "99999",
            }
        ],
    )
    run = run_cli(
        "classify", contacts, "--deals", deals, "-o", tmp_path / "out.csv", "--format", "json"
    )
    assert run.code == USAGE
    for words in (
        "'Lifecycle Stage' not found",
        "Excel rounded",
        "'Won - Paid' in pipeline 'Renewals'",
        "none of its 1 row links",
    ):
        assert words in run.stderr, words
    codes = {d["code"] for d in json.loads(run.stdout)["diagnostics"] if d["severity"] == "error"}
    assert {"missing-column", "excel-rounded-ids", "unknown-deal-stage"} <= codes
    assert not (tmp_path / "out.csv").exists()


# --------------------------------------------------------------------------- --strict a cron job
# can keep


def test_columns_declared_absent_are_notes_that_strict_accepts(tmp_path: Path) -> None:
    """An export without Last Contacted and consent columns: warnings that fail --strict, with a
    hint
    to run `lifecycle init` (the built-in rules); declared `missing: absent`, they are notes and
    --strict passes; a warning that kept nobody is a note already."""
    headers = [h for h in CONTACT_HEADERS if h not in ("Last Contacted", "Contact type")]
    contacts = write_csv(
        tmp_path / "contacts.csv",
        headers,
        [
            {
                k: v
                for k, v in contact(
                    "51234591001", "Sales Qualified Lead", **{"Lead Status": "New"}
                ).items()
                if k in headers
            },
            {
                k: v
                for k, v in contact("51234591002", "Lead", **{"Lead Status": "Connected"}).items()
                if k in headers
            },
        ],
    )
    run = run_cli("classify", contacts, "-o", tmp_path / "a.csv", "--strict", cwd=tmp_path)
    assert run.code == USAGE, run.stderr
    assert "Last Contacted" in run.stderr and "(`lifecycle init` writes one)" in run.stderr
    assert "'Contact type'" not in run.stderr  # kept nobody: a note
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    old = "    last_contacted: [Last Contacted, notes_last_contacted, Zuletzt kontaktiert]"
    assert old in text
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        text.replace(old, "    last_contacted: {headers: [Last Contacted], missing: absent}"),
        encoding="utf-8",
    )
    ok = invoke_assert_code(
        OK,
        "classify",
        contacts,
        "-o",
        tmp_path / "b.csv",
        "--strict",
        "--format",
        "json",
        cwd=tmp_path,
    )
    report = report_of(ok)
    notes = [d for d in report["diagnostics"] if d["code"] == "missing-column"]
    assert notes and all(d["severity"] == "note" for d in notes)
    assert {m["column"]: m["declared_absent"] for m in report["missing_columns"]}[
        "last_contacted"
    ] is True
    got = {
        r["Record ID"]: (r["Lifecycle Stage"], r["Lifecycle Rule"])
        for r in read_csv(tmp_path / "b.csv")
    }
    assert got == {
        "51234591001": ("Sales Qualified Lead", "kept-unknown"),
        "51234591002": ("Sales Qualified Lead", "sales_lead"),
    }


# --------------------------------------------------------------------------- the SQL query agrees


@pytest.mark.parametrize("shape", ["l_custom_pipeline_flags", "p_falling_contacts"])
def test_the_sql_query_stops_falling_contacts_as_classify_does(shape: str, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    folder = SHAPES / shape
    expected = {
        r["Record ID"]: (r["Lifecycle Stage"], r["Lifecycle Rule"])
        for r in (
            invoke_assert_code(
                OK,
                "classify",
                folder / "contacts.csv",
                "--deals",
                folder / "deals.csv",
                "-o",
                tmp_path / "out.csv",
                "--stage-values",
                "label",
                "-q",
            )
            and read_csv(tmp_path / "out.csv")
        )
    }
    headers = {name: list(read_csv(folder / f"{name}.csv")[0]) for name in ("contacts", "deals")}
    sql = invoke_assert_code(
        OK,
        "sql",
        "--dialect",
        "duckdb",
        "--contacts-header",
        folder / "contacts.csv",
        "--deals-header",
        folder / "deals.csv",
        "--no-consent",
    ).stdout
    con = duckdb.connect()
    for name in headers:
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_csv('{folder / name}.csv', all_varchar = "
            "true)"
        )
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    at = [columns.index(c) for c in ("Record ID", "Lifecycle Stage", "Lifecycle Rule")]
    got = {row[at[0]]: (row[at[1]], row[at[2]]) for row in cursor.fetchall()}
    assert got == expected
    assert (
        any(rule == "kept-unknown" and stage != "Opportunity" for stage, rule in expected.values())
        or shape != "p_falling_contacts"
    )


def test_a_count_of_one_reads_in_the_singular(tmp_path: Path) -> None:
    """One contact kept for lack of a deals file, one caught falling, one deal row: the report
    says '1 contact' and '1 row', not '1 contacts' and '1 rows'."""
    contacts = write_csv(
        tmp_path / "contacts.csv",
        CONTACT_HEADERS,
        [
            contact("51234591001", "Opportunity", **{"Lead Status": "Working"}),
            contact("51234591002", "Lead", **{"Lead Status": "New"}),
        ],
    )
    deals = tmp_path / "deals.csv"
    deals.write_text(
        "Record ID,Deal Name,Deal Stage,Pipeline,Is Closed Won,Is Deal Closed?,"
        "Associated Contact IDs\n"
        "18091001,Fabrikam lost,Closed Lost,Sales Pipeline,false,true,51234591001\n",
        encoding="utf-8",
    )
    without = run_cli("classify", contacts, "-o", tmp_path / "a.csv", "--format", "markdown")
    assert without.code == OK, without.stderr
    assert "(customer, opportunity) cannot fire" in without.stdout
    assert "lack of deals; 1 contact kept their stage because of it." in without.stdout
    # The Opportunity's only deal is lost; 'Working' is a status no list names: caught.
    caught = run_cli(
        "classify", contacts, "--deals", deals, "-o", tmp_path / "b.csv", "--format", "markdown"
    )
    assert caught.code == OK, caught.stderr
    assert "Note: 1 contact falling from a higher stage stopped at a rule" in caught.stdout
    assert "deals.csv (1 row, 1 matched to contacts)" in caught.stdout
    assert "neither names nor rules out, on 1 contact: 'Working' (1)" in caught.stdout
    assert "(2 contacts)" in caught.stdout

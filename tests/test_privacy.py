"""Personal data in messages and reports: errors name rows, columns and counts, never a contact's
name or email; text from the exports cannot steer the terminal; --redact keeps names and emails
out of every report format. Through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import (
    CHANGES,
    CONSENT_HEADERS,
    CONTACT_HEADERS,
    EXAMPLES,
    OK,
    ROOT,
    USAGE,
    invoke_assert_code,
    run_cli,
    write_csv,
)

SECRET = {
    "First Name": "Zebulon",
    "Last Name": "Quixote",
    "Email": "zebulon.quixote@secret.example",
}


def contacts_with_shifted_row(path: Path) -> Path:
    """A HubSpot export saved by Excel: trailing empty fields dropped, and in row 3 a last name with
    an unquoted comma ("Quixote, Jr."), which moves the email into the Lifecycle Stage column."""
    header = ",".join(CONTACT_HEADERS)
    rows = [
        "51234567801,Nina,Vogel,nina.vogel@mailbox.example,Lead,,,2023-11-02 10:05",
        "51234567802,Zebulon,Quixote, Jr.,zebulon.quixote@secret.example,Lead,NEW",
        "51234567803,Lena,Hartmann,lena.hartmann@mailbox.example,customer,,,2022-05-17 08:00",
    ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def assert_no_personal_data(text: str) -> None:
    for value in (*SECRET.values(), "zebulon", "quixote"):
        assert value.lower() not in text.lower(), f"{value!r} shown:\n{text}"


# --------------------------------------------------------------------------- values in messages


@pytest.mark.parametrize("debug", [False, True])
def test_a_shifted_row_is_diagnosed_without_showing_its_values(tmp_path: Path, debug: bool) -> None:
    contacts = contacts_with_shifted_row(tmp_path / "contacts.csv")
    run = run_cli("classify", contacts, *(["--debug"] if debug else []))
    assert run.code == USAGE, run.stderr
    assert ("Traceback" in run.stderr) == debug
    assert (
        f"{contacts}: column 'Lifecycle Stage': 1 row holds a name, email address or phone number"
        in run.stderr
    )
    assert "row 3 (7 fields), where the header has 20 fields" in run.stderr
    assert (
        "a delimiter inside a field that is not quoted" in run.stderr
        and "double quotes" in run.stderr
    )
    assert "do not know" not in run.stderr  # not reported as an unknown stage
    assert_no_personal_data(run.stderr)
    assert not (tmp_path / "contacts.reclassified.csv").exists()


def test_diff_diagnoses_the_shifted_row_alike(tmp_path: Path) -> None:
    after = contacts_with_shifted_row(tmp_path / "after.csv")
    before = write_csv(
        tmp_path / "before.csv",
        CONTACT_HEADERS,
        [{"Record ID": "51234567801", "Lifecycle Stage": "lead"}],
    )
    run = invoke_assert_code(USAGE, "diff", before, after)
    assert "row 3 (7 fields), where the header has 20 fields" in run.stderr
    assert_no_personal_data(run.stderr)


def test_a_name_in_the_stage_column_is_not_shown_but_a_custom_stage_is(tmp_path: Path) -> None:
    rows = [
        {"Record ID": "1", **SECRET, "Lifecycle Stage": "lead"},
        {
            "Record ID": "2",
            "First Name": "Ann",
            "Last Name": "Lee",
            "Lifecycle Stage": "Quixote",
        },  # a name, shifted in
        {
            "Record ID": "3",
            "First Name": "Bo",
            "Last Name": "Ek",
            "Lifecycle Stage": "+49 151 2345678",
        },
        {
            "Record ID": "4",
            "First Name": "Cy",
            "Last Name": "Ong",
            "Lifecycle Stage": "Prospect",
        },  # a portal's own stage
    ]
    run = invoke_assert_code(
        USAGE, "classify", write_csv(tmp_path / "c.csv", CONTACT_HEADERS, rows)
    )
    assert "2 rows hold a name, email address or phone number instead of a stage" in run.stderr
    assert "rows 3 (20 fields), 4 (20 fields), where the header has 20 fields" in run.stderr
    assert "'Prospect' (1 row, first at row 5)" in run.stderr
    assert "2345678" not in run.stderr
    assert_no_personal_data(run.stderr)


@pytest.mark.parametrize("debug", [False, True])
def test_diff_by_email_names_rows_of_a_repeat_not_the_email(tmp_path: Path, debug: bool) -> None:
    rows = [
        {"Record ID": "1", **SECRET, "Lifecycle Stage": "lead"},
        {"Record ID": "2", "Email": "bo@x.example", "Lifecycle Stage": "lead"},
        {"Record ID": "3", **SECRET, "Lifecycle Stage": "customer"},
    ]
    before = write_csv(tmp_path / "before.csv", CONTACT_HEADERS, rows)
    after = write_csv(tmp_path / "after.csv", CONTACT_HEADERS, rows[:2])
    run = run_cli("diff", before, after, "--key", "Email", *(["--debug"] if debug else []))
    assert run.code == USAGE, run.stderr
    assert (
        f"{before}: column 'Email': 1 record id appears more than once: rows 2 and 4 have the same "
        "id" in run.stderr
    )
    assert_no_personal_data(run.stderr)


@pytest.mark.parametrize("debug", [False, True])
def test_bad_booleans_and_timestamps_are_counted_not_shown(tmp_path: Path, debug: bool) -> None:
    contacts = write_csv(
        tmp_path / "contacts.csv",
        CONTACT_HEADERS,
        [
            {
                "Record ID": "101",
                "First Name": "Nina",
                "Lifecycle Stage": "lead",
                "Unsubscribed from all email": "false",
            },
            {
                "Record ID": "102",
                **SECRET,
                "Lifecycle Stage": "lead",
                "Unsubscribed from all email": "Quixote",
            },
            {
                "Record ID": "103",
                "First Name": "Lena",
                "Lifecycle Stage": "lead",
                "Opted out of email: Marketing Information": "zebulon.quixote@secret.example",
            },
        ],
    )
    consent = write_csv(
        tmp_path / "consent.csv",
        CONSENT_HEADERS,
        [
            {
                "Contact ID": "101",
                "Subscription type": "Marketing Information",
                "Status": "Subscribed",
                "Timestamp": "2024-03-01T10:00:00Z",
            },
            {
                "Contact ID": "102",
                "Subscription type": "Marketing Information",
                "Status": "Subscribed",
                "Timestamp": "zebulon.quixote@secret.example",
            },
        ],
    )
    run = run_cli("classify", contacts, "--consent", consent, *(["--debug"] if debug else []))
    assert run.code == USAGE, run.stderr
    assert (
        "column 'Unsubscribed from all email': 1 row holds values that are not true/false"
        in run.stderr
    )
    assert (
        "column 'Opted out of email: Marketing Information': 1 row holds values that are not "
        "true/false" in run.stderr
    )
    assert f"{consent}: column 'Timestamp': 1 row holds values that are not a date" in run.stderr
    assert "or 3/15/2024 2:30 PM, 1 value, first at row 3;" in run.stderr
    assert "not true/false (true/yes/y or false/no/n), 1 value: row 3;" in run.stderr
    assert "not true/false (true/yes/y or false/no/n), 1 value: row 4;" in run.stderr
    assert_no_personal_data(run.stderr)


# --------------------------------------------------------------------------- terminal escapes


# sets the window title, clears the screen, reverses the text
ESC_NAME = "Ann\x1b]0;owned\x07\x1b[2J\u202e"


def test_escape_sequences_in_values_and_headers_are_shown_escaped(tmp_path: Path) -> None:
    stage = write_csv(
        tmp_path / "c.csv", CONTACT_HEADERS, [{"Record ID": "1", "Lifecycle Stage": "VIP\x1b[2J"}]
    )
    run = invoke_assert_code(USAGE, "classify", stage)
    assert "'VIP\\x1b[2J' (1 row, first at row 2)" in run.stderr
    header = tmp_path / "h.csv"
    header.write_text("Record ID,Lifecycle Stag\x1b[8m\n1,lead\n", encoding="utf-8")
    run = invoke_assert_code(USAGE, "classify", header)
    assert "did you mean 'Lifecycle Stag\\x1b[8m'?" in run.stderr
    debug = run_cli("classify", stage, "--debug")
    assert debug.code == USAGE and "Traceback" in debug.stderr
    assert "\x1b" not in debug.stderr and "'VIP\\x1b[2J'" in debug.stderr


def test_the_reports_escape_control_characters_and_markup(tmp_path: Path) -> None:
    rows = [
        {
            "Record ID": "1",
            "First Name": ESC_NAME,
            "Last Name": "[bold]<img src=x onerror=alert(1)>",
            "Email": "ann@x.example",
            "Lifecycle Stage": "customer",
            "Contact type": "Employee",
        }
    ]
    contacts = write_csv(tmp_path / "c.csv", CONTACT_HEADERS, rows)
    text = invoke_assert_code(
        OK, "classify", contacts, "-o", tmp_path / "out.csv", "--report", tmp_path / "r.txt"
    )
    for shown in (text.stderr, (tmp_path / "r.txt").read_text(encoding="utf-8")):
        assert "\x1b" not in shown and "\u202e" not in shown
        assert (
            "Ann\\x1b]0;owned\\x07\\x1b[2J\\u202e [bold]<img" in shown
        )  # visible, markup not applied
    md = invoke_assert_code(CHANGES, "classify", contacts, "--check", "-f", "markdown").stdout
    assert "\x1b" not in md and "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    page = invoke_assert_code(CHANGES, "classify", contacts, "--check", "-f", "html").stdout
    assert "\x1b" not in page and "<img src" not in page
    data = invoke_assert_code(CHANGES, "classify", contacts, "--check", "-f", "json").stdout
    assert "\x1b" not in data and "\u202e" not in data
    assert json.loads(data)["samples"][0]["name"].startswith(ESC_NAME)


# --------------------------------------------------------------------------- --redact


def people(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "contacts.csv",
        CONTACT_HEADERS,
        [
            {
                "Record ID": "51234567801",
                **SECRET,
                "Lifecycle Stage": "customer",
                "Contact type": "Employee",
            },
            {
                "Record ID": "51234567802",
                "First Name": "Nina",
                "Last Name": "Vogel",
                "Email": "nina.vogel@mailbox.example",
                "Lifecycle Stage": "salesqualifiedlead",
            },
        ],
    )


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
def test_redact_leaves_names_and_emails_out_of_every_classify_report(
    tmp_path: Path, fmt: str
) -> None:
    contacts = people(tmp_path)
    plain = invoke_assert_code(CHANGES, "classify", contacts, "--check", "-f", fmt)
    assert (
        "Zebulon" in plain.stdout + plain.stderr
    )  # the report without --redact has the examples' names
    run = invoke_assert_code(
        OK,
        "classify",
        contacts,
        "-o",
        tmp_path / "out.csv",
        "-f",
        fmt,
        "--redact",
        "--report",
        tmp_path / "r.json",
        "--report",
        tmp_path / "r.md",
    )
    shown = (
        run.stdout
        + run.stderr
        + (tmp_path / "r.json").read_text()
        + (tmp_path / "r.md").read_text()
    )
    assert_no_personal_data(shown)
    assert "Vogel" not in shown and "nina.vogel" not in shown
    assert "51234567801" in shown  # record ids are kept: they are not personal
    samples = json.loads((tmp_path / "r.json").read_text())["samples"]
    assert {s["record_id"] for s in samples} == {"51234567801", "51234567802"}
    assert all(s["name"] is None and s["email"] is None for s in samples)


def test_redact_in_the_rules_file(tmp_path: Path) -> None:
    contacts = people(tmp_path)
    rules = tmp_path / "rules.yaml"
    default = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    assert default.count("  redact: false\n") == 1
    rules.write_text(default.replace("  redact: false\n", "  redact: true\n"), encoding="utf-8")
    run = invoke_assert_code(
        CHANGES, "classify", contacts, "--check", "--rules", rules, "-f", "markdown"
    )
    assert_no_personal_data(run.stdout)
    assert "51234567801" in run.stdout
    rules.write_text(
        default.replace("  redact: false\n", "  redact: sometimes\n"), encoding="utf-8"
    )
    line = default.splitlines().index("  redact: false") + 1
    bad = invoke_assert_code(USAGE, "classify", contacts, "--check", "--rules", rules)
    assert f"{rules}:{line}: report.redact: " in bad.stderr
    assert "expected true or false, got 'sometimes'" in bad.stderr


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
def test_redact_in_diff_reports_drops_an_email_key_too(tmp_path: Path, fmt: str) -> None:
    before = people(tmp_path)
    after = write_csv(
        tmp_path / "after.csv",
        CONTACT_HEADERS,
        [
            {"Record ID": "51234567801", **SECRET, "Lifecycle Stage": "lead"},
            {
                "Record ID": "51234567802",
                "First Name": "Nina",
                "Last Name": "Vogel",
                "Email": "nina.vogel@mailbox.example",
                "Lifecycle Stage": "lead",
            },
        ],
    )
    run = invoke_assert_code(
        CHANGES, "diff", before, after, "-f", fmt, "--redact", "--fail-on", "demotion"
    )
    assert_no_personal_data(run.stdout + run.stderr)
    assert "51234567801" in run.stdout
    by_email = invoke_assert_code(
        OK, "diff", before, after, "-f", fmt, "--redact", "--key", "Email"
    )
    assert_no_personal_data(by_email.stdout + by_email.stderr)
    assert "nina.vogel" not in by_email.stdout


def test_redact_is_documented() -> None:
    for command in ("classify", "diff"):
        help_text = invoke_assert_code(OK, command, "--help").stdout
        assert "--redact" in help_text
    assert "--redact" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_companies_file_problems_name_rows_not_values(examples: Path) -> None:
    lines = (EXAMPLES / "companies.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[2].split(",")
    cells[0], cells[3] = (
        "20456789999",
        "Sara Lindholm",
    )  # a company owner's name in the stage column
    (examples / "companies.csv").write_text(
        "\n".join([*lines, lines[1], ",".join(cells)]) + "\n", encoding="utf-8"
    )
    run = invoke_assert_code(
        USAGE, "classify", "contacts.csv", "--companies", "companies.csv", "-q", cwd=examples
    )
    repeat, shifted = len(lines) + 1, len(lines) + 2  # the header is row 1
    assert (
        "companies.csv: column 'Record ID': 1 record id appears more than once: rows 2 and "
        f"{repeat} " in run.stderr
    )
    assert (
        "companies.csv: column 'Lifecycle Stage': 1 row holds a name, email address or phone "
        "number instead of "
        f"a stage: row {shifted} (9 fields), where the header has 9 fields"
    ) in run.stderr
    assert "Lindholm" not in run.stderr and "20456781000" not in run.stderr


def test_explain_json_escapes_what_json_dumps_leaves_raw(tmp_path: Path) -> None:
    contacts = write_csv(
        tmp_path / "c.csv",
        CONTACT_HEADERS,
        [{"Record ID": "7", "Lifecycle Stage": "lead", "Lead Status": "Connected\u202e\x9b2J"}],
    )
    data = invoke_assert_code(OK, "explain", contacts, "7", "-f", "json").stdout
    assert "\u202e" not in data and "\x9b" not in data
    assert "Connected\\u202e\\u009b2J" in data  # still the same JSON string, written with escapes

"""Bad or unusual CSV inputs through the real entry point: a correct result or exit 2 naming the
file, never a trace."""

from __future__ import annotations

import csv
import gzip
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    CONSENT_HEADERS,
    CONTACT_HEADERS,
    DEAL_HEADERS,
    OK,
    USAGE,
    invoke_assert_code,
    read_csv,
    write_csv,
)

#: Contacts whose names need more than ASCII; Lead Status "Connected" makes every one a Sales Lead.
PEOPLE = [
    {
        "Record ID": "101",
        "First Name": "Jürgen",
        "Last Name": "Müller",
        "Email": "jm@kunde.example",
    },
    {
        "Record ID": "102",
        "First Name": "Hélène",
        "Last Name": "Lefèvre",
        "Email": "hl@client.example",
    },
    {
        "Record ID": "103",
        "First Name": "François",
        "Last Name": "Größe",
        "Email": "fg@client.example",
    },
]
ROWS = [{**p, "Lifecycle Stage": "Lead", "Lead Status": "Connected"} for p in PEOPLE]


def contacts_text(delimiter: str = ",", newline: str = "\n") -> str:
    lines = [delimiter.join(CONTACT_HEADERS)]
    for row in ROWS:
        lines.append(delimiter.join(row.get(h, "") for h in CONTACT_HEADERS))
    return newline.join(lines) + newline


def assert_reclassified(out: Path, delimiter: str = ",", encoding: str = "utf-8-sig") -> None:
    """The names come out exactly as they went in, in the input's encoding, and every contact
    became a
    Sales Lead (written as the HubSpot value: the file never spells that stage)."""
    with out.open(encoding=encoding, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=delimiter))
    assert [(r["First Name"], r["Last Name"]) for r in rows] == [
        (p["First Name"], p["Last Name"]) for p in PEOPLE
    ]
    assert {r["Lifecycle Stage"] for r in rows} == {"salesqualifiedlead"}
    assert {r["Previous Lifecycle Stage"] for r in rows} == {"Lead"}


def assert_rejected(path: Path, *words: str, args: tuple = ()) -> str:
    run = invoke_assert_code(USAGE, "classify", path, *args)
    assert f"lifecycle: error: {path}" in run.stderr
    for word in words:
        assert word in run.stderr, run.stderr
    for person in PEOPLE:  # rows hold personal data: never in a message
        assert person["Last Name"] not in run.stderr and person["Email"] not in run.stderr
    assert not list(path.parent.glob("*.reclassified.*")), "no output after an error"
    return run.stderr


# Encodings


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
def test_encodings_are_decoded(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(contacts_text().encode(encoding))
    invoke_assert_code(OK, "classify", path, "-q")
    out = tmp_path / "contacts.reclassified.csv"
    assert_reclassified(out, encoding="utf-8-sig" if encoding.startswith("utf-8") else encoding)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")


def test_cp1252_is_detected_over_look_alike_code_pages(tmp_path: Path) -> None:
    """Statistics alone would read "Hélène" as cp1250 ("Hélčne"); Excel's cp1252 must win."""
    path = tmp_path / "contacts.csv"
    path.write_bytes(
        (
            contacts_text(";")
            + ";".join(["104", "Zoë", "Dubois", "zd@x.example", "Lead"])
            + ";Connected\n"
        ).encode("cp1252")
    )
    invoke_assert_code(OK, "classify", path, "-q")
    with (tmp_path / "contacts.reclassified.csv").open(encoding="cp1252", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    assert [r["First Name"] for r in rows] == ["Jürgen", "Hélène", "François", "Zoë"]
    assert [r["Lifecycle Stage"] for r in rows] == ["salesqualifiedlead"] * 4


def test_encoding_option_forces_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(contacts_text().encode("cp1252"))
    invoke_assert_code(OK, "classify", path, "--encoding", "cp1252", "-q")
    assert_reclassified(tmp_path / "contacts.reclassified.csv", encoding="cp1252")


def test_unknown_encoding_option(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, ROWS)
    run = invoke_assert_code(USAGE, "classify", path, "--encoding", "klingon")
    assert "unknown encoding 'klingon'" in run.stderr


def test_wrong_forced_encoding_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(contacts_text().encode("utf-16"))
    assert_rejected(
        path, "cannot decode the contacts file as ascii", "line 1", args=("--encoding", "ascii")
    )


@pytest.mark.parametrize("encoding,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")])
def test_utf16_with_bom_from_excel_unicode_text(tmp_path: Path, encoding: str, bom: bytes) -> None:
    path = tmp_path / "contacts.txt"
    path.write_bytes(bom + contacts_text("\t", "\r\n").encode(encoding))
    invoke_assert_code(OK, "classify", path, "-q")
    assert_reclassified(tmp_path / "contacts.reclassified.txt", delimiter="\t", encoding="utf-16")
    assert (tmp_path / "contacts.reclassified.txt").read_bytes().startswith(bom)


def test_non_utf8_after_the_first_megabyte_is_an_error_with_its_line(tmp_path: Path) -> None:
    filler = [
        {"Record ID": str(1000 + i), "Email": f"p{i}@x.example", "Lifecycle Stage": "Lead"}
        for i in range(30_000)
    ]
    path = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, filler)
    with path.open("ab") as fh:
        fh.write(contacts_text().split("\n", 1)[1].encode("cp1252"))
    assert path.stat().st_size > 1 << 20
    assert_rejected(path, "not UTF-8 at line 30002", "--encoding cp1252")


# Dialects


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_delimiters_and_line_ends_are_detected_and_kept(
    tmp_path: Path, delimiter: str, newline: str
) -> None:
    path = write_csv(
        tmp_path / "contacts.csv", CONTACT_HEADERS, ROWS, delimiter=delimiter, newline=newline
    )
    invoke_assert_code(OK, "classify", path, "-q")
    out = tmp_path / "contacts.reclassified.csv"
    assert_reclassified(out, delimiter=delimiter)
    first = out.read_bytes().split(b"\n", 1)[0] + b"\n"
    assert (
        first.endswith(newline.encode())
        and first.count(delimiter.encode()) == len(CONTACT_HEADERS) + 2
    )


def test_quoted_fields_with_newlines_delimiters_and_quotes(tmp_path: Path) -> None:
    odd = {
        "Contact owner": 'Line one\nline "two"',
        "Associated Company IDs": "1;2,3",
        "Create Date": '""',
    }
    rows = [{**ROWS[0], **odd}, ROWS[1]]
    path = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, rows, newline="\r\n")
    invoke_assert_code(OK, "classify", path, "-q")
    out = read_csv(tmp_path / "contacts.reclassified.csv")
    assert len(out) == 2
    assert {k: out[0][k] for k in odd} == odd
    assert [r["Lifecycle Stage"] for r in out] == ["salesqualifiedlead", "salesqualifiedlead"]


# Broken files


@pytest.mark.parametrize(
    "content",
    [b"", b"  \n\r\n\t \n", b"\xef\xbb\xbf\n"],
    ids=["zero-bytes", "whitespace", "bom-only"],
)
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(content)
    assert_rejected(path, "the contacts file is empty")


def test_header_only_gives_an_empty_result(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, [])
    run = invoke_assert_code(OK, "classify", path)
    assert "0 contacts" in run.stderr or "of 0 contacts" in run.stderr
    lines = (tmp_path / "contacts.reclassified.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert lines[0].split(",")[4:8] == [
        "Lifecycle Stage",
        "Previous Lifecycle Stage",
        "Lifecycle Rule",
        "Other Type",
    ]


def test_rows_with_more_fields_than_the_header_are_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, ROWS)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] += ",Müller"  # row 3
    lines[3] += ",x,y"  # row 4
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_rejected(
        path,
        f"more fields than its header's {len(CONTACT_HEADERS)}: "
        f"row 3 ({len(CONTACT_HEADERS) + 1} fields), row 4 ({len(CONTACT_HEADERS) + 2} fields)",
    )


def test_ragged_deals_file_is_named(tmp_path: Path) -> None:
    contacts = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, ROWS)
    deal = {"Record ID": "9", "Deal Stage": "closedwon", "Associated Contact IDs": "101"}
    deals = write_csv(tmp_path / "deals.csv", DEAL_HEADERS, [deal])
    deals.write_text(
        deals.read_text(encoding="utf-8") + "10" + "," * len(DEAL_HEADERS) + "\n", encoding="utf-8"
    )
    run = invoke_assert_code(USAGE, "classify", contacts, "--deals", deals)
    assert (
        f"{deals}: the deals file has rows with more fields than its header" in run.stderr
        and "row 3" in run.stderr
    )
    assert not (tmp_path / "contacts.reclassified.csv").exists()


def test_ragged_consent_file_is_named(tmp_path: Path) -> None:
    contacts = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, ROWS)
    event = {
        "Contact ID": "101",
        "Subscription type": "Marketing Information",
        "Status": "Subscribed",
        "Timestamp": "2024-03-01T10:00:00Z",
    }
    consent = write_csv(tmp_path / "consent.csv", CONSENT_HEADERS, [event, event])
    lines = consent.read_text(encoding="utf-8").splitlines()
    lines[2] += ",opted in at the fair"  # row 3 has one field too many
    consent.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = invoke_assert_code(USAGE, "classify", contacts, "--consent", consent)
    assert (
        f"{consent}: the consent file has rows with more fields than its header" in run.stderr
        and "row 3" in run.stderr
    )
    assert not (tmp_path / "contacts.reclassified.csv").exists()


def test_consent_timestamps_in_another_format_after_the_first_rows_are_read(tmp_path: Path) -> None:
    """The format of a timestamp column is guessed from its first 10,000 values; a later export
    appended in US format must still be read, not reported as unreadable."""
    contacts = [
        {**p, "Lifecycle Stage": "Lead", "Marketing email confirmation status": "Confirmed"}
        for p in PEOPLE
    ]
    contacts_file = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, contacts)
    filler = [
        {
            "Contact ID": "555",
            "Subscription type": "Marketing Information",
            "Status": "Subscribed",
            "Timestamp": f"2023-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
        }
        for i in range(10_500)
    ]
    events = [
        # 101 subscribed, then unsubscribed later in US format: the later event decides.
        {
            "Contact ID": "101",
            "Subscription type": "Marketing Information",
            "Status": "Subscribed",
            "Timestamp": "2024-03-01T10:00:00Z",
        },
        {
            "Contact ID": "101",
            "Subscription type": "Marketing Information",
            "Status": "Unsubscribed",
            "Timestamp": "3/15/2024 2:30 PM",
        },
        # 102 unsubscribed, then subscribed again in US format.
        {
            "Contact ID": "102",
            "Subscription type": "Marketing Information",
            "Status": "Unsubscribed",
            "Timestamp": "2024-03-01T10:00:00Z",
        },
        {
            "Contact ID": "102",
            "Subscription type": "Marketing Information",
            "Status": "Subscribed",
            "Timestamp": "3/15/2024 2:30 PM",
        },
        # 103: a US-format event that happened before the ISO one.
        {
            "Contact ID": "103",
            "Subscription type": "Marketing Information",
            "Status": "Subscribed",
            "Timestamp": "2024-03-01T10:00:00Z",
        },
        {
            "Contact ID": "103",
            "Subscription type": "Marketing Information",
            "Status": "Unsubscribed",
            "Timestamp": "1/15/2024 9:05 AM",
        },
    ]
    consent = write_csv(tmp_path / "consent.csv", CONSENT_HEADERS, filler + events)
    invoke_assert_code(OK, "classify", contacts_file, "--consent", consent, "-q")
    stages = {
        r["Record ID"]: r["Lifecycle Stage"]
        for r in read_csv(tmp_path / "contacts.reclassified.csv")
    }
    assert stages == {
        "101": "Lead",
        "102": "marketingqualifiedlead",
        "103": "marketingqualifiedlead",
    }


def test_unreadable_consent_timestamp_after_the_first_rows_is_reported(tmp_path: Path) -> None:
    contacts_file = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, ROWS)
    filler = [
        {
            "Contact ID": "101",
            "Subscription type": "Marketing Information",
            "Status": "Subscribed",
            "Timestamp": "2024-03-01T10:00:00Z",
        }
    ] * 10_500
    bad = {
        "Contact ID": "102",
        "Subscription type": "Marketing Information",
        "Status": "Subscribed",
        "Timestamp": "yesterday",
    }
    consent = write_csv(tmp_path / "consent.csv", CONSENT_HEADERS, filler + [bad])
    run = invoke_assert_code(USAGE, "classify", contacts_file, "--consent", consent)
    assert f"{consent}: column 'Timestamp': 1 row holds values that are not a date" in run.stderr
    assert "1 value, first at row 10502;" in run.stderr and "yesterday" not in run.stderr


def test_unterminated_quote(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, ROWS)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("Hélène", '"Hélène')  # row 3 opens a quote nobody closes
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_rejected(path, "quoted field that is not closed properly in row 3")


def test_unterminated_quote_in_the_header(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text('Record ID,"Email,Lifecycle Stage\n1,a@x.example,Lead\n', encoding="utf-8")
    assert_rejected(path, "not closed properly in row 1")


def test_truncated_last_line_is_accepted_with_the_missing_fields_empty(tmp_path: Path) -> None:
    """A cut-off last line (no newline, fewer fields) is read as Polars does: the missing fields
    are empty."""
    path = write_csv(tmp_path / "contacts.csv", CONTACT_HEADERS, ROWS)
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "104,Anna,Berg,ab@x.example,Lead,Conn", encoding="utf-8")
    invoke_assert_code(OK, "classify", path, "-q")
    rows = read_csv(tmp_path / "contacts.reclassified.csv")
    assert len(rows) == 4
    assert (
        rows[3]["Lead Status"] == "Conn"
        and rows[3]["Contact owner"] == ""
        and rows[3]["Became a Lead Date"] == ""
    )
    assert rows[3]["Lifecycle Stage"] == "Lead"


@pytest.mark.parametrize(
    "make",
    [
        lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        lambda: (
            random.Random(7).randbytes(4096).replace(b"\0", b"\1")
        ),  # no NUL byte: charset detection decides
        lambda: b"PK\x03\x04\x14\x00\x06\x00" + b"[Content_Types].xml" + bytes(200),
    ],
    ids=["png", "random-bytes", "xlsx"],
)
def test_binary_garbage(tmp_path: Path, make) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(make())
    assert_rejected(path, "does not look like a CSV text file")


def test_directory_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "export").mkdir()
    invoke = invoke_assert_code(USAGE, "classify", tmp_path / "export")
    assert "is a directory" in invoke.stderr
    missing = invoke_assert_code(USAGE, "classify", tmp_path / "nope.csv")
    assert f"{tmp_path / 'nope.csv'}: contacts file not found" in missing.stderr


def test_gzip_is_rejected_with_how_to_unpack(tmp_path: Path) -> None:
    """Rejected rather than read: the default output name would be contacts.csv.reclassified.gz
    holding plain CSV."""
    path = tmp_path / "contacts.csv.gz"
    path.write_bytes(gzip.compress(contacts_text().encode("utf-8")))
    assert_rejected(path, "gzip-compressed; unpack it first (gunzip")
    assert not list(tmp_path.glob("*reclassified*"))


def test_gzip_on_stdin_is_rejected(tmp_path: Path) -> None:
    run = invoke_assert_code(
        USAGE, "classify", "-", stdin=gzip.compress(contacts_text().encode("utf-8"))
    )
    assert "-: the contacts file is gzip-compressed" in run.stderr


def test_duplicate_headers_the_rules_read_are_named(tmp_path: Path) -> None:
    """Repeated headers are fine (HubSpot repeats company properties), unless a rule reads them:
    which one it meant cannot be guessed."""
    headers = [*CONTACT_HEADERS, "email", "Lead_Status", "E-mail", "", ""]
    path = tmp_path / "contacts.csv"
    path.write_text(
        ",".join(headers) + "\n" + ",".join("x" for _ in headers) + "\n", encoding="utf-8"
    )
    email, status = CONTACT_HEADERS.index("Email") + 1, CONTACT_HEADERS.index("Lead Status") + 1
    n = len(CONTACT_HEADERS)
    stderr = assert_rejected(
        path,
        "two columns for the same thing",
        f"'Email' (column {email}) and 'email' (column {n + 1}) and 'E-mail' (column {n + 3})",
        f"'Lead Status' (column {status}) and 'Lead_Status' (column {n + 2})",
    )
    assert "column 24" not in stderr  # the repeated empty headers are read by no rule


def test_stdin_in_cp1252(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "lifecycle_cli", "classify", "-", "-q"],
        cwd=tmp_path,
        input=contacts_text().encode("cp1252"),
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == OK, run.stderr
    out = run.stdout.decode("cp1252")  # written back in the input's encoding
    assert "Jürgen,Müller" in out and out.count("salesqualifiedlead") == 3

"""Shapes of real exports: repeated headers written back byte for byte, the input's encoding kept
in the output, rows shorter than the header found, German date-times read."""

from __future__ import annotations

import codecs
import io
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from conftest import (
    CONSENT_HEADERS,
    CONTACT_HEADERS,
    OK,
    ROOT,
    invoke_assert_code,
    read_csv,
    write_csv,
)
from faultlib import compile_shim, counting, interrupt, start_paused, temp_of, wait_stopped

from lifecycle_cli.base.errors import OutputError
from lifecycle_cli.io.output import write_table
from lifecycle_cli.io.sources import CsvDialect, output_header_line, read_source, short_rows
from lifecycle_cli.rules.model import load_rules

RULES = load_rules(ROOT / "rules.yaml")
NEW = ["Previous Lifecycle Stage", "Lifecycle Rule"]


def read(path: Path | str, role: str = "contacts", **kwargs):
    return read_source(str(path), role, RULES.columns[role], **kwargs)


def contacts_file(
    path: Path,
    header: str,
    rows: list[str],
    *,
    sep: str = ",",
    newline: str = "\n",
    encoding: str = "utf-8",
    prefix: bytes = b"",
) -> Path:
    """A contacts export written as given: `header` and `rows` are raw CSV lines (no line end)."""
    path.write_bytes(prefix + newline.join([header, *rows, ""]).encode(encoding))
    return path


# --------------------------------------------------------------------------- repeated headers

#: HubSpot's export with associated company properties: `Phone Number` and `Create Date` twice.
REPEATED = (
    'Record ID,Email,Phone Number,Lifecycle Stage,"Note ""A""",Create Date,Phone Number,Create Date'
)
REPEATED_ROWS = [
    '101,jm@kunde.example,+49 30 1234,Lead,"x, y",2024-03-12,+49 30 9999,2020-01-01',
    "102,hl@client.example,,Customer,,2024-03-13,+33 1 2345,",
]


def test_repeated_headers_are_read_with_the_names_as_written(tmp_path: Path) -> None:
    source = read(contacts_file(tmp_path / "contacts.csv", REPEATED, REPEATED_ROWS))
    # Polars' unique names (it keeps the doubled quotes of a header name: `Note ""A""`).
    assert source.headers[:4] == ("Record ID", "Email", "Phone Number", "Lifecycle Stage")
    assert source.headers[5:] == (
        "Create Date",
        "Phone Number_duplicated_0",
        "Create Date_duplicated_0",
    )
    assert source.file_headers == (
        "Record ID",
        "Email",
        "Phone Number",
        "Lifecycle Stage",
        'Note "A"',
        "Create Date",
        "Phone Number",
        "Create Date",
    )
    assert source.header_line == REPEATED
    assert source.frame.collect()["Phone Number_duplicated_0"].to_list() == [
        "+49 30 9999",
        "+33 1 2345",
    ]


def test_parquet_file_headers_are_its_headers(tmp_path: Path) -> None:
    path = tmp_path / "contacts.parquet"
    pl.DataFrame(
        {"Record ID": ["1"], "Email": ["a@x.example"], "Lifecycle Stage": ["Lead"]}
    ).write_parquet(path)
    source = read(path)
    assert source.file_headers == source.headers == ("Record ID", "Email", "Lifecycle Stage")
    assert source.header_line is None
    assert (
        output_header_line(source, "Lifecycle Stage", ["A,B"])
        == 'Record ID,Email,Lifecycle Stage,"A,B"'
    )
    assert short_rows(source) == (0, [])


def test_a_repeated_name_colliding_with_polars_renaming_is_a_clear_error(tmp_path: Path) -> None:
    path = contacts_file(
        tmp_path / "contacts.csv",
        "Record ID,Email,Lifecycle Stage,Email_duplicated_0,Email",
        ["1,a@x.example,Lead,x,y"],
    )
    run = invoke_assert_code(2, "classify", path)
    assert f"lifecycle: error: {path}: cannot read the contacts file's header" in run.stderr


def test_output_header_line_keeps_every_field_as_written(tmp_path: Path) -> None:
    source = read(contacts_file(tmp_path / "contacts.csv", REPEATED, REPEATED_ROWS))
    assert output_header_line(source, "Lifecycle Stage", NEW) == (
        "Record ID,Email,Phone Number,Lifecycle Stage,Previous Lifecycle Stage,Lifecycle Rule,"
        '"Note ""A""",Create Date,Phone Number,Create Date'
    )
    # After a renamed repeat, by its Polars name; new names quoted only where needed.
    assert output_header_line(
        source, "Phone Number_duplicated_0", ['Say "hi"', "a,b", "plain"]
    ).endswith('Create Date,Phone Number,"Say ""hi""","a,b",plain,Create Date')
    assert output_header_line(source, "Create Date_duplicated_0", []) == REPEATED
    with pytest.raises(ValueError):
        output_header_line(source, "No Such Column", NEW)


def test_output_header_line_quotes_all_when_the_input_does(tmp_path: Path) -> None:
    header = '"Record ID";"Email";"Lifecycle Stage";"Phone Number";"Phone Number"'
    source = read(
        contacts_file(
            tmp_path / "contacts.csv", header, ['"1";"a@x.example";"Lead";"1";"2"'], sep=";"
        )
    )
    assert source.dialect.quote_all and source.dialect.separator == ";"
    assert output_header_line(source, "Lifecycle Stage", NEW) == (
        '"Record ID";"Email";"Lifecycle Stage";"Previous Lifecycle Stage";"Lifecycle Rule";'
        '"Phone Number";"Phone Number"'
    )


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8], ids=["no-bom", "bom"])
def test_write_table_with_the_header_line_gives_the_input_back(
    tmp_path: Path, newline: str, bom: bytes
) -> None:
    """Nothing inserted, nothing changed: the output is the input, byte for byte."""
    path = contacts_file(
        tmp_path / "contacts.csv", REPEATED, REPEATED_ROWS, newline=newline, prefix=bom
    )
    source = read(path)
    line = output_header_line(source, source.headers[-1], [])
    write_table(source.frame, str(tmp_path / "out.csv"), "csv", source.dialect, header_line=line)
    assert (tmp_path / "out.csv").read_bytes() == path.read_bytes()
    # Without it, Polars writes its own unique names (what classify did before it passed
    # header_line).
    write_table(source.frame, str(tmp_path / "polars.csv"), "csv", source.dialect)
    assert b"Phone Number_duplicated_0" in (tmp_path / "polars.csv").read_bytes()


def test_write_table_header_line_to_stdout(tmp_path: Path) -> None:
    source = read(
        contacts_file(tmp_path / "contacts.csv", REPEATED, REPEATED_ROWS, prefix=codecs.BOM_UTF8)
    )
    out = io.BytesIO()
    write_table(
        source.frame,
        "-",
        "csv",
        source.dialect,
        stdout=out,
        header_line=output_header_line(source, source.headers[-1], []),
    )
    assert out.getvalue() == (tmp_path / "contacts.csv").read_bytes()


def test_repeated_phone_number_round_trips_through_classify(tmp_path: Path) -> None:
    header = (
        ",".join(CONTACT_HEADERS[:5])
        + ',"Note ""A""",Phone Number,Create Date,Phone Number,Create Date'
    )
    rows = [
        "101,Jürgen,Müller,jm@kunde.example,Customer,,+49 30 1234,2024-03-12,+49 30 9999,"
        "2020-01-01",
        '102,Hélène,Lefèvre,hl@client.example,Customer,"a, b",,,+33 1 2345,',
    ]
    path = contacts_file(tmp_path / "contacts.csv", header, rows, newline="\r\n")
    invoke_assert_code(OK, "classify", path, "-q")
    out = (tmp_path / "contacts.reclassified.csv").read_bytes().decode("utf-8").split("\r\n")
    # The input's header, byte for byte, with the new columns (Previous Lifecycle Stage, ...)
    # beside the stage.
    before, after = header.split(",Lifecycle Stage,")
    assert out[0].startswith(before + ",Lifecycle Stage,Previous Lifecycle Stage,Lifecycle Rule,")
    assert out[0].endswith("," + after) and "_duplicated_" not in out[0]
    added = out[0].count(",") - header.count(",")
    assert out[-1] == ""  # the last row ends with the line break too
    for raw, written in zip(rows, out[1:-1], strict=True):
        # Customer is sticky: every input field comes back as it was, the new ones beside the stage.
        before, after = raw.split(",Customer,")
        assert written.startswith(before + ",Customer,Customer,")
        assert written.endswith("," + after) and written.count(",") == raw.count(",") + added


# --------------------------------------------------------------------------- encodings

CP1252_HEADER = ";".join(CONTACT_HEADERS)
CP1252_ROWS = [
    ";".join(
        ["101", "Jürgen", "Müller", "jm@kunde.example", "Lead", "Connected", "Zoë Dubois"]
        + [""] * 13
    ),
    ";".join(
        ["102", "Hélène", '"Lefèvre; née Größe"', "hl@client.example", "Customer", "", "Søren €"]
        + [""] * 13
    ),
]


def test_write_table_writes_the_input_encoding_back(tmp_path: Path) -> None:
    path = contacts_file(
        tmp_path / "contacts.csv", CP1252_HEADER, CP1252_ROWS, newline="\r\n", encoding="cp1252"
    )
    source = read(path)
    assert source.dialect.encoding == "cp1252" and not source.dialect.bom
    write_table(source.frame, str(tmp_path / "out.csv"), "csv", source.dialect)
    assert (tmp_path / "out.csv").read_bytes() == path.read_bytes()
    stdout = io.BytesIO()
    write_table(
        source.frame,
        "-",
        "csv",
        source.dialect,
        stdout=stdout,
        header_line=output_header_line(source, "Lifecycle Stage", ["Neu"]),
    )
    # (Only the header line is checked here: the frame has no `Neu` column, the rows are the
    # input's.)
    header, rows = stdout.getvalue().split(b"\r\n", 1)
    assert header == CP1252_HEADER.replace("Lifecycle Stage;", "Lifecycle Stage;Neu;").encode(
        "cp1252"
    )
    assert rows == path.read_bytes().split(b"\r\n", 1)[1]


@pytest.mark.parametrize(
    "encoding,bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)]
)
def test_utf16_comes_back_in_the_same_byte_order_with_its_bom(
    tmp_path: Path, encoding: str, bom: bytes
) -> None:
    header, rows = CP1252_HEADER.replace(";", "\t"), [r.replace(";", "\t") for r in CP1252_ROWS]
    path = contacts_file(
        tmp_path / "contacts.txt", header, rows, newline="\r\n", encoding=encoding, prefix=bom
    )
    source = read(path)
    assert (source.dialect.encoding, source.dialect.bom) == (encoding, True)
    write_table(
        source.frame,
        str(tmp_path / "out.txt"),
        "csv",
        source.dialect,
        header_line=output_header_line(source, source.headers[-1], []),
    )
    assert (tmp_path / "out.txt").read_bytes() == path.read_bytes()


def test_latin1_is_written_as_latin1(tmp_path: Path) -> None:
    path = contacts_file(
        tmp_path / "contacts.csv", CP1252_HEADER, [CP1252_ROWS[0]], encoding="latin-1"
    )
    source = read(path, encoding="latin-1")
    write_table(source.frame, str(tmp_path / "out.csv"), "csv", source.dialect)
    assert (tmp_path / "out.csv").read_bytes() == path.read_bytes()


def test_a_value_the_encoding_cannot_hold_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    table = pl.LazyFrame(
        {"Record ID": [str(i) for i in range(50_000)], "Name": ["Müller"] * 49_999 + ["Ωmega"]}
    )
    target = tmp_path / "out.csv"
    with pytest.raises(
        OutputError,
        match=r"out.csv: cannot write the output in cp1252, the input's encoding: "
        r"a value holds the character U\+03A9",
    ):
        write_table(table, str(target), "csv", CsvDialect(encoding="cp1252"))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="stdout: cannot write"):
        write_table(
            table,
            "-",
            "csv",
            CsvDialect(encoding="cp1252"),
            stdout=io.BytesIO(),
            header_line="Record ID,Name",
        )


def test_cp1252_semicolon_export_comes_out_in_cp1252(tmp_path: Path) -> None:
    """Through the CLI: the untouched fields come back as the same cp1252 bytes, the stage column
    updated."""
    path = contacts_file(
        tmp_path / "contacts.csv", CP1252_HEADER, CP1252_ROWS, newline="\r\n", encoding="cp1252"
    )
    invoke_assert_code(OK, "classify", path, "-q")
    out = (tmp_path / "contacts.reclassified.csv").read_bytes()
    assert "Müller".encode("cp1252") in out and "Müller".encode() not in out
    lines = out.split(b"\r\n")
    stage = CONTACT_HEADERS.index("Lifecycle Stage")
    for raw, written in zip(path.read_bytes().split(b"\r\n")[1:3], lines[1:3], strict=True):
        before, after = raw.split(b";Lead;" if b";Lead;" in raw else b";Customer;")
        assert written.startswith(before + b";") and written.endswith(after)
        assert written.split(b";")[:stage] == raw.split(b";")[:stage]
    rows = read_csv_in(tmp_path / "contacts.reclassified.csv", "cp1252", ";")
    assert [r["Last Name"] for r in rows] == ["Müller", "Lefèvre; née Größe"]
    assert [r["Contact owner"] for r in rows] == ["Zoë Dubois", "Søren €"]
    assert rows[1]["Lifecycle Stage"] == "Customer"


def test_cp1252_on_stdin_comes_out_in_cp1252_on_stdout(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = "\r\n".join([CP1252_HEADER, *CP1252_ROWS, ""]).encode("cp1252")
    proc = subprocess.run(
        [sys.executable, "-m", "lifecycle_cli", "classify", "-", "-q"],
        input=data,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == OK, proc.stderr.decode()
    assert (
        "Jürgen;Müller".encode("cp1252") in proc.stdout
        and "Søren €".encode("cp1252") in proc.stdout
    )


def test_utf8_bom_export_keeps_its_bom(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "contacts.csv",
        CONTACT_HEADERS,
        [{"Record ID": "101", "Last Name": "Müller", "Lifecycle Stage": "Lead"}],
        encoding="utf-8-sig",
    )
    invoke_assert_code(OK, "classify", path, "-q")
    out = (tmp_path / "contacts.reclassified.csv").read_bytes()
    assert out.startswith(codecs.BOM_UTF8 + b"Record ID,") and out.count(codecs.BOM_UTF8) == 1
    assert "Müller".encode() in out


def read_csv_in(path: Path, encoding: str, delimiter: str) -> list[dict[str, str]]:
    import csv

    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


# --------------------------------------------------------------------------- short rows

SHORT_HEADER = "Record ID,Email,Lifecycle Stage,Lead Status,Contact owner"


def test_short_rows_are_found_with_their_row_numbers(tmp_path: Path) -> None:
    rows = [
        "101,a@x.example,Lead,Connected,Anna",  # row 2
        "102,b@x.example,Lead",  # row 3: Excel dropped two empty fields
        # row 4: separators inside quotes, the last field empty
        '103,"c,d@x.example",Lead,"New, hot",',
        '104,"e@x.example",Lead,"Say ""hi"""',  # row 5: doubled quotes, one field short
        "105,f@x.example,Lead,,",  # row 6
    ]
    source = read(contacts_file(tmp_path / "contacts.csv", SHORT_HEADER, rows, newline="\r\n"))
    assert short_rows(source) == (2, [3, 5])
    assert short_rows(source, limit=1) == (2, [3])


def test_short_rows_with_quoted_fields_spanning_lines(tmp_path: Path) -> None:
    rows = [
        '101,a@x.example,Lead,"Called,\nleft a message",Anna',  # row 2, two lines
        "102,b@x.example,Lead",  # row 3 (line 4): short
        '103,c@x.example,Lead,Connected,"Team\r\nNorth"',  # row 4
        '104,d@x.example,"Lead"',  # row 5: short
        "",  # row 6: a blank line, no field at all
        "106,f@x.example,Lead,,",  # row 7
    ]
    source = read(contacts_file(tmp_path / "contacts.csv", SHORT_HEADER, rows))
    assert short_rows(source) == (3, [3, 5, 6])


def test_short_rows_of_a_cp1252_export_and_of_stdin(tmp_path: Path) -> None:
    text = (
        SHORT_HEADER.replace(",", ";")
        + "\n101;ü@x.example;Lead;Connected;Jürgen\n102;ö@x.example\n"
    )
    path = tmp_path / "contacts.csv"
    path.write_bytes(text.encode("cp1252"))
    assert short_rows(read(path)) == (1, [3])
    assert short_rows(read("-", stdin=text.encode("utf-8"))) == (1, [3])
    assert short_rows(read("-", stdin=text.encode("cp1252"))) == (1, [3])


def test_short_rows_of_a_complete_file_and_of_a_truncated_last_line(tmp_path: Path) -> None:
    rows = [f"{100 + i},p{i}@x.example,Lead,Connected,Anna" for i in range(1000)]
    path = contacts_file(tmp_path / "contacts.csv", SHORT_HEADER, rows)
    assert short_rows(read(path)) == (0, [])
    path.write_bytes(path.read_bytes() + b"2000,z@x.example,Le")  # cut off, no line end
    assert short_rows(read(path)) == (1, [1002])


# --------------------------------------------------------------------------- German date-times

GERMAN = [
    "12.03.2024 09:14",
    "12.03.2024 09:14:05",
    "12.03.2024",
    "1.3.2024 9:05",
    "31.12.2023 23:59",
]


def test_german_date_times_are_read_day_first() -> None:
    from lifecycle_cli.core.facts import parse_datetime

    parsed = pl.DataFrame({"v": GERMAN}).select(parse_datetime(pl.col("v")))["v"].to_list()
    assert parsed == [
        datetime(2024, 3, 12, 9, 14),
        datetime(2024, 3, 12, 9, 14, 5),
        datetime(2024, 3, 12),
        datetime(2024, 3, 1, 9, 5),
        datetime(2023, 12, 31, 23, 59),
    ]


def consent_folder(folder: Path) -> Path:
    """Contacts who confirmed double opt-in, and their consent events with German timestamps:
    101 subscribed, then unsubscribed 14 days later: Lead; 102 the other way round: Marketing Lead;
    103 unsubscribed in the morning, subscribed again in the afternoon of the same day: Marketing
    Lead."""
    folder.mkdir(exist_ok=True)
    people = [
        {
            "Record ID": rid,
            "Email": f"{rid}@kunde.example",
            "Lifecycle Stage": "Lead",
            "Marketing email confirmation status": "Confirmed",
        }
        for rid in ("101", "102", "103")
    ]
    write_csv(folder / "contacts.csv", CONTACT_HEADERS, people)

    def event(rid: str, status: str, ts: str) -> dict[str, str]:
        return {
            "Contact ID": rid,
            "Subscription type": "Marketing Information",
            "Status": status,
            "Timestamp": ts,
        }

    write_csv(
        folder / "consent.csv",
        CONSENT_HEADERS,
        [
            event("101", "Subscribed", "01.03.2024 10:00"),
            event("101", "Unsubscribed", "15.03.2024 14:30:00"),
            event("102", "Unsubscribed", "01.03.2024"),
            event("102", "Subscribed", "15.03.2024 09:14"),
            event("103", "Unsubscribed", "12.03.2024 09:14:05"),
            event("103", "Subscribed", "2024-03-12T15:00:00Z"),
        ],
    )
    return folder


def test_german_timestamps_in_a_consent_file_decide_the_latest_event(tmp_path: Path) -> None:
    folder = consent_folder(tmp_path / "exports")
    invoke_assert_code(
        OK,
        "classify",
        folder / "contacts.csv",
        "--consent",
        folder / "consent.csv",
        "-q",
        "--stage-values",
        "label",
    )
    stages = {
        r["Record ID"]: r["Lifecycle Stage"] for r in read_csv(folder / "contacts.reclassified.csv")
    }
    assert stages == {"101": "Lead", "102": "Marketing Lead", "103": "Marketing Lead"}


def test_duckdb_reads_german_timestamps_as_classify_does(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    import csv

    from lifecycle_cli.core.facts import parse_datetime
    from lifecycle_cli.core.sql import TEMPLATE_DIALECT, _timestamp_ctes, build_query, transpile

    # (Not "12.03.24": facts reads a two-digit year as year 24, as it does "3/15/24"; the SQL
    # gives NULL.)
    values = [*GERMAN, "32.03.2024", "12.13.2024 09:14", "12.03.2024 9:14 PM"]
    rows = " UNION ALL ".join(f"SELECT {i} AS i, '{v}' AS v" for i, v in enumerate(values))
    ctes = [
        ("__v", f"SELECT i, v FROM ({rows}) AS t"),
        *_timestamp_ctes("__v", "v", "__v", "duckdb"),
    ]
    assert TEMPLATE_DIALECT == "duckdb"
    query = transpile(
        f"WITH {', '.join(f'{n} AS ({b})' for n, b in ctes)} SELECT i, ts FROM __v_ts ORDER BY i",
        "duckdb",
    )
    got = [ts for _, ts in duckdb.connect().execute(query).fetchall()]
    parsed = pl.DataFrame({"v": values}).select(parse_datetime(pl.col("v")))["v"].to_list()
    assert got == pytest.approx(
        [None if t is None else t.replace(tzinfo=UTC).timestamp() for t in parsed]
    )
    assert got[len(GERMAN) :] == [None] * 3

    # The whole query on the consent folder: the same stage and rule as classify for every contact.
    folder = consent_folder(tmp_path / "exports")
    invoke_assert_code(
        OK,
        "classify",
        folder / "contacts.csv",
        "--consent",
        folder / "consent.csv",
        "-q",
        "--stage-values",
        "label",
        "-o",
        tmp_path / "out.csv",
    )
    expected = {
        r["Record ID"]: (r["Lifecycle Stage"], r["Lifecycle Rule"])
        for r in read_csv(tmp_path / "out.csv")
    }
    headers = {}
    for name in ("contacts", "consent"):
        with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
            headers[name] = next(csv.reader(fh))
    con = duckdb.connect()
    for name in ("contacts", "consent"):
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_csv('{folder / name}.csv', "
            "all_varchar = true, header = true)"
        )
    cursor = con.execute(
        build_query(RULES, dialect="duckdb", deals=None, consent="consent", headers=headers)
    )
    columns = [d[0] for d in cursor.description]
    at = [columns.index(c) for c in ("Record ID", "Lifecycle Stage", "Lifecycle Rule")]
    got_stages = {row[at[0]]: (row[at[1]] or "", row[at[2]] or "") for row in cursor.fetchall()}
    assert got_stages == expected


# --------------------------------------------------------------------------- Ctrl-C while encoding


@pytest.fixture(scope="module")
def big_cp1252(generated_200k: Path, tmp_path_factory) -> Path:
    """~45 MB of generated contacts saved as cp1252 (as Excel would), so the output is encoded on
    the fly."""
    path = tmp_path_factory.mktemp("big1252") / "contacts.csv"
    path.write_bytes(
        (generated_200k / "contacts.csv")
        .read_text(encoding="utf-8")
        .encode("cp1252", errors="replace")
    )
    return path


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    return compile_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture(scope="module")
def cp1252_writes(shim: Path, big_cp1252: Path, tmp_path_factory) -> int:
    """How many writes the encoded output of `big_cp1252` takes, run undisturbed."""
    target = tmp_path_factory.mktemp("cp1252_whole") / "out.csv"
    args = ("classify", big_cp1252, "-o", target, "-q")
    run, writes = counting(shim, temp_of(target), *args, cwd=ROOT, call="write")
    assert run.code == OK, run.stderr
    assert writes > 2, "the output is encoded and written in several blocks"
    return writes


@pytest.mark.parametrize(
    "call, which", [("write", "first"), ("write", "middle"), ("fsync", "first")]
)
def test_ctrl_c_while_writing_cp1252_leaves_the_previous_file(
    shim: Path, big_cp1252: Path, cp1252_writes: int, tmp_path: Path, call: str, which: str
) -> None:
    """Ctrl-C at the first encoded block, half way, and once all is written but not yet synced."""
    import signal

    previous = b"Record ID;Lifecycle Stage\r\n1;lead\r\n"
    target = tmp_path / "out.csv"
    target.write_bytes(previous)
    n = {"first": 1, "middle": cp1252_writes // 2}[which]
    args = ("classify", big_cp1252, "-o", target, "-q")
    proc = start_paused(shim, temp_of(target), n, *args, cwd=ROOT, call=call)
    assert wait_stopped(proc), f"the run never made {call} {n} of its temp file"
    assert list(tmp_path.glob("*.tmp")), "stopped while writing the temp file"
    done = interrupt(proc)
    assert "Traceback" not in done.stderr, done.stderr
    assert not list(tmp_path.glob("*.tmp")), "Ctrl-C must remove the temp file"
    written = target.read_bytes()
    if (
        written != previous
    ):  # finished before the signal (or Python was shutting down): then complete, in cp1252
        assert done.code in (0, 1, 130, -signal.SIGINT) and written.count(
            b"\n"
        ) == big_cp1252.read_bytes().count(b"\n")
        written.decode("cp1252")
    else:
        assert done.code == 130


def test_closed_pipe_on_encoded_stdout_stops_quietly(big_cp1252: Path) -> None:
    """`lifecycle classify big.csv -o - | head`: the reader goes away mid-stream; exit 0, nothing
    on stderr."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "lifecycle_cli", "classify", str(big_cp1252), "-o", "-", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=big_cp1252.parent,
    )
    first = proc.stdout.read(300)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == OK, err.decode()
    assert err == b""
    assert first.startswith(b"Record ID,") and "Lifecycle Stage".encode("cp1252") in first

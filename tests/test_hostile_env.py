"""Hostile files and environments (issue 11): pipes, closed or full streams, narrow encodings, a
deleted working directory, rules files built to exhaust memory or the stack, and files that are not
what their name says. Each case gets a result or exit 2 with a message naming the file, never an
internal error."""

from __future__ import annotations

import csv
import io
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import CONTACT_HEADERS, EXAMPLES, OK, ROOT, USAGE, Run, invoke_assert_code, run_cli

RULES = (ROOT / "rules.yaml").read_text(encoding="utf-8")
OTHER_WHEN = "when: contact_type IN @other_kinds OR email_domain IN @internal_domains"
assert OTHER_WHEN in RULES, "the tests below rewrite the Other rule's condition"
OTHER_LINE = RULES[: RULES.index(OTHER_WHEN)].count("\n") + 1


def cli(
    *args,
    cwd: Path | None = None,
    env: dict | None = None,
    stdin=None,
    stdout=subprocess.PIPE,
    preexec_fn=None,
    timeout: float = 120,
) -> Run:
    """`python -m lifecycle_cli ARGS` with the standard streams as given (run_cli always pipes
    them)."""
    full_env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_RULES"}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "200", **(env or {})})
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "lifecycle_cli", *map(str, args)],
            cwd=cwd or ROOT,
            env=full_env,
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            preexec_fn=preexec_fn,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`lifecycle {' '.join(map(str, args))}` hung: no end after {timeout:g} s")
    return Run(
        proc.returncode,
        (proc.stdout or b"").decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def shell(
    script: str, cwd: Path, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """A bash command line, for what only a shell does: `<(...)`, `>&-`."""
    full_env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_RULES"}
    full_env.update({"NO_COLOR": "1", "LC": f"{sys.executable} -m lifecycle_cli", **(env or {})})
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=full_env, capture_output=True, timeout=timeout
    )


def wait_until(condition, proc: subprocess.Popen, timeout: float = 120) -> bool:
    """Poll `condition` until it holds (True); False when `proc` ends or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def is_error(run: Run, *words: str) -> str:
    assert run.code == USAGE, (
        f"exit {run.code}\nstdout:\n{run.stdout[-2000:]}\nstderr:\n{run.stderr[-2000:]}"
    )
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    for word in words:
        assert word in run.stderr, run.stderr
    return run.stderr


def with_names(folder: Path) -> Path:
    """The example contacts with names a narrow terminal encoding lacks (ü, Ł); one row per
    person."""
    text = (EXAMPLES / "contacts.csv").read_text(encoding="utf-8")
    text = text.replace("Nina,Vogel", "Nina,Müller").replace("Lena,Hartmann", "Łucja,Hartmann")
    path = folder / "contacts.csv"
    path.write_text(text, encoding="utf-8")
    return path


def rules_with_other_when(folder: Path, condition: str, name: str = "rules.yaml") -> Path:
    path = folder / name
    path.write_text(RULES.replace(OTHER_WHEN, f'when: "{condition}"'), encoding="utf-8")
    return path


@pytest.fixture
def private_tmp(tmp_path: Path) -> Path:
    """A TMPDIR of the run's own, to see what it leaves behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


# --------------------------------------------------------------------------- pipes and devices


def test_named_pipe_as_contacts_is_read_once(examples: Path, private_tmp: Path) -> None:
    """A FIFO hung (it was opened a second time with nobody writing); now it is read like the
    file."""
    expected = run_cli("classify", examples / "contacts.csv", "-o", "-", "-q").stdout
    fifo = examples / "contacts-pipe.csv"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as fh:
            fh.write((examples / "contacts.csv").read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    run = cli(
        "classify",
        fifo,
        "-o",
        examples / "out.csv",
        "-q",
        env={"TMPDIR": str(private_tmp)},
        timeout=60,
    )
    writer.join(5)
    assert run.code == OK, run.stderr
    assert (examples / "out.csv").read_text(encoding="utf-8") == expected
    assert list(private_tmp.iterdir()) == [], "the copy of the stream is removed at exit"


def test_process_substitution_reads_like_a_file(examples: Path, private_tmp: Path) -> None:
    """`lifecycle classify <(gunzip -c contacts.csv.gz)`: /dev/fd/N was read as empty."""
    import gzip

    (examples / "contacts.csv.gz").write_bytes(
        gzip.compress((examples / "contacts.csv").read_bytes())
    )
    expected = run_cli(
        "classify", examples / "contacts.csv", "--deals", examples / "deals.csv", "-o", "-", "-q"
    ).stdout
    proc = shell(
        "$LC classify <(gunzip -c contacts.csv.gz) --deals <(cat deals.csv) -o out.csv -q",
        cwd=examples,
        env={"TMPDIR": str(private_tmp)},
    )
    assert proc.returncode == OK, proc.stderr.decode()
    assert (examples / "out.csv").read_text(encoding="utf-8") == expected
    assert list(private_tmp.iterdir()) == []
    # Without -o there is no folder beside a stream to write into: the CSV goes to stdout, as for
    # stdin.
    proc = shell("$LC classify <(gunzip -c contacts.csv.gz) --deals deals.csv -q", cwd=examples)
    assert proc.returncode == OK, proc.stderr.decode()
    assert proc.stdout.decode("utf-8") == expected


def test_ctrl_c_stops_a_run_waiting_on_a_pipe_nobody_writes_to(
    tmp_path: Path, private_tmp: Path
) -> None:
    fifo = tmp_path / "contacts.csv"
    os.mkfifo(fifo)
    env = {**os.environ, "NO_COLOR": "1", "TMPDIR": str(private_tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifecycle_cli", "classify", str(fifo), "-q"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # The stream is copied to a temp file in TMPDIR, created once the pipe is open: from then on
    # the run waits for a writer that never comes.
    assert wait_until(lambda: list(private_tmp.iterdir()), proc), "it never opened the pipe"
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("Ctrl-C did not stop a run waiting on a named pipe")
    assert proc.returncode == 130, err.decode()
    assert list(private_tmp.iterdir()) == []


def test_a_device_is_refused(tmp_path: Path) -> None:
    is_error(
        cli("classify", "/dev/zero", "-o", tmp_path / "out.csv", "-q", timeout=60),
        "/dev/zero: is a device, not a contacts export",
    )
    assert not (tmp_path / "out.csv").exists()


# -------------------------------------------------------------------------- closed and full streams


def close_fd(fd: int):
    return lambda: os.close(fd)


def test_closed_stdin_with_dash_is_a_clear_error(examples: Path) -> None:
    run = cli("classify", "-", "-q", stdin=subprocess.DEVNULL, preexec_fn=close_fd(0))
    is_error(run, "stdin is closed")


def test_closed_stdout_is_fine_when_nothing_goes_there(examples: Path) -> None:
    """The CSV goes to a file and the text report to stderr: a closed stdout is not needed."""
    expected = run_cli("classify", examples / "contacts.csv", "-o", "-", "-q").stdout
    proc = shell("$LC classify contacts.csv -o out.csv >&-", cwd=examples)
    assert proc.returncode == OK, proc.stderr.decode()
    assert "29 of 52 contacts change stage" in proc.stderr.decode()
    assert (examples / "out.csv").read_text(encoding="utf-8") == expected


def test_closed_stdout_with_a_json_report_is_a_clear_error(examples: Path) -> None:
    proc = shell("$LC classify contacts.csv -o out.csv --format json >&-", cwd=examples)
    err = proc.stderr.decode()
    assert proc.returncode == USAGE, err
    assert "lifecycle: error: stdout is closed" in err and "Traceback" not in err
    assert not (examples / "out.csv").exists(), (
        "exit 2 writes nothing: the JSON goes out before the files commit"
    )
    version = shell(
        "$LC --version >&-", cwd=examples
    )  # written by the option parser, before any command
    assert version.returncode == USAGE
    assert version.stderr.decode().startswith("lifecycle: error: stdout is closed")


def test_closed_stderr(examples: Path) -> None:
    """-q needs no stderr: done. The text report needs it: exit 2 (there is nowhere to say why), and
    nothing meant for stderr ends up in the output file that took its descriptor number."""
    expected = run_cli("classify", examples / "contacts.csv", "-o", "-", "-q").stdout
    quiet = shell("$LC classify contacts.csv -o quiet.csv -q 2>&-", cwd=examples)
    assert quiet.returncode == OK
    assert (examples / "quiet.csv").read_text(encoding="utf-8") == expected
    loud = shell("$LC classify contacts.csv -o loud.csv 2>&-", cwd=examples)
    assert loud.returncode == USAGE
    assert (examples / "loud.csv").read_text(encoding="utf-8") == expected


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ("classify", "contacts.csv", "-o", "-", "-q"),
        ("classify", "contacts.csv", "-o", "out.csv", "--format", "json"),
        ("diff", "contacts.csv", "contacts.csv"),
        ("sql", "--dialect", "duckdb"),
    ],
    ids=["csv", "json-report", "diff-report", "sql"],
)
def test_stdout_on_a_full_device(examples: Path, args: tuple) -> None:
    with open("/dev/full", "wb") as full:
        run = cli(*args, cwd=examples, stdin=subprocess.DEVNULL, stdout=full)
    is_error(run, "cannot write to stdout: No space left on device")
    assert "Exception ignored" not in run.stderr
    assert not (examples / "out.csv").exists(), "nothing is written when the run fails"


def test_csv_from_parquet_to_a_closed_or_full_stdout(examples: Path) -> None:
    """Polars writes this CSV itself, and hands the failure back as a bare OSError: it was a
    traceback."""
    import polars as pl

    pl.read_csv(examples / "contacts.csv", infer_schema=False).write_parquet(
        examples / "contacts.parquet"
    )
    closed = shell("$LC classify contacts.parquet -o - -q >&-", cwd=examples)
    assert closed.returncode == USAGE, closed.stderr.decode()
    assert closed.stderr.decode().startswith("lifecycle: error: stdout is closed")
    if Path("/dev/full").exists():
        with open("/dev/full", "wb") as full:
            run = cli("classify", "contacts.parquet", "-o", "-", "-q", cwd=examples, stdout=full)
        is_error(run, "cannot write to stdout: No space left on device")


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_reports_on_stdout_in_a_narrow_encoding(tmp_path: Path, encoding: str) -> None:
    """PYTHONIOENCODING=latin-1 stopped the Markdown report at the first ▲ or name it lacks; the
    data formats are UTF-8 whatever the terminal says, the text report shows escapes."""
    contacts = with_names(tmp_path)
    out = tmp_path / "out.csv"
    env = {"PYTHONIOENCODING": encoding}
    markdown = cli("classify", contacts, "-o", out, "--format", "markdown", env=env)
    assert markdown.code == OK, markdown.stderr
    assert "Łucja Hartmann" in markdown.stdout and "▲ up" in markdown.stdout
    report = cli("diff", contacts, out, env=env)
    assert report.code == OK, report.stderr
    assert "lifecycle diff: " in report.stdout
    sql = cli("sql", "--dialect", "duckdb", env=env)
    assert sql.code == OK and "fürsprecher" in sql.stdout.lower()


def test_deleted_working_directory(examples: Path, tmp_path: Path) -> None:
    gone = tmp_path / "gone"

    def enter_and_delete() -> None:
        gone.mkdir()
        os.chdir(gone)
        os.rmdir(gone)

    relative = cli(
        "classify", examples / "contacts.csv", "-o", "out.csv", "-q", preexec_fn=enter_and_delete
    )
    is_error(relative, "the current directory no longer exists")
    absolute = cli(
        "classify",
        examples / "contacts.csv",
        "-o",
        examples / "out.csv",
        "-q",
        preexec_fn=enter_and_delete,
    )
    assert absolute.code == OK, absolute.stderr


@pytest.mark.parametrize("codec", ["rot13", "base64"])
def test_encoding_that_is_not_a_text_encoding(examples: Path, codec: str) -> None:
    is_error(
        run_cli("classify", examples / "contacts.csv", "--encoding", codec, "-q"),
        f"--encoding: '{codec}' is not a text encoding",
    )
    assert not (examples / "contacts.reclassified.csv").exists()


# --------------------------------------------------------------------------- rules built to exhaust


def test_deeply_nested_condition(examples: Path) -> None:
    rules = rules_with_other_when(
        examples, "(" * 5000 + "contact_type IN @other_kinds" + ")" * 5000
    )
    err = is_error(
        run_cli("classify", examples / "contacts.csv", "--rules", rules, "-q"),
        f"{rules}:{OTHER_LINE}: rule 'other': the condition nests parentheses 5000 deep",
    )
    assert len(err) < 1000, "the condition is shortened in the message"


def test_very_long_chain_of_conditions(examples: Path) -> None:
    rules = rules_with_other_when(examples, " AND ".join(["contact_type IS NOT NULL"] * 5000))
    for args in (("classify", examples / "contacts.csv", "-q"), ("sql", "--dialect", "duckdb")):
        is_error(
            run_cli(*args, "--rules", rules),
            f"{rules}:{OTHER_LINE}: rule 'other': the condition is too deeply nested",
        )


def limit_memory(gigabytes: int):
    """For a child that would otherwise eat memory without end: fail instead of swapping the
    machine."""
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (gigabytes << 30, gigabytes << 30))


def test_yaml_alias_bomb_in_the_working_directory(examples: Path) -> None:
    """Nine nested aliases before the default rules: ./rules.yaml is picked up by itself."""
    lines = ["version: 1", "lol0: &lol0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = "\n".join(lines)
    assert len(bomb) < 1000, "a few hundred bytes that expand to a billion values"
    (examples / "rules.yaml").write_text(bomb + RULES.split("version: 1", 1)[1], encoding="utf-8")
    # Refused before expanding: a billion values would outgrow the 4 GB limit (MemoryError) or
    # run into cli's hang guard, not end with this message.
    run = cli("classify", "contacts.csv", "-q", cwd=examples, preexec_fn=limit_memory(4))
    is_error(
        run,
        "rules.yaml:5: the YAML aliases (*name) expand to more than 10,000 values",
        "anchored on line 4",
    )


def test_aliases_within_the_bound_are_fine(examples: Path) -> None:
    """An alias is still an alias: here it makes two stages claim one spelling, and that is what is
    said."""
    rules = RULES.replace("aliases: [Abonnent]", "aliases: &german [Abonnent]")
    rules = rules.replace("aliases: [Leads]", "aliases: *german")
    (examples / "rules.yaml").write_text(rules, encoding="utf-8")
    is_error(
        cli("classify", "contacts.csv", "-q", cwd=examples),
        "'Abonnent' names both stage 'subscriber' and stage 'lead'",
    )


def test_rules_file_over_a_megabyte(examples: Path) -> None:
    rules = examples / "rules.yaml"
    rules.write_text(RULES + "# padding\n" * 120_000, encoding="utf-8")
    is_error(
        run_cli("classify", examples / "contacts.csv", "--rules", rules, "-q"),
        f"{rules}: the rules file is larger than 1 MB",
    )


@pytest.fixture(scope="module")
def many_contacts(generated_200k: Path) -> Path:
    return generated_200k / "contacts.csv"


def test_a_20000_value_in_list_costs_about_what_a_short_one_does(
    many_contacts: Path, tmp_path: Path
) -> None:
    """`contact_type IN ('Vendor', ...20,000 values)` was a chain of 20,000 comparisons (46 s and
    4 GB on a large export); now it is one lookup. Both runs give the same stages."""
    kinds = ["Employee", "Applicant", "Partner", "Competitor", "Vendor"]
    filler = [f"Supplier {i:05d}" for i in range(20_000 - len(kinds))]
    short = rules_with_other_when(
        tmp_path,
        "contact_type IN ("
        + ", ".join(f"'{k}'" for k in kinds)
        + ") OR email_domain IN @internal_domains",
        "short.yaml",
    )
    long = rules_with_other_when(
        tmp_path,
        "contact_type IN ("
        + ", ".join(f"'{k}'" for k in kinds + filler)
        + ") OR email_domain IN @internal_domains",
        "long.yaml",
    )
    small = run_cli("classify", many_contacts, "--rules", short, "-o", tmp_path / "short.csv", "-q")
    big = run_cli("classify", many_contacts, "--rules", long, "-o", tmp_path / "long.csv", "-q")
    assert small.code == big.code == OK, big.stderr
    assert (tmp_path / "short.csv").read_bytes() == (tmp_path / "long.csv").read_bytes()
    # Not timed here (speed is the benchmark's job): the compiled condition is one lookup, not
    # 20,000 ORs.
    from lifecycle_cli.rules.model import load_rules, to_polars

    rules = load_rules(long)
    condition = str(to_polars(rules.rules[0].when, lambda name: pl.col(name), rules.values))
    assert "is_in" in condition and condition.count("|") < 5 and len(condition) < 2_000, condition[
        :500
    ]


def test_a_20000_entry_value_list(many_contacts: Path, tmp_path: Path) -> None:
    """`IN @list` with 20,000 values: one lookup too, ignoring case and spaces as before."""
    values = ", ".join(
        ["Employee", "applicant ", "PARTNER", "Competitor", "Vendor"]
        + [f"Supplier {i:05d}" for i in range(20_000)]
    )
    rules = tmp_path / "rules.yaml"
    # The same known non-members as the default other_kinds: a value neither names is unknown.
    not_in = "[Customer, Customer contact, Prospect, Lead, Contact]"
    rules.write_text(
        RULES.replace(
            "values:\n", f"values:\n  many_kinds: {{in: [{values}], not_in: {not_in}}}\n", 1
        ).replace("contact_type IN @other_kinds", "contact_type IN @many_kinds"),
        encoding="utf-8",
    )
    plain = run_cli("classify", many_contacts, "-o", tmp_path / "plain.csv", "-q")
    run = run_cli("classify", many_contacts, "--rules", rules, "-o", tmp_path / "many.csv", "-q")
    assert plain.code == run.code == OK, run.stderr
    assert (tmp_path / "plain.csv").read_bytes() == (tmp_path / "many.csv").read_bytes()


# --------------------------------------------------------------------------- headers


def with_extra_column(source: Path, target: Path, header: str, value: str) -> Path:
    rows = list(csv.reader(source.open(encoding="utf-8", newline="")))
    rows[0].append(header)
    for row in rows[1:]:
        row.append(value)
    with target.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return target


@pytest.mark.parametrize("second", ["record id", "RECORD  ID", "Record_ID "])
def test_two_headers_for_the_record_id(examples: Path, second: str) -> None:
    contacts = with_extra_column(examples / "contacts.csv", examples / "two-ids.csv", second, "99")
    expected = f"'Record ID' (column 1) and '{second}' (column {len(CONTACT_HEADERS) + 1})"
    is_error(
        run_cli("classify", contacts, "-q"),
        f"{contacts}: the contacts file has two columns",
        expected,
    )
    is_error(
        run_cli("diff", examples / "contacts.csv", contacts, "-q"),
        f"{contacts}: the contacts file",
        expected,
    )
    is_error(
        run_cli("sql", "--dialect", "postgres", "--contacts-header", contacts),
        f"{contacts}: the contacts file",
        expected,
    )
    assert not list(examples.glob("*.reclassified.*"))


@pytest.mark.parametrize("header", ["Lifecycle Rule", "Other Type", "Previous Lifecycle Stage"])
def test_two_headers_for_a_column_classify_writes(examples: Path, header: str) -> None:
    """Re-running on an export that has `Lifecycle Rule` and `lifecycle rule`: the second was
    updated and the first kept stale values, silently."""
    once = with_extra_column(examples / "contacts.csv", examples / "once.csv", header, "old")
    twice = with_extra_column(once, examples / "twice.csv", f" {header.lower()}", "old")
    n = len(CONTACT_HEADERS)
    is_error(
        run_cli("classify", twice, "-q"),
        f"{twice}: the contacts file has two columns for '{header}', which classify writes: "
        f"'{header}' (column {n + 1}) and ' {header.lower()}' (column {n + 2})",
    )
    assert not list(examples.glob("*.reclassified.*"))
    invoke_assert_code(OK, "classify", once, "-q")  # one of them is updated in place, as before


# ---------------------------------------------------------------- files that are not what they seem


def test_one_line_without_a_line_break(tmp_path: Path) -> None:
    """Two megabytes and no line break (100 MB behaves the same): not 'quoted field not closed'."""
    path = tmp_path / "contacts.csv"
    path.write_bytes(",".join(CONTACT_HEADERS).encode() + b"," + b"x" * (2 << 20))
    err = is_error(
        run_cli("classify", path, "-q"),
        f"{path}: the contacts file has no line break in its first 1 MB",
        "is it a CSV export?",
    )
    assert "quoted" not in err


def test_classic_mac_line_ends(examples: Path) -> None:
    path = examples / "mac.csv"
    path.write_bytes((examples / "contacts.csv").read_bytes().replace(b"\n", b"\r"))
    is_error(
        run_cli("classify", path, "-q"),
        f"{path}: the contacts file ends its lines with a carriage return only",
    )


def with_bare_cr(examples: Path) -> Path:
    """Row 6 and row 7 joined by a CR alone: Polars reads one row with too many fields there."""
    lines = (examples / "contacts.csv").read_bytes().split(b"\n")
    lines[5] = lines[5] + b"\r" + lines.pop(6)
    path = examples / "cr.csv"
    path.write_bytes(b"\n".join(lines))
    return path


def test_bare_carriage_return_to_stdout(examples: Path) -> None:
    """The error surfaced while the CSV streamed: a partial header was on stdout, and the message
    blamed `-`."""
    contacts = with_bare_cr(examples)
    run = run_cli("classify", contacts, "-o", "-", "-q")
    is_error(run, f"{contacts}: the contacts file has a bare carriage return", "on line 6")
    assert run.stdout == ""


def test_bare_carriage_return_to_a_file(examples: Path) -> None:
    contacts = with_bare_cr(examples)
    out = examples / "out.csv"
    err = is_error(
        run_cli("classify", contacts, "-o", out, "-q"),
        f"{contacts}: the contacts file has a bare carriage return",
    )
    assert f"{out}:" not in err
    assert not out.exists()


def test_big_notes_field_then_a_ragged_row(examples: Path) -> None:
    """A 200 KB field in row 4 passed the csv module's field limit: row 4 was blamed, not row 11."""
    rows = list(csv.reader((examples / "contacts.csv").open(encoding="utf-8", newline="")))
    rows[3][CONTACT_HEADERS.index("Lead Status")] = "Called, left a message. " * 9000
    rows[10].append("stray")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path = examples / "notes.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    err = is_error(
        run_cli("classify", path, "-q"),
        f"{path}: the contacts file has rows with more fields",
        "row 11 (21 fields)",
    )
    assert "row 4" not in err and "quoted" not in err


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark(tmp_path: Path, codec: str) -> None:
    contacts = with_names(tmp_path)
    path = tmp_path / "unicode.csv"
    path.write_bytes(contacts.read_text(encoding="utf-8").encode(codec))
    is_error(
        run_cli("classify", path, "-q"),
        f"{path}: the contacts file looks like UTF-16",
        f"--encoding {codec}",
    )
    run = invoke_assert_code(
        OK, "classify", path, "--encoding", codec, "-o", tmp_path / "out.csv", "-q", cwd=tmp_path
    )
    assert not run.stderr
    assert (tmp_path / "out.csv").read_bytes().decode(codec).count("Łucja") == 1


def test_parquet_named_csv(examples: Path) -> None:
    import polars as pl

    path = examples / "contacts-export.csv"
    pl.read_csv(examples / "contacts.csv", infer_schema=False).write_parquet(path)
    is_error(
        run_cli("classify", path, "-q"),
        f"{path}: the contacts file is a Parquet file, not a CSV",
        "rename it to end in .parquet",
    )

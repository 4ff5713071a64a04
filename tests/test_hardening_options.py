"""Issue 20, options: an empty option is not a missing one, --check writes nothing at all,
messages name only options the command has, and long lists in messages say how many more there
are. Through the real entry point, on real-looking files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import (
    CHANGES,
    CONTACT_HEADERS,
    EXAMPLES,
    OK,
    ROOT,
    USAGE,
    invoke_assert_code,
    write_csv,
)

#: Each command with the arguments of a run that would otherwise start ({} is the examples folder).
COMMANDS = {
    "classify": ["classify", "{}/contacts.csv"],
    "diff": ["diff", "{}/contacts.csv", "{}/contacts.csv"],
    "sql": ["sql", "--dialect", "duckdb"],
    "explain": ["explain", "{}/contacts.csv", "51234567801"],
    "test": ["test"],
    "validate": ["validate"],
    "rules": ["rules"],
    "init": ["init"],
}


def value_options(command: str) -> list[str]:
    """The options of a command that take a text value (a file, folder, name, ...), from its --help:
    every one of them, so an option added later is covered too."""
    out = invoke_assert_code(OK, command, "--help").stdout
    takes = "FILE|OUT|DIR|NAME|COL|CHAR|GATE|A,B"
    found = re.findall(rf"^\s+(?:-\w, )?(--[a-z][a-z-]*) (?:{takes})\b", out, re.M)
    assert found or command in ("validate", "rules", "test"), out
    return found


def args_of(command: str, folder: Path) -> list[str]:
    return [a.replace("{}", str(folder)) for a in COMMANDS[command]]


# --------------------------------------------------------------------------- empty is not absent


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_given_empty_stops_the_run_naming_it(examples: Path, command: str) -> None:
    options = value_options(command)
    for option in options:
        run = invoke_assert_code(USAGE, *args_of(command, examples), option, "", cwd=examples)
        assert f"lifecycle: error: {option} is empty: give " in run.stderr, (option, run.stderr)
        assert "(or leave the option out)" in run.stderr
    written = sorted(p.name for p in examples.iterdir())
    assert written == ["consent.csv", "contacts.csv", "deals.csv"]


def test_the_options_the_brief_names_are_covered() -> None:
    covered = {o for command in ("classify", "sql", "diff") for o in value_options(command)}
    assert {
        "--deals",
        "--consent",
        "--rules",
        "--output",
        "--hubspot-import",
        "--report",
        "--companies",
        "--companies-output",
        "--contacts-table",
        "--contacts-header",
        "--key",
    } <= covered


def test_an_unset_variable_in_a_cron_line_is_not_a_missing_file(examples: Path) -> None:
    """`--deals "$DEALS"` with DEALS unset, as a shell runs it."""
    import subprocess
    import sys

    line = f'"{sys.executable}" -m lifecycle_cli classify contacts.csv --deals "$DEALS" -q'
    proc = subprocess.run(
        line,
        shell=True,
        cwd=examples,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert proc.returncode == USAGE, proc.stderr
    assert proc.stderr == (
        "lifecycle: error: --deals is empty: give a file path (or leave the option out)\n"
    )
    assert not (examples / "contacts.reclassified.csv").exists()


@pytest.mark.parametrize(
    "args, name",
    [
        (["classify", "", "-q"], "CONTACTS is empty: give a file path\n"),
        (["diff", "contacts.csv", ""], "AFTER is empty: give a file path\n"),
        (["explain", "contacts.csv", ""], "ID is empty: give a record id\n"),
        (["validate", ""], "RULES is empty: give a file path (or leave it out)\n"),
        (["test", ""], "RULES is empty: give a file path (or leave it out)\n"),
        (
            ["classify", "contacts.csv", "-o", ""],
            "--output is empty: give a file path (or leave the option out)\n",
        ),
        (["classify", "contacts.csv", "--report", "r.md", "--report", ""], "--report is empty"),
        (
            ["classify", "contacts.csv", "--delimiter", ""],
            "--delimiter is empty: give one character",
        ),
    ],
)
def test_empty_arguments_and_repeated_options(examples: Path, args: list[str], name: str) -> None:
    run = invoke_assert_code(USAGE, *args, cwd=examples)
    assert f"lifecycle: error: {name}" in run.stderr
    assert "Traceback" not in run.stderr and not (examples / "r.md").exists()


def test_a_tab_delimiter_is_not_empty(tmp_path: Path) -> None:
    row = {"Record ID": "51234567801", "Email": "ann@acme.example", "Lifecycle Stage": "lead"}
    contacts = write_csv(tmp_path / "c.tsv", CONTACT_HEADERS, [row], delimiter="\t")
    invoke_assert_code(
        OK, "classify", contacts, "--delimiter", "\t", "-q", "-o", tmp_path / "out.tsv"
    )


# --------------------------------------------------------------------------- --check writes nothing


@pytest.mark.parametrize(
    "extra, named",
    [
        (["-o", "out.csv"], "--output"),
        (["-o", "-"], "--output"),
        (["--in-place"], "--in-place"),
        (["--report", "report.md"], "--report"),
        (["--hubspot-import", "import"], "--hubspot-import"),
        (["--companies", "companies.csv", "--companies-output", "out.csv"], "--companies-output"),
        (["--report", "r.json", "--hubspot-import", "import"], "--report and --hubspot-import"),
    ],
)
def test_check_with_an_output_is_refused_and_writes_nothing(
    examples: Path, extra: list[str], named: str
) -> None:
    (examples / "companies.csv").write_bytes((EXAMPLES / "companies.csv").read_bytes())
    before = {p.name: p.read_bytes() for p in examples.iterdir()}
    run = invoke_assert_code(
        USAGE, "classify", "contacts.csv", "--deals", "deals.csv", "--check", *extra, cwd=examples
    )
    assert (
        f"lifecycle: error: --check writes nothing, so it cannot be combined with {named}: leave "
    ) in run.stderr
    assert run.stdout == ""
    assert {p.name: p.read_bytes() for p in examples.iterdir()} == before


def test_check_alone_still_reports_and_writes_nothing(examples: Path) -> None:
    (examples / "companies.csv").write_bytes((EXAMPLES / "companies.csv").read_bytes())
    before = sorted(p.name for p in examples.iterdir())
    run = invoke_assert_code(
        CHANGES,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--companies",
        "companies.csv",
        "--check",
        "-f",
        "markdown",
        cwd=examples,
    )
    assert "### Companies" in run.stdout
    assert sorted(p.name for p in examples.iterdir()) == before


# ------------------------------------------------------------------ messages name real options


def options_of(command: str) -> set[str]:
    help_text = invoke_assert_code(OK, command, "--help").stdout
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", help_text))


def named_options(message: str) -> set[str]:
    """The options a message names (`--deals`, `-o`), not paths or values holding a dash."""
    message = re.sub(r"/\S*", " ", message)  # paths
    return set(re.findall(r"(?<![\w/.'-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])", message))


def closed_stdout(*args: str, cwd: Path) -> str:
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "lifecycle_cli", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=120,
        preexec_fn=lambda: os.close(1),
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == USAGE, proc.stderr
    return proc.stderr.decode()


def test_every_message_names_only_options_its_command_has(examples: Path) -> None:
    import os

    os.mkfifo(examples / "pipe.md")
    (examples / "companies.csv").write_bytes((EXAMPLES / "companies.csv").read_bytes())
    rules = str(ROOT / "rules.yaml")
    cases = [
        ("classify", ["contacts.csv", "--companies", "-"], "--companies - reads the companies"),
        ("classify", ["contacts.csv", "-o", "pipe.md"], "not a regular file"),
        ("classify", ["contacts.csv", "--report", "pipe.md"], "not a regular file"),
        ("classify", ["contacts.csv", "--delimiter", "ab"], "--delimiter must be one character"),
        ("classify", ["contacts.csv", "--encoding", "klingon"], "--encoding: unknown encoding"),
        ("diff", ["contacts.csv", "contacts.csv", "--report", "pipe.md"], "not a regular file"),
        ("sql", ["--dialect", "duckdb", "-o", "pipe.md"], "not a regular file"),
        ("sql", ["--dialect", "spark"], "--dialect spark needs --contacts-header FILE"),
        ("explain", ["contacts.csv", "1", "--preset", "hubspot-fr"], "unknown preset"),
        ("test", [rules, "--preset", "salesforce"], "RULES and --preset both choose the rules"),
        ("rules", [rules, "--preset", "salesforce"], "RULES and --preset both choose the rules"),
        ("validate", [rules, "--preset", "salesforce"], "give a rules file or --preset, not both"),
    ]
    for command, args, words in cases:
        run = invoke_assert_code(USAGE, command, *args, cwd=examples)
        assert words in run.stderr, (command, run.stderr)
        assert named_options(run.stderr) <= options_of(command), (command, run.stderr)
    os.mkfifo(examples / "rules.yaml")
    run = invoke_assert_code(USAGE, "init", "--force", cwd=examples)
    assert "rules.yaml: cannot write the starter rules: it is not a regular file" in run.stderr
    assert "run lifecycle init in another folder" in run.stderr
    assert named_options(run.stderr) <= options_of("init"), run.stderr
    (examples / "rules.yaml").unlink()
    for command, args in [
        ("rules", [rules]),
        ("validate", [rules]),
        ("test", [rules]),
        ("sql", ["--dialect", "duckdb"]),
        ("classify", ["contacts.csv", "--check", "-f", "json"]),
        ("explain", ["contacts.csv", "51234567801"]),
        ("diff", ["contacts.csv", "contacts.csv"]),
    ]:
        message = closed_stdout(command, *args, cwd=examples)
        assert "stdout is closed" in message
        assert named_options(message) <= options_of(command), (command, message)


# --------------------------------------------------------------------------- and N more


def test_unknown_stages_say_how_many_more_there_are(tmp_path: Path) -> None:
    rows = [
        {
            "Record ID": str(10_000 + i),
            "Email": f"p{i}@acme.example",
            "Lifecycle Stage": f"custom-{i % 1000}",
        }
        for i in range(3000)
    ]
    contacts = write_csv(tmp_path / "c.csv", CONTACT_HEADERS, rows)
    run = invoke_assert_code(USAGE, "classify", contacts, "-q")
    assert "3,000 rows have a stage the rules do not know:" in run.stderr
    assert " and 980 more values\n" in run.stderr
    assert run.stderr.count("first at row") == 20


def test_row_lists_say_how_many_more_there_are(tmp_path: Path) -> None:
    rows = [
        {"Record ID": "" if i % 2 else str(10_000 + i), "Lifecycle Stage": "lead"}
        for i in range(40)
    ]
    contacts = write_csv(tmp_path / "c.csv", CONTACT_HEADERS, rows)
    run = invoke_assert_code(USAGE, "classify", contacts, "-q")
    assert (
        "20 rows have no record id (rows 3, 5, 7, 9, 11, 13, 15, 17, 19, 21 and 10 more)"
    ) in run.stderr
    repeated = [{"Record ID": str(10_000 + i % 5), "Lifecycle Stage": "lead"} for i in range(30)]
    contacts = write_csv(tmp_path / "r.csv", CONTACT_HEADERS, repeated)
    run = invoke_assert_code(
        OK,
        "classify",
        contacts,
        "--on-duplicate",
        "keep-first",
        "-o",
        tmp_path / "out.csv",
        "-q",
        cwd=tmp_path,
    )
    assert (
        "left out 25 rows whose Record ID appeared earlier (--on-duplicate keep-first): "
        in run.stderr
    )
    assert "rows 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 and 15 more" in run.stderr


def test_short_rows_say_how_many_more_there_are(tmp_path: Path) -> None:
    header = ",".join(CONTACT_HEADERS)
    lines = [header] + [f"{10_000 + i},Ann,Lee,a{i}@acme.example,lead" for i in range(15)]
    (tmp_path / "c.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = invoke_assert_code(
        OK, "classify", tmp_path / "c.csv", "-o", tmp_path / "out.csv", "-q", cwd=tmp_path
    )
    assert (
        "15 rows have fewer fields than the header (rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 5 more)"
    ) in run.stderr

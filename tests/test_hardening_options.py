"""Issue 20, options: an empty option is not a missing one, --check writes nothing at all, messages
name only options the command has, and long lists in messages say how many more there are.
Through the real entry point, on real-looking files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import CHANGES, CONTACT_HEADERS, EXAMPLES, OK, USAGE, invoke_assert_code, run_cli, write_csv

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
    found = re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*) (?:FILE|OUT|DIR|NAME|COL|CHAR|GATE|A,B)\b", out, re.M)
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
    assert sorted(p.name for p in examples.iterdir()) == ["consent.csv", "contacts.csv", "deals.csv"]


def test_the_options_the_brief_names_are_covered() -> None:
    covered = set(value_options("classify")) | set(value_options("sql")) | set(value_options("diff"))
    assert {"--deals", "--consent", "--rules", "--output", "--hubspot-import", "--report", "--companies",
            "--companies-output", "--contacts-table", "--contacts-header", "--key"} <= covered


def test_an_unset_variable_in_a_cron_line_is_not_a_missing_file(examples: Path) -> None:
    """`--deals "$DEALS"` with DEALS unset, as a shell runs it."""
    import subprocess
    import sys

    line = f'"{sys.executable}" -m lifecycle_cli classify contacts.csv --deals "$DEALS" -q'
    proc = subprocess.run(line, shell=True, cwd=examples, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert proc.returncode == USAGE, proc.stderr
    assert proc.stderr == ("lifecycle: error: --deals is empty: give a file path (or leave the option out)\n")
    assert not (examples / "contacts.reclassified.csv").exists()


@pytest.mark.parametrize("args, name", [
    (["classify", "", "-q"], "CONTACTS is empty: give a file path\n"),
    (["diff", "contacts.csv", ""], "AFTER is empty: give a file path\n"),
    (["explain", "contacts.csv", ""], "ID is empty: give a record id\n"),
    (["validate", ""], "RULES is empty: give a file path (or leave it out)\n"),
    (["test", ""], "RULES is empty: give a file path (or leave it out)\n"),
    (["classify", "contacts.csv", "-o", ""], "--output is empty: give a file path (or leave the option out)\n"),
    (["classify", "contacts.csv", "--report", "r.md", "--report", ""], "--report is empty"),
    (["classify", "contacts.csv", "--delimiter", ""], "--delimiter is empty: give one character"),
])
def test_empty_arguments_and_repeated_options(examples: Path, args: list[str], name: str) -> None:
    run = invoke_assert_code(USAGE, *args, cwd=examples)
    assert f"lifecycle: error: {name}" in run.stderr
    assert "Traceback" not in run.stderr and not (examples / "r.md").exists()


def test_a_tab_delimiter_is_not_empty(tmp_path: Path) -> None:
    contacts = write_csv(tmp_path / "c.tsv", CONTACT_HEADERS, [
        {"Record ID": "51234567801", "Email": "ann@acme.example", "Lifecycle Stage": "lead"}], delimiter="\t")
    invoke_assert_code(OK, "classify", contacts, "--delimiter", "\t", "-q", "-o", tmp_path / "out.tsv")

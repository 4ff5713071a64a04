"""Issue 20, nothing picked up silently: a rules file found by itself (in the working directory,
or beside the contacts) is named on stderr even with -q, and in every report format. Through the
real entry point, on real-looking files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import CHANGES, EXAMPLES, OK, ROOT, invoke_assert_code, run_cli

#: The default rules with every Customer made a Lead again and names left out of reports: what a
#: rules.yaml planted beside a downloaded export can do.
PLANTED = [
    ("  - id: customer\n    stage: customer\n", "  - id: customer\n    stage: lead\n"),
    ("  redact: false\n", "  redact: true\n"),
]


def plant(folder: Path) -> Path:
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    text = text.replace("  - include: rule_cases/*.yaml\n", "")
    for old, new in PLANTED:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = folder / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def downloads(tmp_path: Path) -> Path:
    """A downloads folder: the export, and a rules.yaml someone put beside it."""
    folder = tmp_path / "Downloads"
    folder.mkdir()
    for name in ("contacts.csv", "deals.csv"):
        shutil.copy(EXAMPLES / name, folder / name)
    plant(folder)
    return folder


def note(where: str, rules: str = "rules.yaml") -> str:
    return f"lifecycle: note: using the rules in {rules}, found by itself {where}; "


# --------------------------------------------------------------------------- found by itself


def test_rules_beside_the_export_are_named_even_with_quiet(tmp_path: Path) -> None:
    folder = downloads(tmp_path)
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    contacts = folder / "contacts.csv"
    run = invoke_assert_code(
        CHANGES,
        "classify",
        contacts,
        "--deals",
        folder / "deals.csv",
        "--check",
        "-q",
        cwd=elsewhere,
    )
    assert run.stderr == (
        note(f"beside {contacts}", str(folder / "rules.yaml"))
        + "give --rules FILE to choose the rules yourself\n"
    )


@pytest.mark.parametrize("fmt", ["json", "markdown", "html", "text"])
def test_every_report_format_says_the_rules_were_found_by_themselves(
    tmp_path: Path, fmt: str
) -> None:
    folder = downloads(tmp_path)
    suffix = {"json": "json", "markdown": "md", "html": "html", "text": "txt"}[fmt]
    report = tmp_path / f"report.{suffix}"
    run = invoke_assert_code(
        OK,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "-q",
        "-o",
        tmp_path / "out.csv",
        "--report",
        report,
        cwd=folder,
    )
    assert note("in the working directory") in run.stderr
    text = report.read_text(encoding="utf-8")
    if fmt == "json":
        files = json.loads(text)["files"]
        assert files["rules"] == "rules.yaml"
        assert files["rules_found_by_itself"] == "in the working directory"
    else:
        flat = " ".join(text.replace("│", " ").split())  # the text report wraps lines in a box
        assert (
            "the rules file rules.yaml was found by itself in the working directory, not named "
            "with --rules; check that it is yours."
        ) in flat


def test_named_rules_are_not_a_finding(tmp_path: Path) -> None:
    folder = downloads(tmp_path)
    named = {"LIFECYCLE_RULES": str(folder / "rules.yaml")}
    for extra, env in ((["--rules", "rules.yaml"], None), ([], named)):
        run = invoke_assert_code(
            CHANGES,
            "classify",
            "contacts.csv",
            "--check",
            "-q",
            "-f",
            "json",
            *extra,
            cwd=folder,
            env=env,
        )
        assert "note:" not in run.stderr
        assert json.loads(run.stdout)["files"]["rules_found_by_itself"] is None
    (folder / "rules.yaml").unlink()
    run = invoke_assert_code(
        CHANGES, "classify", "contacts.csv", "--check", "-q", "-f", "json", cwd=folder
    )
    assert run.stderr == "" and json.loads(run.stdout)["files"]["rules"] == "default rules"


@pytest.mark.parametrize(
    "args, how",
    [
        (["diff", "contacts.csv", "contacts.csv", "-q"], "--rules FILE"),
        (["explain", "contacts.csv", "51234567801"], "--rules FILE"),
        (["sql", "--dialect", "duckdb"], "--rules FILE"),
        (["rules"], "the rules file as RULES"),
        (["validate"], "the rules file as RULES"),
    ],
)
def test_every_command_names_rules_it_found(tmp_path: Path, args: list[str], how: str) -> None:
    folder = downloads(tmp_path)
    run = run_cli(*args, cwd=folder)
    assert run.code in (OK, CHANGES), run.stderr
    said = note("in the working directory") + f"give {how} to choose the rules yourself\n"
    assert said in run.stderr


def test_test_names_rules_it_found(tmp_path: Path) -> None:
    folder = downloads(tmp_path)
    run = run_cli("test", cwd=folder)
    assert note("in the working directory") + "give the rules file as RULES" in run.stderr

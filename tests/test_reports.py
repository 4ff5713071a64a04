"""Golden reports in every format, and the HTML report opened in a real headless Chromium.

Golden files live in tests/golden/; set LIFECYCLE_REGENERATE_GOLDEN=1 to rewrite them.
A missing golden file is a failure, never written silently.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, OK, chromium, invoke_assert_code, run_cli

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("LIFECYCLE_REGENERATE_GOLDEN") == "1"
FORMATS = {"text": "txt", "json": "json", "markdown": "md", "html": "html"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """examples/ copied under a fixed relative name, classified once, so reports name stable
    paths."""
    root = tmp_path_factory.mktemp("golden")
    shutil.copytree(EXAMPLES, root / "examples", ignore=shutil.ignore_patterns("*.reclassified.*"))
    invoke_assert_code(
        OK,
        "classify",
        "examples/contacts.csv",
        "--deals",
        "examples/deals.csv",
        "--consent",
        "examples/consent.csv",
        "-q",
        cwd=root,
    )
    return root


COMMANDS = {
    "classify": [
        "classify",
        "examples/contacts.csv",
        "--deals",
        "examples/deals.csv",
        "--consent",
        "examples/consent.csv",
        "--check",
    ],
    "diff": [
        "diff",
        "examples/contacts.csv",
        "examples/contacts.reclassified.csv",
        "--columns",
        "Lead Status",
    ],
}


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), (
        f"golden file {path} is missing; create it with LIFECYCLE_REGENERATE_GOLDEN=1 and review it"
    )
    assert actual == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file (regenerate on purpose only)"
    )


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_golden_reports(workdir: Path, command: str, fmt: str) -> None:
    args = COMMANDS[command]
    if command == "classify":
        # --check writes nothing, not even a report: the report is the one printed (text on stderr).
        printed = run_cli(*args, "--format", fmt, cwd=workdir)
        assert printed.code == 1, printed.stderr
        shown = printed.stderr if fmt == "text" else printed.stdout
        check_golden(f"{command}.{FORMATS[fmt]}", shown)
        return
    report = workdir / f"report.{FORMATS[fmt]}"
    run = run_cli(*args, "--report", report.name, "-q", cwd=workdir)
    assert run.code == 0, run.stderr
    check_golden(f"{command}.{FORMATS[fmt]}", report.read_text(encoding="utf-8"))
    if fmt != "text":
        # --format prints the same text the --report file holds.
        printed = run_cli(*args, "--format", fmt, cwd=workdir)
        assert printed.stdout == report.read_text(encoding="utf-8")


def test_markdown_is_a_ci_summary(workdir: Path) -> None:
    md = run_cli(*COMMANDS["diff"], "--format", "markdown", cwd=workdir).stdout
    assert md.startswith(
        "## lifecycle diff: examples/contacts.csv → examples/contacts.reclassified.csv"
    )
    assert "### ▼ Demotions" in md and "| Marketing Lead | Lead | 4 |" in md


def test_html_is_self_contained(workdir: Path) -> None:
    page = run_cli(*COMMANDS["diff"], "--format", "html", cwd=workdir).stdout
    assert page.startswith("<!doctype html>")
    # No network: no external scripts, styles, fonts or images.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    # One small inline script (the change table's filters), never one from elsewhere.
    assert page.count("<script") <= 2 and not re.search(r"<script[^>]*\bsrc", page)
    assert "@import" not in page and "url(" not in page
    assert "<svg" in page and "▼ down" in page


def test_html_report_renders_in_headless_chromium(workdir: Path, tmp_path: Path) -> None:
    page = workdir / "report.html"
    invoke_assert_code(OK, *COMMANDS["diff"], "--report", page.name, "-q", cwd=workdir)
    flags = chromium(tmp_path / "profile", "--enable-logging=stderr", "--v=0")
    dom = subprocess.run(
        flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "38 of 52 records in both files changed stage" in dom.stdout
    assert "Changes by transition" in dom.stdout
    console_errors = [
        line
        for line in dom.stderr.splitlines()
        if "CONSOLE" in line and ("ERROR" in line or "Uncaught" in line)
    ]
    assert console_errors == []
    shot = (
        GOLDEN.parent / "screenshots" / "diff-report.png"
        if REGENERATE
        else tmp_path / "diff-report.png"
    )
    shot.parent.mkdir(exist_ok=True)
    done = subprocess.run(
        flags
        + [f"--screenshot={shot}", "--window-size=1200,1800", "--hide-scrollbars", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

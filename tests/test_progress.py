"""The progress line: on a terminal only, never with -q, never in logs. Issue 13."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path


def run_on_terminal(args: list[str], cwd: Path, env: dict | None = None) -> tuple[int, str]:
    """Run lifecycle with stderr (and stdin) on a pseudo-terminal, stdout on a pipe; what the
    terminal showed."""
    master, slave = pty.openpty()
    full_env = {**os.environ, "COLUMNS": "150", "LIFECYCLE_PROGRESS_DELAY": "0", **(env or {})}
    full_env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifecycle_cli", *args],
        cwd=cwd,
        stdin=slave,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=full_env,
    )
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=120), shown.decode("utf-8", "replace")


def test_a_terminal_sees_each_step(examples: Path) -> None:
    code, shown = run_on_terminal(
        ["classify", "contacts.csv", "--deals", "deals.csv", "--consent", "consent.csv"], examples
    )
    assert code == 0, shown
    steps = (
        "reading the contacts' record ids",
        "working out the deal and consent facts",
        "deciding every contact's stage",
        "summarizing",
        "writing the output",
    )
    seen = [step for step in steps if f"lifecycle classify: {step}" in shown]
    assert seen, shown[-2000:]  # the examples are quick: at least one step is on screen long enough
    assert "52 rows" in shown and "rows/s" in shown


def test_no_progress_with_quiet_or_off_a_terminal(examples: Path) -> None:
    code, shown = run_on_terminal(["classify", "contacts.csv", "-q"], examples)
    assert code == 0 and "lifecycle classify:" not in shown
    proc = subprocess.run(
        [sys.executable, "-m", "lifecycle_cli", "classify", "contacts.csv"],
        cwd=examples,
        capture_output=True,
        env={**os.environ, "LIFECYCLE_PROGRESS_DELAY": "0"},
        timeout=120,
    )
    assert proc.returncode == 0
    assert b"rows/s" not in proc.stderr and b"\x1b[?25l" not in proc.stderr, "no progress in logs"

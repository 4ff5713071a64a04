"""An input that changes while a run reads it (issue 20, item 1): a sync job writing the export
while cron classifies it. The run reads the contacts several times and lines the passes up row
by row, so it must notice any change and stop (exit 2, nothing written), never write rows with
another contact's stage.

The run is stopped just before it opens the contacts file for the Nth time (faultlib), the file
is changed (rows reversed in place, a reversed copy renamed over it, rows appended), and the run
goes on: every N, 20 trials on 100,000 contacts.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, OK, ROOT, USAGE
from faultlib import compile_shim, count_opens, go_on, snapshot, start_paused, wait_stopped

CHANGED = "contacts.csv changed while it was being read ("
CLASSIFY = ("classify", "contacts.csv", "-o", "out.csv", "-q")


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    return compile_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture(scope="module")
def contacts_100k(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("generated_100k")
    generate = ROOT / "benchmarks" / "generate.py"
    subprocess.run(
        [sys.executable, str(generate), "--contacts", "100000", "--out", str(folder)],
        check=True,
        capture_output=True,
    )
    return folder / "contacts.csv"


@pytest.fixture(scope="module")
def undisturbed(shim: Path, contacts_100k: Path, tmp_path_factory) -> tuple[dict, int]:
    """Record ID -> its output row (without the id), from a run nobody disturbed; and how many
    times such a run opens the contacts file (the header sniffs, the passes)."""
    folder = tmp_path_factory.mktemp("undisturbed")
    os.link(contacts_100k, folder / "contacts.csv")
    opens = count_opens(shim, "contacts.csv", *CLASSIFY, cwd=folder)
    return {row[0]: row[1:] for row in rows(folder / "out.csv")}, opens


def rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))[1:]


def reverse_in_place(path: Path) -> None:
    """Rows in reverse order, written into the same file: same inode, same size."""
    header, *lines = path.read_bytes().splitlines(keepends=True)
    with path.open("r+b") as fh:
        fh.write(header + b"".join(reversed(lines)))


def replace_reversed(path: Path) -> None:
    """A new export renamed over the old one, as sync jobs do: another inode."""
    header, *lines = path.read_bytes().splitlines(keepends=True)
    fresh = path.with_name(".contacts.csv.sync")
    fresh.write_bytes(header + b"".join(reversed(lines)))
    os.replace(fresh, path)


def append_rows(path: Path) -> None:
    """4,000 new contacts added at the end while the run reads (the first ones, with new ids)."""
    header, *lines = path.read_bytes().splitlines(keepends=True)
    with path.open("ab") as fh:
        fh.write(b"".join(b"9" + line for line in lines[:4000]))


CHANGES = {
    "reversed in place": reverse_in_place,
    "replaced": replace_reversed,
    "appended": append_rows,
}


@pytest.mark.parametrize("trial", range(20))
def test_a_changed_input_stops_the_run_or_is_read_whole(
    shim: Path, contacts_100k: Path, undisturbed: tuple, tmp_path: Path, trial: int
) -> None:
    """20 trials: every opening of the file in turn (again from the first when there are fewer
    than 20), each time with the next kind of change."""
    decided, opens = undisturbed
    change, n = list(CHANGES)[trial % len(CHANGES)], trial % opens + 1
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(contacts_100k.read_bytes())
    (tmp_path / "out.csv").write_bytes(b"Record ID\n1\n")  # an earlier run's output
    before = snapshot(tmp_path)
    proc = start_paused(shim, "contacts.csv", n, *CLASSIFY, cwd=tmp_path)
    assert wait_stopped(proc), "the run opened the contacts file less often than an undisturbed one"
    CHANGES[change](contacts)
    changed = before["contacts.csv"] = contacts.read_bytes()
    run = go_on(proc)
    assert "Traceback" not in run.stderr
    assert contacts.read_bytes() == changed, "the input was modified"
    if run.code == USAGE:
        where = f"{change} at opening {n}: {run.stderr}"
        assert run.stderr.startswith(f"lifecycle: error: {CHANGED}"), where
        assert "; nothing was written" in run.stderr, where
        assert snapshot(tmp_path) == before, "nothing is written, and no temp or lock file is left"
        return
    # Changed before the run looked at it (the header sniff of rules discovery): it read one
    # version, whole. Every row has its own contact's decision, in the file's order.
    assert run.code == OK and n == 1, f"{change} at opening {n}: {run.stderr}"
    out = rows(tmp_path / "out.csv")
    assert [r[0] for r in out] == [r[0] for r in rows(contacts)]
    for row in out:
        rid = row[0] if row[0] in decided else row[0][1:]  # appended: "9" + the id it copies
        assert row[1:] == decided[rid], f"row {rid} has another contact's decision"


def test_a_deals_file_replaced_mid_run_stops_it(shim: Path, tmp_path: Path) -> None:
    """Any input, not only the contacts: the deals file renamed over between the facts and the
    output."""
    for name in ("contacts.csv", "deals.csv", "consent.csv"):
        (tmp_path / name).write_bytes((EXAMPLES / name).read_bytes())
    before = snapshot(tmp_path)
    proc = start_paused(
        shim,
        "contacts.csv",
        4,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "--report",
        "r.json",
        "-q",
        cwd=tmp_path,
    )
    assert wait_stopped(proc)
    fresh = tmp_path / "deals.new"
    fresh.write_bytes((EXAMPLES / "deals.csv").read_bytes())
    os.replace(fresh, tmp_path / "deals.csv")
    run = go_on(proc)
    assert run.code == USAGE, run.stderr
    assert run.stderr.startswith(
        "lifecycle: error: deals.csv changed while it was being read "
        "(another file was put in its place); nothing was written"
    )
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "last, said",
    [(1, "; nothing was written"), (0, "; the CSV on stdout is not")],
    ids=["before-the-stream", "during-the-stream"],
)
def test_a_change_around_the_output_to_stdout_stops_it(
    shim: Path, tmp_path: Path, last: int, said: str
) -> None:
    """-o -: what went to stdout cannot be taken back. Every row is read once before the first
    byte goes out (the last opening but one) and the inputs are checked then; a change while
    the rows stream out (the last opening) is found after the last byte: the output is
    disowned, exit 2."""
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes((EXAMPLES / "contacts.csv").read_bytes())
    args = ("classify", "contacts.csv", "-o", "-", "-q")
    n = count_opens(shim, "contacts.csv", *args, cwd=tmp_path) - last
    proc = start_paused(shim, "contacts.csv", n, *args, cwd=tmp_path)
    assert wait_stopped(proc)
    reverse_in_place(contacts)
    run = go_on(proc)
    assert run.code == USAGE, run.stderr
    assert run.stderr.startswith(f"lifecycle: error: {CHANGED}") and said in run.stderr
    if last:
        assert run.stdout == ""

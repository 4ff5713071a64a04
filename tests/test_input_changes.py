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

from conftest import EXAMPLES, OK, ROOT, USAGE, run_cli
from faultlib import compile_shim, go_on, snapshot, start_paused, wait_stopped

CHANGED = "contacts.csv changed while it was being read ("
#: How many times a contacts-only classify opens the contacts file (the header sniff, the passes).
OPENS = 10


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    return compile_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture(scope="module")
def contacts_100k(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("generated_100k")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--contacts", "100000", "--out",
                    str(folder)], check=True, capture_output=True)
    return folder / "contacts.csv"


@pytest.fixture(scope="module")
def decided(contacts_100k: Path, tmp_path_factory) -> dict[str, list[str]]:
    """Record ID -> its output row (without the id), from a run nobody disturbed."""
    folder = tmp_path_factory.mktemp("undisturbed")
    os.link(contacts_100k, folder / "contacts.csv")
    assert run_cli("classify", "contacts.csv", "-o", "out.csv", "-q", cwd=folder).code == OK
    return {row[0]: row[1:] for row in rows(folder / "out.csv")}


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
    """4,000 new contacts added at the end while the run reads (copies of the first ones, new ids)."""
    header, *lines = path.read_bytes().splitlines(keepends=True)
    with path.open("ab") as fh:
        fh.write(b"".join(b"9" + line for line in lines[:4000]))


CHANGES = {"reversed in place": reverse_in_place, "replaced": replace_reversed, "appended": append_rows}
#: 20 trials: every point of the run twice, each time with another kind of change.
TRIALS = [(list(CHANGES)[i % 3], i % OPENS + 1) for i in range(20)]


@pytest.mark.parametrize("change, n", TRIALS, ids=[f"{c.replace(' ', '-')}-at-open-{n}" for c, n in TRIALS])
def test_a_changed_input_stops_the_run_or_is_read_whole(shim: Path, contacts_100k: Path, decided: dict,
                                                        tmp_path: Path, change: str, n: int) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(contacts_100k.read_bytes())
    (tmp_path / "out.csv").write_bytes(b"Record ID\n1\n")  # an earlier run's output
    before = snapshot(tmp_path)
    proc = start_paused(shim, "contacts.csv", n, "classify", "contacts.csv", "-o", "out.csv", "-q", cwd=tmp_path)
    assert wait_stopped(proc), "the run opened the contacts file fewer times than OPENS says"
    CHANGES[change](contacts)
    changed = before["contacts.csv"] = contacts.read_bytes()
    run = go_on(proc)
    assert "Traceback" not in run.stderr
    assert contacts.read_bytes() == changed, "the input was modified"
    if run.code == USAGE:
        assert run.stderr.startswith(f"lifecycle: error: {CHANGED}") and "; nothing was written" in run.stderr
        assert snapshot(tmp_path) == before, "nothing is written, and no temp or lock file is left"
        return
    # Changed before the run looked at it (the header sniff of rules discovery): it read one
    # version, whole. Every row has its own contact's decision, in the file's order.
    assert run.code == OK and n == 1, run.stderr
    out = rows(tmp_path / "out.csv")
    assert [r[0] for r in out] == [r[0] for r in rows(contacts)]
    for row in out:
        rid = row[0] if row[0] in decided else row[0][1:]  # an appended copy: "9" + the id it copies
        assert row[1:] == decided[rid], f"row {rid} has another contact's decision"


def test_a_deals_file_replaced_mid_run_stops_it(shim: Path, tmp_path: Path) -> None:
    """Any input, not only the contacts: the deals file renamed over between the facts and the output."""
    for name in ("contacts.csv", "deals.csv", "consent.csv"):
        (tmp_path / name).write_bytes((EXAMPLES / name).read_bytes())
    before = snapshot(tmp_path)
    proc = start_paused(shim, "contacts.csv", 4, "classify", "contacts.csv", "--deals", "deals.csv",
                        "--consent", "consent.csv", "--report", "r.json", "-q", cwd=tmp_path)
    assert wait_stopped(proc)
    fresh = tmp_path / "deals.new"
    fresh.write_bytes((EXAMPLES / "deals.csv").read_bytes())
    os.replace(fresh, tmp_path / "deals.csv")
    run = go_on(proc)
    assert run.code == USAGE, run.stderr
    assert run.stderr.startswith("lifecycle: error: deals.csv changed while it was being read "
                                 "(another file was put in its place); nothing was written")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("n, said", [(OPENS, "; nothing was written"), (OPENS + 1, "; the CSV on stdout is not")],
                         ids=["before-the-stream", "during-the-stream"])
def test_a_change_around_the_output_to_stdout_stops_it(shim: Path, tmp_path: Path, n: int, said: str) -> None:
    """-o -: what went to stdout cannot be taken back. Every row is read once before the first
    byte goes out (the 10th opening) and the inputs are checked then; a change while the rows
    stream out (the 11th) is found after the last byte: the output is disowned, exit 2."""
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes((EXAMPLES / "contacts.csv").read_bytes())
    proc = start_paused(shim, "contacts.csv", n, "classify", "contacts.csv", "-o", "-", "-q", cwd=tmp_path)
    assert wait_stopped(proc)
    reverse_in_place(contacts)
    run = go_on(proc)
    assert run.code == USAGE, run.stderr
    assert run.stderr.startswith(f"lifecycle: error: {CHANGED}") and said in run.stderr
    if n == OPENS:
        assert run.stdout == ""

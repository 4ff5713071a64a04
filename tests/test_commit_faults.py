"""Fault injection, the way SQLite is tested (issue 20, item 10): the Nth write, fsync, rename, link
or mkdir of a run fails, for every N until the run completes without meeting the fault.

After each run: exit 2 with a clear message naming the file and the system's error (or 0 when the
fault hit nothing that matters), and every target byte for byte as before, or all of them new
and from this run; no temp file, aside copy or lock file left, no input changed. The faults come
from a small LD_PRELOAD library (fault_shim.c, see faultlib.py), compiled here with cc.

The matrix, for a run with every kind of output (-o, two reports, --hubspot-import with
companies, --companies-output) over the targets of an earlier run, and for an --in-place run:
every kind x every N (about 45 runs, 40 s). Over no earlier targets (the first run into a
folder, where an undo removes what the run created) the renames run by default, the rest
is marked slow.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EXAMPLES, OK, USAGE, run_cli
from faultlib import compile_shim, snapshot

KINDS = ("write", "fsync", "rename", "link", "mkdir")
INPUTS = ("contacts.csv", "deals.csv", "consent.csv", "companies.csv")
#: Every kind of output classify writes, all at once.
EVERY_OUTPUT = (
    "classify",
    "contacts.csv",
    "--deals",
    "deals.csv",
    "--consent",
    "consent.csv",
    "--companies",
    "companies.csv",
    "--companies-output",
    "companies.out.csv",
    "-o",
    "contacts.out.csv",
    "--report",
    "report.html",
    "--report",
    "report.json",
    "--hubspot-import",
    "hs",
    "-q",
)
IN_PLACE = (
    "classify",
    "contacts.csv",
    "--deals",
    "deals.csv",
    "--consent",
    "consent.csv",
    "--in-place",
    "-q",
)
#: The system's words for EIO, which every injected fault fails with.
EIO = "Input/output error"


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    return compile_shim(tmp_path_factory.mktemp("shim"))


@dataclass
class Scenario:
    template: Path  #: the folder as the run finds it
    args: tuple[str, ...]
    before: dict[str, bytes | None]
    after: dict[str, bytes | None]  #: the folder after the run, undisturbed


def scenario(folder: Path, args: tuple[str, ...], *, earlier: bool) -> Scenario:
    folder.mkdir(parents=True)
    for name in INPUTS:
        shutil.copyfile(EXAMPLES / name, folder / name)
    if earlier:
        earlier_run(folder, args)
    complete = folder.with_name(folder.name + "-complete")
    shutil.copytree(folder, complete)
    assert run_cli(*args, cwd=complete).code == OK
    found = Scenario(folder, args, snapshot(folder), snapshot(complete))
    targets = [
        name
        for name, data in found.after.items()
        if data is not None and Path(name).name not in INPUTS
    ]
    assert [name for name in targets if found.after[name] == found.before.get(name)] == [], (
        "every target must change, to tell old from new"
    )
    return found


def earlier_run(folder: Path, args: tuple[str, ...]) -> None:
    """The targets as an earlier run left them, from last week's exports: some stages were other
    ones then, so every target differs from what this run writes."""
    today = {name: (folder / name).read_bytes() for name in ("contacts.csv", "companies.csv")}
    (folder / "contacts.csv").write_bytes(
        today["contacts.csv"]
        .replace(b",Lead,", b",opportunity,")
        .replace(b",lead,", b",subscriber,")
    )
    (folder / "companies.csv").write_bytes(
        b"\n".join(
            line.replace(b",Customer,", b",Lead,")
            if line.startswith(b"20456781002,")
            else line.replace(b",opportunity,", b",Lead,")
            if line.startswith(b"20456781006,")
            else line
            for line in today["companies.csv"].split(b"\n")
        )
    )
    assert run_cli(*args, cwd=folder).code == OK
    for name, data in today.items():
        (folder / name).write_bytes(data)


def sweep(shim: Path, case: Scenario, kind: str, scratch: Path) -> list[int]:
    """Run the scenario once per N with the Nth call of `kind` failing, on a fresh copy of its
    folder, until a run completes without meeting the fault; check every run. Returns the exit
    codes."""
    names = {Path(name).name for name in case.after}
    codes = []
    for n in range(1, 1000):
        work, log = scratch / f"{kind}-{n}", scratch / f"{kind}-{n}.log"
        shutil.copytree(case.template, work)
        run = run_cli(
            *case.args,
            cwd=work,
            env={
                "LD_PRELOAD": str(shim),
                "LC_FAULT_CALL": kind,
                "LC_FAULT_N": str(n),
                "LC_FAULT_LOG": str(log),
                "PYTHONDONTWRITEBYTECODE": "1",
            },
        )
        state = snapshot(work)
        where = f"{kind} #{n}: exit {run.code}\n{run.stderr[-2000:]}"
        assert "Traceback" not in run.stderr, where
        if not log.exists():  # the run had fewer such calls: it completed, untouched
            assert run.code == OK and state == case.after, where
            return codes
        codes.append(run.code)
        if run.code == OK:
            assert state == case.after, where
        else:
            assert run.code == USAGE and run.stderr.startswith("lifecycle: error: "), where
            assert EIO in run.stderr, where
            named = run.stderr.removeprefix("lifecycle: error: ").split(":", 1)[0]
            assert Path(named).name in names | {work.name}, f"{where}\nit names no file of the run"
            changed = sorted(
                k for k in state.keys() | case.before.keys() if state.get(k) != case.before.get(k)
            )
            assert state == case.before, f"{where}\nchanged: {changed}"
        shutil.rmtree(work)
    raise AssertionError(f"{kind}: the run never completed")


@pytest.fixture(scope="module")
def every_output(tmp_path_factory) -> Scenario:
    """The exports and, beside them, every target an earlier run wrote."""
    return scenario(tmp_path_factory.mktemp("every-output") / "run", EVERY_OUTPUT, earlier=True)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Scenario:
    """The exports alone: the run creates every target (and the import folder)."""
    return scenario(tmp_path_factory.mktemp("first-run") / "run", EVERY_OUTPUT, earlier=False)


@pytest.fixture(scope="module")
def in_place(tmp_path_factory) -> Scenario:
    return scenario(tmp_path_factory.mktemp("in-place") / "run", IN_PLACE, earlier=False)


@pytest.mark.parametrize("kind", KINDS)
def test_every_output_is_all_new_or_all_as_before(
    shim: Path, every_output: Scenario, kind: str, tmp_path: Path
) -> None:
    codes = sweep(shim, every_output, kind, tmp_path)
    assert codes, f"the run made no {kind} call: nothing was tested"


@pytest.mark.parametrize("kind", ["write", "fsync", "link", "rename"])
def test_in_place_is_all_new_or_all_as_before(
    shim: Path, in_place: Scenario, kind: str, tmp_path: Path
) -> None:
    """The contacts file and its new backup: both new, or the contacts as they were and no
    backup."""
    codes = sweep(shim, in_place, kind, tmp_path)
    assert codes, f"the run made no {kind} call: nothing was tested"


@pytest.mark.parametrize(
    "kind", [k if k == "rename" else pytest.param(k, marks=pytest.mark.slow) for k in KINDS]
)
def test_a_first_run_creates_everything_or_nothing(
    shim: Path, first_run: Scenario, kind: str, tmp_path: Path
) -> None:
    """No earlier targets: a failed run leaves no file and no import folder behind."""
    sweep(shim, first_run, kind, tmp_path)


@pytest.mark.parametrize(
    "code, kind, n",
    [
        ("EXDEV", "rename", 1),
        ("EROFS", "rename", 6),
        ("EDQUOT", "link", 1),
        ("ENOENT", "rename", 6),
        ("ENOSPC", "rename", 1),
    ],
    ids=[
        "EXDEV-first-file",
        "EROFS-import-folder",
        "EDQUOT-keeping-aside",
        "ENOENT-import-folder",
        "ENOSPC-first-file",
    ],
)
def test_whatever_the_system_says_it_is_exit_2_and_nothing_changes(
    shim: Path, every_output: Scenario, tmp_path: Path, code: str, kind: str, n: int
) -> None:
    """The errors the review injected with strace, at the first file's rename, the import
    folder's (the 6th rename: four files, the old folder aside, the new one in) and the first
    keeping aside: each named in words, every target as it was."""
    work = tmp_path / "run"
    shutil.copytree(every_output.template, work)
    run = run_cli(
        *every_output.args,
        cwd=work,
        env={
            "LD_PRELOAD": str(shim),
            "LC_FAULT_CALL": kind,
            "LC_FAULT_N": str(n),
            "LC_FAULT_ERRNO": str(getattr(errno, code)),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )
    assert run.code == USAGE, run.stderr
    assert run.stderr.startswith("lifecycle: error: ")
    assert os.strerror(getattr(errno, code)) in run.stderr
    assert "every output was left as it was" in run.stderr
    assert snapshot(work) == every_output.before


def test_a_file_system_without_hard_links_still_commits(
    shim: Path, every_output: Scenario, tmp_path: Path
) -> None:
    """EPERM from link (vfat, some network shares): the old file is renamed aside instead."""
    work = tmp_path / "run"
    shutil.copytree(every_output.template, work)
    run = run_cli(
        *every_output.args,
        cwd=work,
        env={
            "LD_PRELOAD": str(shim),
            "LC_FAULT_CALL": "link",
            "LC_FAULT_N": "2",
            "LC_FAULT_ERRNO": str(errno.EPERM),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )
    assert run.code == OK, run.stderr
    assert snapshot(work) == every_output.after

"""One run at a time per target (issue 20, item 3): a second run into the same output file, report
or HubSpot import folder stops at once (exit 2) naming the target, or waits with --wait; two
runs started together never mix their files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES, OK, USAGE, run_cli
from faultlib import (
    compile_shim,
    counting,
    environment,
    finish,
    go_on,
    snapshot,
    start,
    start_paused,
    wait_stopped,
)

BUSY = "another lifecycle run is writing the"


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    return compile_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Two versions of the contacts export, a.csv and b.csv, whose outputs differ everywhere."""
    folder = tmp_path_factory.mktemp("template")
    a = (EXAMPLES / "contacts.csv").read_bytes()
    (folder / "a.csv").write_bytes(a)
    (folder / "b.csv").write_bytes(
        a.replace(b",Lead,", b",opportunity,").replace(b",lead,", b",subscriber,")
    )
    (folder / "deals.csv").write_bytes((EXAMPLES / "deals.csv").read_bytes())
    return folder


@pytest.fixture
def folder(template: Path, tmp_path: Path) -> Path:
    for path in template.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    return tmp_path


@pytest.fixture(scope="module")
def expected(template: Path, tmp_path_factory) -> dict[str, dict[str, bytes | None]]:
    """What a run on a.csv, and one on b.csv, write when each runs alone."""
    found = {}
    for contacts in ("a.csv", "b.csv"):
        alone = tmp_path_factory.mktemp("alone")
        for path in template.iterdir():
            (alone / path.name).write_bytes(path.read_bytes())
        assert run_cli(*classify(contacts), cwd=alone).code == OK
        found[contacts] = outputs(alone)
    assert found["a.csv"].keys() == found["b.csv"].keys()
    assert all(
        found["a.csv"][k] != found["b.csv"][k]
        for k in found["a.csv"]
        if found["a.csv"][k] is not None
    )
    return found


def classify(contacts: str, *more: str) -> tuple[str, ...]:
    return (
        "classify",
        contacts,
        "--deals",
        "deals.csv",
        "-o",
        "out.csv",
        "--report",
        "report.json",
        "--hubspot-import",
        "hs",
        "-q",
        *more,
    )


def outputs(folder: Path) -> dict[str, bytes | None]:
    """The run's targets as they are: out.csv, report.json, the import folder (and anything
    left behind)."""
    inputs = {"a.csv", "b.csv", "deals.csv"}
    return {name: data for name, data in snapshot(folder).items() if name not in inputs}


def paused_holding_the_locks(shim: Path, folder: Path, contacts: str = "a.csv"):
    """Run A, stopped once it holds its locks: at its second opening of the contacts file (the
    first is the rules discovery's look at the header, before the locks)."""
    proc = start_paused(shim, contacts, 2, *classify(contacts), cwd=folder)
    assert wait_stopped(proc)
    return proc


@pytest.mark.parametrize(
    "option, target, what",
    [
        (("-o", "out.csv"), "out.csv", "reclassified contacts"),
        (("--report", "report.json"), "report.json", "report"),
        (("--hubspot-import", "hs"), "hs", "HubSpot import folder"),
    ],
)
def test_a_second_run_stops_at_once_naming_the_target(
    shim: Path, folder: Path, option, target: str, what: str
) -> None:
    first = paused_holding_the_locks(shim, folder)
    args = ("classify", "b.csv", "-q", "-o", "other.csv", *option)
    second, tries = counting(shim, f".{target}.lock", *args, cwd=folder)
    assert tries == 1, "without --wait the busy lock is tried once, not waited for"
    assert second.code == USAGE, second.stderr
    assert second.stderr.startswith(f"lifecycle: error: {target}: {BUSY} {what} (it holds ")
    assert "nothing was written" in second.stderr and "--wait" in second.stderr
    assert not (folder / "other.csv").exists()
    assert go_on(first).code == OK
    assert not [p.name for p in folder.iterdir() if p.name.endswith((".lock", ".tmp"))]


def test_the_same_target_spelled_another_way_is_the_same_lock(shim: Path, folder: Path) -> None:
    (folder / "sub").mkdir()
    first = paused_holding_the_locks(shim, folder)
    second = run_cli(
        "classify", "b.csv", "-q", "-o", str(folder / "sub" / ".." / "out.csv"), cwd=folder
    )
    assert second.code == USAGE and BUSY in second.stderr, second.stderr
    assert go_on(first).code == OK


def test_wait_waits_for_the_other_run_then_writes(shim: Path, folder: Path, expected: dict) -> None:
    first = paused_holding_the_locks(shim, folder)
    # Stopped at its second try of the lock: it was refused once, and is waiting.
    second = start(
        *classify("b.csv", "--wait", "120"),
        cwd=folder,
        env=environment(LD_PRELOAD=str(shim), LC_PAUSE_NAME=".hs.lock", LC_PAUSE_N="2"),
    )
    assert wait_stopped(second), "the second run never tried the lock twice"
    assert go_on(first).code == OK
    done = go_on(second)
    assert done.code == OK, done.stderr
    assert outputs(folder) == expected["b.csv"], "the later run's files, all of them"


def test_wait_gives_up_after_its_seconds(shim: Path, folder: Path) -> None:
    first = paused_holding_the_locks(shim, folder)
    # .hs.lock is the first lock taken (they are taken in order of name), the one it waits on.
    second, tries = counting(shim, ".hs.lock", *classify("b.csv", "--wait", "0.5"), cwd=folder)
    assert tries > 1, "it tried the lock again while it waited"
    assert second.code == USAGE, second.stderr
    assert "and still was after --wait 0.5 seconds" in second.stderr
    assert go_on(first).code == OK


def test_a_lock_file_left_by_a_killed_run_does_not_stop_the_next(folder: Path) -> None:
    """flock goes with the process: a lock file nobody holds (SIGKILL) is taken over and removed."""
    (folder / ".out.csv.lock").write_bytes(b"")
    assert run_cli(*classify("a.csv"), cwd=folder).code == OK
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".lock")]


def test_wait_must_not_be_negative(folder: Path) -> None:
    run = run_cli(*classify("a.csv", "--wait", "-1"), cwd=folder)
    assert run.code == USAGE and "--wait" in run.stderr


@pytest.mark.parametrize("trial", range(20))
def test_two_runs_into_one_folder_never_mix_their_files(
    folder: Path, trial: int, expected: dict
) -> None:
    """Started together, as two cron jobs would: each ends 0 or 2 (the other run was writing),
    and the output file, the report and the import folder are all from one of them."""
    order = ("a.csv", "b.csv") if trial % 2 else ("b.csv", "a.csv")
    runs = [start(*classify(name), cwd=folder) for name in order]
    done = [finish(proc) for proc in runs]
    for run in done:
        assert run.code in (OK, USAGE) and "Traceback" not in run.stderr, run.stderr
        assert run.code == OK or BUSY in run.stderr, run.stderr
    assert OK in [run.code for run in done]
    assert outputs(folder) in (expected["a.csv"], expected["b.csv"])

"""Faults while writing: Ctrl-C, SIGKILL, a full disk, in-place runs. Nothing half-written, no
input changed."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    CONTACT_HEADERS,
    OK,
    ROOT,
    USAGE,
    invoke_assert_code,
    read_csv,
    run_cli,
    write_csv,
)
from faultlib import compile_shim, counting, interrupt, pausing, temp_of, wait_stopped

PREVIOUS = b"Record ID,Lifecycle Stage\n1,lead\n"  # what the target held before the run


@pytest.fixture(scope="module")
def big(generated_200k: Path) -> Path:
    """~45 MB of generated contacts: big enough that writing the output takes a moment."""
    return generated_200k / "contacts.csv"


def start(
    big: Path, target: Path | None, *options: str, env: dict | None = None, **kwargs
) -> subprocess.Popen:
    """`lifecycle classify BIG -o TARGET -q` (or with `options` instead of `-o TARGET`), in a
    subprocess."""
    where = ("-o", str(target)) if target is not None else ()
    return subprocess.Popen(
        [sys.executable, "-m", "lifecycle_cli", "classify", str(big), *where, *options, "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env or {**os.environ, "NO_COLOR": "1"},
        cwd=ROOT,
        **kwargs,
    )


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    return compile_shim(tmp_path_factory.mktemp("shim"))


def temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def paused_writing(
    shim: Path, big: Path, target: Path, call: str = "write", n: int = 1, *options: str
) -> subprocess.Popen:
    """A run stopped just before its `n`th `call` (write, fsync, rename) of `target`'s temp file;
    with `options`, `target` names the file the run writes in place (it is not given as -o)."""
    where = None if options else target
    proc = start(big, where, *options, env=pausing(shim, temp_of(target), n, call))
    assert wait_stopped(proc), f"the run never made {call} {n} of the temp file of {target.name}"
    assert temps(target.parent), "stopped in the middle of writing the temp file"
    return proc


@pytest.mark.parametrize(
    "sig",
    [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
    ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"],
)
def test_signal_during_write_leaves_the_previous_file(
    shim: Path, big: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(PREVIOUS)
    before = big.read_bytes()
    proc = paused_writing(shim, big, target)
    done = interrupt(proc, sig)
    err = done.stderr
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], (
            "Ctrl-C must remove the temp file"
        )
    elif sig in (signal.SIGTERM, signal.SIGHUP):
        # cron's and CI's timeouts send SIGTERM, a closed terminal SIGHUP: the same cleanup as
        # Ctrl-C.
        assert proc.returncode == 128 + sig, err
        assert f"stopped by {signal.Signals(sig).name}; no output file was changed" in err
        assert "Traceback" not in err
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], (
            "the temp file must be removed"
        )
    else:
        assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == PREVIOUS, (
        "the target is the previous file or the complete new one, never half"
    )
    assert big.read_bytes() == before


@pytest.fixture(scope="module")
def complete(shim: Path, big: Path, tmp_path_factory) -> tuple[bytes, int]:
    """The output of an uninterrupted run, to tell a complete file from a half-written one, and
    how many writes its temp file took."""
    folder = tmp_path_factory.mktemp("complete")
    target = folder / "out.csv"
    args = ("classify", big, "-o", target, "-q")
    run, writes = counting(shim, temp_of(target), *args, cwd=ROOT, call="write")
    assert run.code == OK, run.stderr
    assert writes > 2, "the output is written in several blocks: a first, middle and last one"
    return target.read_bytes(), writes


@pytest.mark.parametrize(
    "call, which, presses",
    [
        ("write", "first", 2),
        ("write", "middle", 1),
        ("write", "last", 1),
        ("fsync", "first", 2),
        ("rename", "first", 1),
    ],
    ids=["twice-at-first-write", "middle-write", "last-write", "twice-at-sync", "at-commit"],
)
def test_ctrl_c_at_any_moment_leaves_a_complete_file_or_the_previous_one(
    shim: Path,
    big: Path,
    complete: tuple[bytes, int],
    tmp_path: Path,
    call: str,
    which: str,
    presses: int,
) -> None:
    """Ctrl-C pressed once or twice, early in the write, late in it, at the sync, or at the
    rename that commits the new file."""
    complete_file, writes = complete
    target = tmp_path / "out.csv"
    target.write_bytes(PREVIOUS)
    n = {"first": 1, "middle": writes // 2, "last": writes}[which]
    proc = paused_writing(shim, big, target, call, n)
    done = interrupt(proc, signal.SIGINT, presses)
    err = done.stderr
    assert not temps(tmp_path), err
    assert target.read_bytes() in (PREVIOUS, complete_file), (
        "the target is the previous file or the complete new one"
    )
    assert "Traceback" not in err
    if proc.returncode == 130:
        said = err
        if target.read_bytes() == PREVIOUS:
            assert "interrupted; no output file was changed" in said
        else:
            assert f"interrupted after writing {target} (complete)" in said
    else:
        # The run had finished, or Python was already shutting down (killed by SIGINT).
        assert proc.returncode in (OK, -signal.SIGINT), err


def test_ctrl_c_during_in_place_changes_nothing(shim: Path, big: Path, tmp_path: Path) -> None:
    """--in-place stages the .bak and the new contacts together: Ctrl-C during the main write leaves
    the contacts file as it was and no backup, no temp file (all outputs or none)."""
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(big.read_bytes())
    original = contacts.read_bytes()
    proc = paused_writing(shim, contacts, contacts, "write", 1, "--in-place")
    done = interrupt(proc)
    assert done.code == 130, done.stderr
    assert "interrupted; no output file was changed" in done.stderr
    assert contacts.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.csv"]


def test_full_disk_is_a_clear_error_and_leaves_nothing(big: Path, tmp_path: Path) -> None:
    """A size-limited file (RLIMIT_FSIZE) stands in for a full disk: the write fails with EFBIG."""
    target = tmp_path / "out.csv"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    proc = start(big, target, preexec_fn=limit)
    _, err = proc.communicate(timeout=300)
    message = err.decode()
    assert proc.returncode == USAGE, message
    assert f"lifecycle: error: {target}: cannot write" in message and "Traceback" not in message
    assert list(tmp_path.iterdir()) == []


def test_output_inside_a_file_path_is_refused(tmp_path: Path) -> None:
    contacts = write_csv(
        tmp_path / "c.csv", CONTACT_HEADERS, [{"Record ID": "1", "Lifecycle Stage": "lead"}]
    )
    run = invoke_assert_code(USAGE, "classify", contacts, "-o", contacts / "out.csv")
    assert "does not exist" in run.stderr


def test_in_place_keeps_a_backup(tmp_path: Path) -> None:
    rows = [
        {"Record ID": "1", "Lifecycle Stage": "lead", "Lead Status": "Connected"},
        {"Record ID": "2", "Lifecycle Stage": "SQL"},
    ]
    contacts = write_csv(tmp_path / "c.csv", CONTACT_HEADERS, rows)
    original = contacts.read_bytes()
    invoke_assert_code(OK, "classify", contacts, "--in-place", "-q")
    assert (tmp_path / "c.csv.bak").read_bytes() == original
    out = read_csv(contacts)
    # A changed stage is written the way the file already spells that stage.
    assert [(r["Lifecycle Stage"], r["Previous Lifecycle Stage"]) for r in out] == [
        ("SQL", "lead"),
        ("lead", "SQL"),
    ]
    invoke_assert_code(USAGE, "classify", contacts, "--in-place", "-o", tmp_path / "x.csv")


def test_on_duplicate_keep_first(tmp_path: Path) -> None:
    rows = [
        {"Record ID": "1", "Lifecycle Stage": "lead", "First Name": "first"},
        {"Record ID": "2", "Lifecycle Stage": "lead"},
        {"Record ID": "1", "Lifecycle Stage": "customer", "First Name": "second"},
    ]
    contacts = write_csv(tmp_path / "c.csv", CONTACT_HEADERS, rows)
    refused = invoke_assert_code(USAGE, "classify", contacts)
    assert "keep-first" in refused.stderr
    run = invoke_assert_code(OK, "classify", contacts, "--on-duplicate", "keep-first", "-q")
    assert "left out 1 row whose Record ID appeared earlier" in run.stderr and "row 4" in run.stderr
    out = read_csv(tmp_path / "c.reclassified.csv")
    assert [(r["Record ID"], r["First Name"]) for r in out] == [("1", "first"), ("2", "")]


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 64 KiB tmpfs: a real full disk (needs root, as CI has; skipped elsewhere)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_real_full_disk(big: Path, tiny_disk: Path) -> None:
    target = tiny_disk / "out.csv"
    proc = start(big, target)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == USAGE, err.decode()
    assert "No space left on device" in err.decode() and b"Traceback" not in err
    assert list(tiny_disk.iterdir()) == []


def test_read_only_folder(tiny_disk: Path, tmp_path: Path) -> None:
    contacts = write_csv(
        tmp_path / "c.csv", CONTACT_HEADERS, [{"Record ID": "1", "Lifecycle Stage": "lead"}]
    )
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    run = invoke_assert_code(USAGE, "classify", contacts, "-o", tiny_disk / "out.csv")
    assert "Read-only file system" in run.stderr


def test_errors_never_show_personal_data_even_with_debug(tmp_path: Path) -> None:
    """Messages name rows, columns and counts; names and emails never appear, traces carry no
    locals."""
    secret = {
        "First Name": "Zebulon",
        "Last Name": "Quixote-Secret",
        "Email": "zebulon.private@secret.example",
    }
    rows = [
        {
            "Record ID": "11",
            "Lifecycle Stage": "lead",
            "Unsubscribed from all email": "kinda",
            **secret,
        },
        {"Record ID": "11", "Lifecycle Stage": "VIP", **secret},
        {
            "Record ID": "12",
            "Lifecycle Stage": "lead",
            "Opted out of email: Marketing Information": "nah",
            **secret,
        },
    ]
    contacts = write_csv(tmp_path / "c.csv", CONTACT_HEADERS, rows)
    plain = invoke_assert_code(USAGE, "classify", contacts)
    debug = run_cli("classify", contacts, "--debug")
    assert debug.code == USAGE and "Traceback" in debug.stderr
    for run in (plain, debug):
        assert "rows 2 and 3 have the same id" in run.stderr and "'VIP'" in run.stderr
        assert "column 'Unsubscribed from all email'" in run.stderr and "kinda" not in run.stderr
        for value in secret.values():
            assert value not in run.stderr

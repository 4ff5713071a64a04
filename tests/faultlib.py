"""Helpers for the tests that make a run's system calls fail or stop it at a chosen point.

fault_shim.c (beside this file) is an LD_PRELOAD library: it makes the Nth write, fsync, rename,
link or mkdir fail, or stops the process (SIGSTOP) just before it opens a given file for the
Nth time (or writes, syncs or renames it for the Nth time). A test waits for that stop, changes
the world (replaces an input, starts a second run, sends Ctrl-C) and lets the run go on with
SIGCONT: synchronised on a signal, never on a sleep.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, Run, missing_tool

SHIM = Path(__file__).with_name("fault_shim.c")


def compile_shim(folder: Path) -> Path:
    """fault_shim.c compiled with the system's C compiler into `folder`."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        missing_tool("a C compiler (cc)", "gcc libc6-dev", "the fault injection tests")
    library = folder / "fault_shim.so"
    done = subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", "-Wall", "-o", str(library), str(SHIM), "-ldl"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:  # most often the C library's headers are missing
        pytest.fail(
            f"cannot compile {SHIM.name} (apt-get install gcc libc6-dev):\n{done.stderr[-2000:]}",
            pytrace=False,
        )
    return library


def environment(**extra: str) -> dict[str, str]:
    """The environment `conftest.run_cli` gives a run, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_RULES"}
    env.update(
        {
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "SOURCE_DATE_EPOCH": "1767225600",
            "PYTHONDONTWRITEBYTECODE": "1",
            **extra,
        }
    )
    return env


def start(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m lifecycle_cli ARGS` started in the background, as `run_cli` runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "lifecycle_cli", *map(str, args)],
        cwd=cwd or ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env or environment(),
    )


def pausing(shim: Path, name: str, n: int, call: str = "open", **extra: str) -> dict[str, str]:
    """The environment of a run that stops itself just before its `n`th `call` (open, write,
    fsync, rename) of the file `name` (an fnmatch pattern: temp files have random names)."""
    return environment(
        LD_PRELOAD=str(shim), LC_PAUSE_NAME=name, LC_PAUSE_N=str(n), LC_PAUSE_CALL=call, **extra
    )


def start_paused(
    shim: Path, name: str, n: int, *args: str | Path, cwd: Path, call: str = "open"
) -> subprocess.Popen:
    """Start a run that stops itself just before it opens (or `call`s) the file `name` for the
    `n`th time."""
    return start(*args, cwd=cwd, env=pausing(shim, name, n, call))


def counting(
    shim: Path, name: str, *args: str | Path, cwd: Path, call: str = "open"
) -> tuple[Run, int]:
    """A run of `args`, undisturbed to its end, and how many times it opened (or `call`ed) the
    file `name`."""
    fd, log = tempfile.mkstemp(prefix="lifecycle-calls-", suffix=".log")
    os.close(fd)
    try:
        proc = start(*args, cwd=cwd, env=pausing(shim, name, 0, call, LC_FAULT_LOG=log))
        run = finish(proc)
        return run, len(Path(log).read_text().splitlines())
    finally:
        os.unlink(log)


def count_opens(shim: Path, name: str, *args: str | Path, cwd: Path, call: str = "open") -> int:
    """How many times a successful run of `args` opens (or `call`s) the file `name`."""
    run, count = counting(shim, name, *args, cwd=cwd, call=call)
    assert run.code == 0, run.stderr
    return count


def temp_of(target: Path) -> str:
    """The name (a pattern) of the temp file a run writes `target` through: `.NAME.TAG.RANDOM.tmp`,
    TAG 8 hex digits (so `.c.csv.bak.TAG...` is not the temp file of `c.csv`)."""
    return f".{target.name}.{'[0-9a-f]' * 8}.*.tmp"


def wait_stopped(proc: subprocess.Popen, timeout: float = 120) -> bool:
    """Wait until `proc` stops itself (True) or ends (False: it never opened the file that often).
    The child is left to `proc.communicate()` either way."""
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(int(timeout))
    try:
        found = os.waitid(os.P_PID, proc.pid, os.WSTOPPED | os.WEXITED | os.WNOWAIT)
    finally:
        signal.alarm(0)
    return found is not None and found.si_code == os.CLD_STOPPED


def interrupt(proc: subprocess.Popen, sig: int = signal.SIGINT, presses: int = 1) -> Run:
    """Send a stopped run `sig` (Ctrl-C by default), let it go on, and wait for its end. A second
    press is sent as soon as it runs again, while it handles the first."""
    proc.send_signal(sig)
    if sig != signal.SIGKILL:
        os.kill(proc.pid, signal.SIGCONT)
    for _ in range(presses - 1):
        proc.send_signal(sig)
    return finish(proc, timeout=120)


def go_on(proc: subprocess.Popen) -> Run:
    """Let a stopped run go on, and wait for its end."""
    os.kill(proc.pid, signal.SIGCONT)
    return finish(proc)


def finish(proc: subprocess.Popen, timeout: float = 300) -> Run:
    out, err = proc.communicate(timeout=timeout)
    return Run(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def _timed_out(signum, frame) -> None:
    raise TimeoutError("the run neither stopped nor ended in time")


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under `folder`, hidden ones too, by relative path."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }

"""Helpers for the tests that make a run's system calls fail or stop it at a chosen point.

fault_shim.c (beside this file) is an LD_PRELOAD library: it makes the Nth write, fsync, rename,
link or mkdir fail, or stops the process (SIGSTOP) just before it opens a given file for the
Nth time. A test waits for that stop, changes the world (replaces an input, starts a second
run) and lets the run go on with SIGCONT: synchronised on a signal, never on a sleep.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Run

SHIM = Path(__file__).with_name("fault_shim.c")


def compile_shim(folder: Path) -> Path:
    """fault_shim.c compiled with the system's C compiler into `folder`."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("these tests need a C compiler (cc); .ci/run installs gcc")
    library = folder / "fault_shim.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", "-Wall", "-o", str(library), str(SHIM), "-ldl"],
        check=True,
        capture_output=True,
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


def start_paused(shim: Path, name: str, n: int, *args: str | Path, cwd: Path) -> subprocess.Popen:
    """Start a run that stops itself just before it opens the file `name` for the `n`th time."""
    env = environment(LD_PRELOAD=str(shim), LC_PAUSE_NAME=name, LC_PAUSE_N=str(n))
    return start(*args, cwd=cwd, env=env)


def count_opens(shim: Path, name: str, *args: str | Path, cwd: Path) -> int:
    """How many times a run of `args` opens the file `name` (it runs undisturbed, to its end)."""
    log = cwd / f".opens-{os.getpid()}.log"
    env = environment(
        LD_PRELOAD=str(shim), LC_PAUSE_NAME=name, LC_PAUSE_N="0", LC_FAULT_LOG=str(log)
    )
    proc = start(*args, cwd=cwd, env=env)
    assert finish(proc).code == 0
    lines = log.read_text().splitlines()
    log.unlink()
    return len(lines)


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

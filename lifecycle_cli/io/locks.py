"""One run at a time per target: a lock file beside each file or folder a run writes.

Two runs writing the same files at once (two cron jobs, a cron job and a person) would each
move their outputs into place, and the folder could end with one run's clear file beside the
other's set file. Every target gets `.NAME.lock` beside it, locked with flock(2) from before
the run reads anything until its outputs are in place. The lock goes with the process, so a
killed run never leaves a target locked; the lock file is removed when the run lets go.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock, no locking
    fcntl = None  # type: ignore[assignment]

from ..base.errors import OutputError

#: How often a run given --wait tries again for a lock another run holds (seconds).
POLL = 0.05

#: Every lock this process holds: lock file -> its descriptor (see `release_all`).
HELD: dict[Path, int] = {}


def lock_file(target: str | os.PathLike) -> Path:
    """The lock file of a target: `.NAME.lock` in the target's folder, its path resolved, so two
    spellings of one target (`./out.csv`, `/home/me/out.csv`) share one lock."""
    target = Path(target)
    folder = Path(os.path.realpath(target.parent if target.name else target))
    name = target.name or Path(os.path.realpath(target)).name
    return folder / f".{name}.lock"


def acquire(
    target: str, what: str, *, wait: float | None = None, shown: str | None = None
) -> Path | None:
    """Lock `target` for this run; wait up to `wait` seconds for another run that holds it (None:
    the command cannot wait, its message does not offer --wait). `shown`: the target as the user
    wrote it, for messages. Returns the lock file (None where there is no flock)."""
    if fcntl is None:
        return None
    path = lock_file(target)
    target = shown or target
    if path in HELD:
        return path  # this run's own: a target is written once per run
    deadline = time.monotonic() + (wait or 0)
    while True:
        fd = _open(path, target, what)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            left = deadline - time.monotonic()
            if left <= 0:
                raise _busy(target, what, path, wait) from None
            time.sleep(min(POLL, left))
            continue
        except OSError as exc:
            os.close(fd)
            raise OutputError(
                f"{target}: cannot lock the {what} against other runs ({path}): {exc.strerror}"
            ) from None
        # The run that held it removed the file before letting go: a lock on a removed file locks
        # nothing, so try again on the file now there.
        if _same_file(fd, path):
            HELD[path] = fd
            return path
        os.close(fd)


def release(path: Path | None) -> None:
    """Let go of a lock taken by `acquire`: the file is removed first, while it is still locked."""
    fd = HELD.pop(path, None) if path is not None else None
    if fd is None:
        return
    with contextlib.suppress(OSError):  # left behind, it is harmless: the next run locks it again
        os.unlink(path)
    os.close(fd)


def release_all() -> None:
    """Let go of every lock this process holds (the end of a run, whatever way it ended)."""
    for path in list(HELD):
        release(path)


def _open(path: Path, target: str, what: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise OutputError(
            f"{target}: cannot create the lock file {path} that keeps two runs from "
            f"writing the {what} at once: {exc.strerror}"
        ) from None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _busy(target: str, what: str, path: Path, wait: float | None) -> OutputError:
    waited = f", and still was after --wait {wait:g} seconds" if wait else ""
    return OutputError(
        f"{target}: another lifecycle run is writing the {what} (it holds {path}){waited}; "
        "nothing was written",
        hint="let that run finish first"
        + (", or give --wait SECONDS to wait for it" if wait is not None else ""),
    )

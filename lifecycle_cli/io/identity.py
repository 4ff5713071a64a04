"""What an input file was when the run opened it, to notice that it changed before the run was done.

A sync job may write the export while cron runs `lifecycle classify` on it. The run reads
the contacts several times (ids, decisions, output) and lines the passes up row by row, so
a file that changes between two reads would give rows another contact's stage. Each input's
identity is recorded when it is opened and compared again before every later read and
before the outputs are moved into place: any change stops the run with nothing written.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ..base.errors import InputError


@dataclass(frozen=True)
class FileIdentity:
    """A regular file as `stat` sees it: replaced (device, inode), grown or cut (size),
    rewritten (mtime)."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> FileIdentity | None:
        """The identity of the regular file at `path`; None for anything else (a pipe is read once,
        a missing file is reported where it is opened)."""
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def change(self, path: str | os.PathLike) -> str | None:
        """How the file at `path` differs from this identity, in words; None when it does not."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return "it was removed"
        except (OSError, ValueError) as exc:
            return f"it cannot be looked at any more: {getattr(exc, 'strerror', None) or exc}"
        if (st.st_dev, st.st_ino) != (self.device, self.inode):
            return "another file was put in its place"
        if st.st_size != self.size:
            return f"its size went from {self.size:,} to {st.st_size:,} bytes"
        if st.st_mtime_ns != self.mtime_ns:
            return "it was written to"
        return None


def changed_input(display: str, reason: str, *, after: str = "nothing was written") -> InputError:
    """The error for an input that changed while the run was reading it."""
    return InputError(
        f"{display} changed while it was being read ({reason}); {after}",
        hint="run again once the program writing it (an export or sync job) has finished",
    )

"""The standard streams as a hostile environment may hand them over: closed, full, or in a narrow
encoding."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys

from ..base.errors import InputError, OutputError

_NAMES = {0: "stdin", 1: "stdout", 2: "stderr"}
#: The running command's options that send less to stdout and stderr (-q, --report FILE, -o FILE):
#: set by the command line, so a closed stream's message names only options the command has.
LESS: list[str] = []


class ClosedStream:
    """Stands in for a standard stream whose descriptor was not open (`lifecycle ... >&-`).

    Nothing is lost silently: reading or writing it is a clear error. Its descriptor is held
    by /dev/null meanwhile, so no file this run opens can take the number 0, 1 or 2 and be
    written to by accident.
    """

    encoding = "utf-8"
    errors = "strict"
    closed = False

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.name = _NAMES[fd]

    @property
    def buffer(self) -> ClosedStream:
        return self

    def _fail(self) -> None:
        if self.fd == 0:
            raise InputError(
                "stdin is closed (the shell started lifecycle with <&-): there is nothing to read "
                "for '-'; give the export's path instead"
            )
        less = f", or ask for less ({', '.join(LESS)})" if LESS else ""
        raise OutputError(
            f"{self.name} is closed (the shell started lifecycle with {self.fd}>&-), but this run "
            f"has something to write there; redirect {self.name} to a file or /dev/null "
            f"({self.fd}>/dev/null){less}"
        )

    def write(self, data) -> int:
        if not data:
            return 0
        self._fail()
        return 0

    def read(self, *args) -> bytes:
        self._fail()
        return b""

    readline = read

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, f"{self.name} is closed")

    def close(self) -> None:
        pass


def guard_standard_streams() -> None:
    """Replace every standard stream whose descriptor is not open with a ClosedStream."""
    for fd, attr in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            # Keep the number taken, so a file opened later does not become this stream.
            held = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if held != fd:
                os.dup2(held, fd)
                os.close(held)
        except OSError:
            pass
        setattr(sys, attr, ClosedStream(fd))


def write_data(stream, text: str) -> None:
    """Write a report or query meant for files and programs (JSON, Markdown, HTML, SQL) in UTF-8,
    whatever the terminal's encoding: `PYTHONIOENCODING=latin-1` must not cut a report at the
    first name it cannot encode, and the CSV on stdout is UTF-8 (or the input's encoding)
    already."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text stream without bytes underneath (StringIO)
        stream.write(text)
        stream.flush()
        return
    stream.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()


def tolerant(stream):
    """`stream` for human-readable text (the text report): characters its encoding lacks are shown
    as
    escapes (`\\u2192`), as Python does on stderr, instead of stopping the run."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None and getattr(stream, "errors", "strict") == "strict":
        with contextlib.suppress(ValueError, OSError):
            reconfigure(errors="backslashreplace")
    return stream


def cwd_gone() -> bool:
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def stream_write_failure(exc: OSError) -> str | None:
    """The message for an OSError that escaped a command: writing a standard stream or a vanished
    working directory (file errors are mapped where the files are written); None for anything
    else."""
    if cwd_gone():
        return (
            "the current directory no longer exists (it was deleted or moved while the shell was "
            "in it); "
            "cd to an existing directory, or give every path in full"
        )
    text = str(exc)
    if text.startswith(tuple(f"{name} is closed (" for name in _NAMES.values())):
        return text  # a ClosedStream's error, passed back by Polars as an OSError
    number = exc.errno
    if number is None:  # Polars: "No space left on device (os error 28)"
        found = re.search(r"\(os error (\d+)\)", text)
        number = int(found.group(1)) if found else None
    if exc.filename is None and number in (
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EFBIG,
        errno.EIO,
        errno.EBADF,
    ):
        return (
            f"cannot write to stdout: {os.strerror(number)}; "
            "redirect it to a device or file with room"
        )
    return None

"""Write result files atomically: a temp file beside the target, renamed over it when complete."""

from __future__ import annotations

import errno
import glob
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

import polars as pl

from .errors import OutputError
from .sources import CsvDialect


# The files this run has finished writing, so an interrupted run can say which ones changed.
WRITTEN: list[str] = []


def csv_options(dialect: CsvDialect | None) -> dict:
    d = dialect or CsvDialect()
    return {
        "separator": d.separator,
        "line_terminator": d.line_terminator,
        "include_bom": d.bom,
        "quote_style": "always" if d.quote_all else "necessary",
    }


def write_table(table: pl.LazyFrame, target: str, fmt: str, dialect: CsvDialect | None, *, stdout: BinaryIO | None = None) -> None:
    """Stream `table` as CSV (in the input's dialect) or Parquet to a path, or as CSV to stdout for "-"."""
    if target == "-":
        assert stdout is not None
        try:
            table.sink_csv(stdout, **csv_options(dialect))
            stdout.flush()
        except OSError as exc:
            # Polars reports a closed pipe (`| head`) as a plain OSError.
            if exc.errno == errno.EPIPE or "Broken pipe" in str(exc):
                raise BrokenPipeError(errno.EPIPE, "Broken pipe") from None
            raise
        return
    if fmt == "parquet":
        atomic_write(Path(target), lambda fh: table.sink_parquet(fh))
    else:
        atomic_write(Path(target), lambda fh: table.sink_csv(fh, **csv_options(dialect)))


def write_text(target: str, text: str) -> None:
    atomic_write(Path(target), lambda fh: fh.write(text.encode("utf-8")))


def backup_file(path: str) -> str:
    """Copy `path` to `path.bak` (atomically, keeping its bytes) before it is overwritten."""
    source = Path(path)
    backup = source.with_name(source.name + ".bak")

    def copy(fh: BinaryIO) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, fh, 1 << 20)

    atomic_write(backup, copy)
    return str(backup)


def atomic_write(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Run `write(file)` on a temp file beside `target` and move it over `target` once complete.

    On any failure, Ctrl-C included, the temp file is removed and `target` is left as it was.
    Two details make that hold:
    - The temp file's name starts with a random tag chosen before the file exists, so the
      cleanup finds it even when Ctrl-C lands between its creation and the line that names it.
    - The writer gets an open file, not a path. Polars writes through its own copy of the
      descriptor, so a write still winding down after Ctrl-C cannot create the file again
      once the cleanup has removed it.
    """
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{target}: cannot write: the folder '{directory}' does not exist")
    if target.is_dir():
        raise OutputError(f"{target}: cannot write: it is a folder")
    prefix = f".{target.name}.{secrets.token_hex(4)}."
    try:
        try:
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
        except OSError as exc:
            raise OutputError(f"{target}: cannot write in '{directory}': {exc.strerror}") from None
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
        WRITTEN.append(str(target))
    except BaseException as exc:
        # Polars hands back a Ctrl-C it caught and Python then raises the same Ctrl-C again,
        # at any point of this cleanup, even on entering a function: retry until the temp file is gone.
        while True:
            try:
                _remove_temp(directory, prefix)
                break
            except KeyboardInterrupt:
                continue
        if isinstance(exc, OSError):
            raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
        raise


def _remove_temp(directory: Path, prefix: str) -> None:
    for path in directory.glob(glob.escape(prefix) + "*.tmp"):
        path.unlink(missing_ok=True)

"""Write result files atomically: a temp file beside the target, renamed over it when complete."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Callable

import polars as pl

from .errors import OutputError
from .sources import CsvDialect


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
        atomic_write(Path(target), lambda tmp: table.sink_parquet(tmp))
    else:
        atomic_write(Path(target), lambda tmp: table.sink_csv(tmp, **csv_options(dialect)))


def write_text(target: str, text: str) -> None:
    atomic_write(Path(target), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def backup_file(path: str) -> str:
    """Copy `path` to `path.bak` (atomically, keeping its bytes) before it is overwritten."""
    source = Path(path)
    backup = source.with_name(source.name + ".bak")
    atomic_write(backup, lambda tmp: shutil.copyfile(source, tmp))
    return str(backup)


def atomic_write(target: Path, write: Callable[[str], None]) -> None:
    """Run `write(tmp_path)` and move the finished file over `target`; on any failure remove the temp file."""
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{target}: cannot write: the folder '{directory}' does not exist")
    if target.is_dir():
        raise OutputError(f"{target}: cannot write: it is a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write in '{directory}': {exc.strerror}") from None
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        # A second Ctrl-C can land between any two steps here; retry until the temp file is gone.
        while True:
            try:
                _remove(tmp)
                break
            except KeyboardInterrupt:
                continue
        raise


def _remove(path: str) -> None:
    """Delete a temp file, even while a Ctrl-C is being handled.

    Polars re-raises a Ctrl-C it caught, so a second KeyboardInterrupt can be pending:
    ignore SIGINT for the moment it takes to unlink, or the temp file would stay behind.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)

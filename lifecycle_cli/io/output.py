"""Write result files: tables as CSV or Parquet, text, backups; staged in an output plan."""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import select
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: pipes keep their default size
    fcntl = None  # type: ignore[assignment]

import polars as pl

from ..base.errors import OutputError
from .plan import WRITTEN, OutputPlan, atomic_write  # noqa: F401 - where the commands find them
from .sources import CsvDialect

#: What an input that changed while its CSV went to stdout makes of that output.
DISOWNED = "the CSV on stdout is not the output of one version of it: discard it"


def csv_options(dialect: CsvDialect | None) -> dict:
    d = dialect or CsvDialect()
    return {
        "separator": d.separator,
        "line_terminator": d.line_terminator,
        "include_bom": d.bom,
        "quote_style": "always" if d.quote_all else "necessary",
    }


def output_format(target: str, input_format: str, *, in_place: bool = False) -> str:
    """The format to write: Parquet for a `.parquet` name, CSV for any other name and for stdout;
    `--in-place` keeps the input's format (the file stays what it was)."""
    if in_place:
        return input_format
    return "parquet" if target != "-" and Path(target).suffix.lower() == ".parquet" else "csv"


def write_table(
    table: pl.LazyFrame,
    target: str,
    fmt: str,
    dialect: CsvDialect | None,
    *,
    stdout: BinaryIO | None = None,
    header_line: str | None = None,
    plan: OutputPlan | None = None,
) -> None:
    """Stream `table` as CSV (in the input's dialect and encoding) or Parquet to a path, or as CSV
    to stdout for "-".

    `header_line` (CSV only): the header to write instead of the table's column names, without
    line end (see `sources.output_header_line`): the input's header byte for byte.
    `plan`: stage the file in that output plan (moved into place by its commit) instead of
    writing it on its own.
    """
    if target == "-":
        assert stdout is not None
        if plan is not None:
            plan.check_inputs()  # the last moment nothing has gone out yet
        try:
            _sink_csv(table, stdout, dialect, header_line, "-")
            stdout.flush()
        except OSError as exc:
            # Polars reports a closed pipe (`| head`) as a plain OSError.
            if exc.errno == errno.EPIPE or "Broken pipe" in str(exc):
                raise BrokenPipeError(errno.EPIPE, "Broken pipe") from None
            raise
        except pl.exceptions.PolarsError:
            # On a long output Polars may report the closed pipe as an error of its own
            # ("zip node received non-equal length inputs"): ask the pipe itself.
            if _reader_gone(stdout):
                raise BrokenPipeError(errno.EPIPE, "Broken pipe") from None
            if plan is not None:
                plan.check_inputs(after=DISOWNED)
            raise
        if plan is not None:  # what went to stdout cannot be taken back, but it can be disowned
            plan.check_inputs(after=DISOWNED)
        return
    if fmt == "parquet":
        write = lambda fh: table.sink_parquet(fh)  # noqa: E731
    else:
        write = lambda fh: _sink_csv(table, fh, dialect, header_line, target)  # noqa: E731
    if plan is not None:
        plan.stage(target, write)
    else:
        atomic_write(Path(target), write)


def _reader_gone(stream: BinaryIO) -> bool:
    """Whether `stream` is a pipe whose reading end was closed (POLLERR); False when that cannot be
    told."""
    try:
        poll = select.poll()
        poll.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (
        AttributeError,
        OSError,
        ValueError,
    ):  # no poll (Windows), no descriptor (a test's BytesIO)
        return False


def _sink_csv(
    table: pl.LazyFrame,
    fh: BinaryIO,
    dialect: CsvDialect | None,
    header_line: str | None,
    target: str,
) -> None:
    """Stream `table` to the open binary file `fh` as CSV in `dialect`, encoded on the fly in
    `dialect.encoding`."""
    d = dialect or CsvDialect()
    options = csv_options(d)
    utf8 = codecs.lookup(d.encoding).name == "utf-8"
    if utf8 and header_line is None:
        table.sink_csv(fh, **options)  # Polars writes the BOM and header itself
        return
    # The BOM (in the output's encoding) and the header line, written here; Polars writes the rows
    # after them.
    prefix = ("\ufeff" if d.bom else "") + (
        header_line + d.line_terminator if header_line is not None else ""
    )
    options.update(include_bom=False, include_header=header_line is None)
    pipe = None
    try:
        fh.write(prefix.encode(d.encoding))
        fh.flush()  # before Polars writes, through its own copy of the descriptor
        if utf8:
            table.sink_csv(fh, **options)
            return
        pipe = _EncodingPipe(fh, d.encoding)
        try:
            table.sink_csv(pipe.writer, **options)
        finally:
            # Polars is done with it (or failed): the end of the stream for the pump
            pipe.writer.close()
        pipe.finish()
    except (OSError, UnicodeError, pl.exceptions.PolarsError) as exc:
        error = pipe.error if pipe is not None and pipe.error is not None else exc
        if isinstance(error, UnicodeEncodeError):
            char = error.object[error.start]
            where = "stdout" if target == "-" else target
            raise OutputError(
                f"{where}: cannot write the output in {d.encoding}, the input's encoding: a value "
                "holds "
                f"the character U+{ord(char):04X}, which {d.encoding} cannot encode; save the "
                "input as UTF-8 "
                "('CSV UTF-8' in Excel) to write it"
            ) from None
        if error is not exc:
            # the pump's own error (full disk, closed pipe), not Polars' report of the pipe
            raise error from None
        raise


class _EncodingPipe:
    """A pipe that Polars writes its UTF-8 CSV into, and a thread that writes it on to `fh` in
    `encoding`,
    chunk by chunk, so the output is never held in memory whole.

    Polars writes into `writer` as into any file: through its own copy of the descriptor, from
    its own threads, without calling back into Python (a Python object as the sink made Polars
    abort the process on some Ctrl-Cs). The thread only ever writes through `fh`: once
    `atomic_write` has closed it after a failure, a late chunk is dropped, no file is recreated.
    On an error the thread keeps it in `error` and closes its end, so Polars fails at its next
    write instead of waiting on a full pipe.
    """

    CHUNK = 1 << 20

    def __init__(self, fh: BinaryIO, encoding: str) -> None:
        self._fh, self._encoding = fh, encoding
        self.error: BaseException | None = None
        read, write = os.pipe()
        if fcntl is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
            with contextlib.suppress(OSError):  # fewer, larger chunks (Linux)
                fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, self.CHUNK)
        self._read = read
        self.writer = os.fdopen(write, "wb")
        self._thread = threading.Thread(target=self._pump, name="lifecycle-encode", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")()
        encoder = codecs.getincrementalencoder(self._encoding)()
        try:
            while chunk := os.read(self._read, self.CHUNK):
                self._fh.write(encoder.encode(decoder.decode(chunk)))
            self._fh.write(encoder.encode(decoder.decode(b"", final=True), final=True))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by finish()
            self.error = exc
        finally:
            os.close(self._read)

    def finish(self) -> None:
        """Wait until everything Polars wrote is on its way to `fh`; raise the thread's error if it
        had one."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        self._fh.flush()


def write_text(target: str, text: str) -> None:
    atomic_write(Path(target), text_writer(text))


def text_writer(text: str) -> Callable[[BinaryIO], object]:
    return lambda fh: fh.write(text.encode("utf-8"))


def backup_writer(path: str) -> Callable[[BinaryIO], object]:
    """A writer copying `path`'s bytes, for the backup `--in-place` keeps."""

    def copy(fh: BinaryIO) -> None:
        with open(path, "rb") as src:
            shutil.copyfileobj(src, fh, 1 << 20)

    return copy


def backup_path(path: str) -> tuple[str, str | None]:
    """Where `--in-place` keeps the original of `path`: `path.bak`, or, when an earlier run's
    backup is there, the first free `path.bak-2`, `path.bak-3`, ... (an earlier backup may be the
    only copy of the export as it came from the CRM). Returns the path and the earlier backup, if
    any."""
    source = Path(path)
    first = source.with_name(source.name + ".bak")
    if not os.path.lexists(first):
        return str(first), None
    n = 2
    while os.path.lexists(candidate := source.with_name(f"{source.name}.bak-{n}")):
        n += 1
    return str(candidate), str(first)

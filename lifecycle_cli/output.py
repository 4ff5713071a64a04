"""Write result files atomically: a temp file beside the target, renamed over it when complete."""

from __future__ import annotations

import codecs
import errno
import glob
import os
import secrets
import select
import shutil
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Callable

try:
    import fcntl
except ImportError:  # Windows: pipes keep their default size
    fcntl = None  # type: ignore[assignment]

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


def write_table(table: pl.LazyFrame, target: str, fmt: str, dialect: CsvDialect | None, *,
                stdout: BinaryIO | None = None, header_line: str | None = None) -> None:
    """Stream `table` as CSV (in the input's dialect and encoding) or Parquet to a path, or as CSV to stdout for "-".

    `header_line` (CSV only): the header to write instead of the table's column names, without
    line end (see `sources.output_header_line`): the input's header byte for byte.
    """
    if target == "-":
        assert stdout is not None
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
            raise
        return
    if fmt == "parquet":
        atomic_write(Path(target), lambda fh: table.sink_parquet(fh))
    else:
        atomic_write(Path(target), lambda fh: _sink_csv(table, fh, dialect, header_line, target))


def _reader_gone(stream: BinaryIO) -> bool:
    """Whether `stream` is a pipe whose reading end was closed (POLLERR); False when that cannot be told."""
    try:
        poll = select.poll()
        poll.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no descriptor (a test's BytesIO)
        return False


def _sink_csv(table: pl.LazyFrame, fh: BinaryIO, dialect: CsvDialect | None, header_line: str | None, target: str) -> None:
    """Stream `table` to the open binary file `fh` as CSV in `dialect`, encoded on the fly in `dialect.encoding`."""
    d = dialect or CsvDialect()
    options = csv_options(d)
    utf8 = codecs.lookup(d.encoding).name == "utf-8"
    if utf8 and header_line is None:
        table.sink_csv(fh, **options)  # Polars writes the BOM and header itself
        return
    # The BOM (in the output's encoding) and the header line, written here; Polars writes the rows after them.
    prefix = ("\ufeff" if d.bom else "") + (header_line + d.line_terminator if header_line is not None else "")
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
            pipe.writer.close()  # Polars is done with it (or failed): the end of the stream for the pump
        pipe.finish()
    except (OSError, UnicodeError, pl.exceptions.PolarsError) as exc:
        error = pipe.error if pipe is not None and pipe.error is not None else exc
        if isinstance(error, UnicodeEncodeError):
            char = error.object[error.start]
            where = "stdout" if target == "-" else target
            raise OutputError(
                f"{where}: cannot write the output in {d.encoding}, the input's encoding: a value holds "
                f"the character U+{ord(char):04X}, which {d.encoding} cannot encode; save the input as UTF-8 "
                "('CSV UTF-8' in Excel) to write it"
            ) from None
        if error is not exc:
            raise error from None  # the pump's own error (full disk, closed pipe), not Polars' report of the pipe
        raise


class _EncodingPipe:
    """A pipe that Polars writes its UTF-8 CSV into, and a thread that writes it on to `fh` in `encoding`,
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
            try:
                fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, self.CHUNK)  # fewer, larger chunks (Linux)
            except OSError:
                pass
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
        """Wait until everything Polars wrote is on its way to `fh`; raise the thread's error if it had one."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        self._fh.flush()


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

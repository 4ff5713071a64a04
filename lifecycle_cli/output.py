"""Write result files atomically: a temp file beside the target, renamed over it when complete."""

from __future__ import annotations

import codecs
import errno
import glob
import os
import secrets
import select
import shutil
import stat
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


def output_format(target: str, input_format: str, *, in_place: bool = False) -> str:
    """The format to write: Parquet for a `.parquet` name, CSV for any other name and for stdout;
    `--in-place` keeps the input's format (the file stays what it was)."""
    if in_place:
        return input_format
    return "parquet" if target != "-" and Path(target).suffix.lower() == ".parquet" else "csv"


def write_table(table: pl.LazyFrame, target: str, fmt: str, dialect: CsvDialect | None, *,
                stdout: BinaryIO | None = None, header_line: str | None = None, plan: "OutputPlan | None" = None) -> None:
    """Stream `table` as CSV (in the input's dialect and encoding) or Parquet to a path, or as CSV to stdout for "-".

    `header_line` (CSV only): the header to write instead of the table's column names, without
    line end (see `sources.output_header_line`): the input's header byte for byte.
    `plan`: stage the file in that output plan (moved into place by its commit) instead of
    writing it on its own.
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
        write = lambda fh: table.sink_parquet(fh)  # noqa: E731
    else:
        write = lambda fh: _sink_csv(table, fh, dialect, header_line, target)  # noqa: E731
    if plan is not None:
        plan.stage(target, write)
    else:
        atomic_write(Path(target), write)


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
    only copy of the export as it came from the CRM). Returns the path and the earlier backup, if any."""
    source = Path(path)
    first = source.with_name(source.name + ".bak")
    if not os.path.lexists(first):
        return str(first), None
    n = 2
    while os.path.lexists(candidate := source.with_name(f"{source.name}.bak-{n}")):
        n += 1
    return str(candidate), str(first)


# --------------------------------------------------------------------------- the output plan


def _identity(path: str) -> tuple:
    """What makes two spellings of a path the same file: the device and inode when the file exists
    (hard links, symlinks, `..`), else the absolute path with symlinks resolved."""
    try:
        st = os.stat(path)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


class OutputPlan:
    """Every file a run reads and writes, checked before anything is read, written together at the end.

    `read` and `write` list the paths (with what they are, for the message); `check` refuses a
    write onto anything the run reads or onto another write, onto something that is not a
    regular file (a device, a pipe, a folder), and into a folder that does not exist or cannot
    be written; `stage` writes one output to a temp file beside its target; `commit` moves all
    staged files into place, in the order staged, only once every one of them is complete. A
    failure or signal before that leaves every target as it was and no temp file behind.
    """

    def __init__(self) -> None:
        self.reads: list[tuple[str, str]] = []
        self.writes: list[tuple[str, str, bool]] = []
        self.folders: dict[str, str] = {}  #: folders the run creates when missing (realpath -> as given)
        #: What to do instead when a write's target is not a regular file, in the command's own
        #: options (each command has different ones): path -> advice.
        self.instead: dict[str, str] = {}
        self._staged: list[tuple[Path, str, Path, bool]] = []
        self._created: list[Path] = []

    def read(self, path: str | os.PathLike | None, what: str) -> None:
        if path is not None and str(path) != "-":
            self.reads.append((str(path), what))

    def write(self, path: str | None, what: str, *, in_place: bool = False,
              instead: str | None = None) -> None:
        """A file this run will write; `in_place`: it replaces the contacts file on purpose
        (`--in-place`); `instead`: what to do when it is not a regular file (`use -o - ...`)."""
        if path is not None and path != "-":
            self.writes.append((path, what, in_place))
            if instead:
                self.instead[path] = instead

    def folder(self, path: str, what: str) -> None:
        """A folder the run writes files into, created (with the files, at the end) when it does not exist."""
        target = Path(path)
        if target.exists() and not target.is_dir():
            raise OutputError(f"{path}: cannot write the {what} here: it is a file, not a folder")
        if not target.exists():
            parent = target.parent
            if not parent.is_dir():
                raise OutputError(f"{path}: cannot create the {what}: the folder '{parent}' does not exist")
        self.folders[os.path.realpath(path)] = path

    def check(self) -> None:
        reads = [(path, what, _identity(path)) for path, what in self.reads]
        seen: list[tuple[str, str, tuple]] = []
        for path, what, in_place in self.writes:
            self._check_target(path, what)
            identity = _identity(path)
            for read, read_what, read_identity in reads:
                if identity == read_identity and not (in_place and read_what == "contacts file"):
                    named = read_what if read == path else f"{read_what} {read}"
                    raise OutputError(f"{path}: the {what} would overwrite the input {named}, which this run reads; "
                                      f"choose another path for the {what}")
            for other, other_what, other_identity in seen:
                if identity == other_identity:
                    raise OutputError(f"{path}: the {what} and the {other_what} would both be written to this file; "
                                      "give each its own path")
            seen.append((path, what, identity))

    def _check_target(self, path: str, what: str) -> None:
        target = Path(path)
        if os.path.lexists(target):
            try:
                st = os.stat(target)
            except OSError as exc:
                raise OutputError(f"{path}: cannot write the {what} here: {exc.strerror}") from None
            if stat.S_ISDIR(st.st_mode):
                raise OutputError(f"{path}: cannot write the {what}: it is a folder; give a file name")
            if not stat.S_ISREG(st.st_mode):
                instead = self.instead.get(path)
                raise OutputError(
                    f"{path}: cannot write the {what}: it is not a regular file (a device, pipe or socket), and "
                    f"lifecycle only replaces files{'; ' + instead if instead else ''}")
        directory = target.parent
        if not directory.is_dir() and os.path.realpath(directory) in self.folders:
            directory = directory.parent  # created by the run: check its parent
        if not directory.is_dir():
            raise OutputError(f"{path}: cannot write the {what}: the folder '{directory}' does not exist")
        try:
            read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
        except (AttributeError, OSError):  # no statvfs (Windows)
            read_only = False
        if read_only:
            raise OutputError(f"{path}: cannot write the {what}: '{directory}' is on a Read-only file system")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OutputError(f"{path}: cannot write the {what}: no permission to create files in '{directory}'")

    def stage(self, target: str, write: Callable[[BinaryIO], object], *, exclusive: bool = False) -> None:
        """Write one output to a temp file beside `target`; `exclusive`: never replace an existing file at commit."""
        path = Path(target)
        directory = path.parent
        if not directory.exists() and os.path.realpath(directory) in self.folders:
            try:
                directory.mkdir()
            except OSError as exc:
                raise OutputError(f"{directory}: cannot create the folder: {exc.strerror}") from None
            self._created.append(directory)
        prefix = f".{path.name}.{secrets.token_hex(4)}."
        # Listed before the temp file exists, so an interruption at any point finds it (see atomic_write).
        self._staged.append((path, prefix, directory, exclusive))
        tmp = _write_temp(path, directory, prefix, write)
        self._staged[-1] = (path, str(tmp), directory, exclusive)

    def commit(self) -> list[str]:
        """Move every staged file into place, in the order staged; returns their paths."""
        done = []
        try:
            while self._staged:
                path, tmp, _, exclusive = self._staged[0]
                _move_into_place(Path(tmp), path, exclusive=exclusive)
                self._staged.pop(0)
                WRITTEN.append(str(path))
                done.append(str(path))
            self._created.clear()  # they hold the files now
        except BaseException:
            self.abort()
            raise
        return done

    def abort(self) -> None:
        """Remove every temp file not yet moved into place (safe to call more than once)."""
        while self._staged:
            path, tmp, directory, _ = self._staged[-1]
            try:
                if tmp.endswith(".tmp"):
                    Path(tmp).unlink(missing_ok=True)
                else:  # a prefix: the temp file may exist without its name known yet
                    _remove_temp(directory, tmp)
            except KeyboardInterrupt:
                continue  # a Ctrl-C Polars handed back, raised again: retry until the temp file is gone
            except OSError:
                pass
            self._staged.pop()
        while self._created:  # folders this run made, left empty by the cleanup
            try:
                self._created[-1].rmdir()
            except OSError:
                pass
            self._created.pop()

    def __enter__(self) -> "OutputPlan":
        return self

    def __exit__(self, *exc) -> None:
        self.abort()


def _write_temp(target: Path, directory: Path, prefix: str, write: Callable[[BinaryIO], object]) -> Path:
    """Run `write(file)` on a new temp file beside `target` named `prefix...tmp`; on any failure it is removed.

    Two details make that hold:
    - The temp file's name starts with a random tag chosen before the file exists, so the
      cleanup finds it even when Ctrl-C lands between its creation and the line that names it.
    - The writer gets an open file, not a path. Polars writes through its own copy of the
      descriptor, so a write still winding down after Ctrl-C cannot create the file again
      once the cleanup has removed it.
    """
    if not directory.is_dir():
        raise OutputError(f"{target}: cannot write: the folder '{directory}' does not exist")
    if target.is_dir():
        raise OutputError(f"{target}: cannot write: it is a folder")
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
        return Path(tmp)
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


def _move_into_place(tmp: Path, target: Path, *, exclusive: bool) -> None:
    if exclusive:
        try:
            os.link(tmp, target)  # fails if a file appeared there meanwhile: a backup is never replaced
        except FileExistsError:
            raise OutputError(f"{target}: cannot keep the backup there: a file of that name appeared during the run") from None
        tmp.unlink()
    else:
        os.replace(tmp, target)


def atomic_write(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write one file on its own: a temp file beside `target`, moved over it once complete
    (see `OutputPlan`); on any failure, Ctrl-C included, `target` is left as it was."""
    with OutputPlan() as plan:
        plan.stage(str(target), write)
        plan.commit()


def _remove_temp(directory: Path, prefix: str) -> None:
    for path in directory.glob(glob.escape(prefix) + "*.tmp"):
        path.unlink(missing_ok=True)

"""Read CSV and Parquet exports as text and find the columns the rules name."""

from __future__ import annotations

import atexit
import codecs
import contextlib
import csv
import dataclasses
import difflib
import io
import os
import re
import select
import stat
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import polars as pl

from ..base.diagnostics import Diagnostic, Diagnostics, listed, quantity, row_list
from ..base.errors import InputError
from ..base.redact import scrub_polars_text
from ..rules.model import REQUIRED_COLUMNS, ColumnSpec
from .identity import FileIdentity, changed_input

#: Delimiters we recognise in a header line, most common first (ties go to the earlier one).
DELIMITERS = (",", ";", "\t", "|")
#: How much of a file we look at to detect its encoding, delimiter and header.
SNIFF_BYTES = 1 << 20
#: Gzip's magic number: the file must be unpacked first.
GZIP_MAGIC = b"\x1f\x8b"
#: Most bad rows an error message lists.
MAX_LISTED = 10
#: Parquet's magic number: such a file is Parquet whatever its name says.
PARQUET_MAGIC = b"PAR1"

# A notes field may hold a whole e-mail thread: the csv module's 128 KB default would report the
# row holding it as broken, instead of the row that is.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class CsvDialect:
    """How an input CSV was written, so the output can be written the same way."""

    separator: str = ","
    quote_all: bool = False
    line_terminator: str = "\n"
    bom: bool = False  # the file starts with a byte order mark (in `encoding`)
    encoding: str = "utf-8"  # the codec the file was written in: the output is encoded the same way


@dataclass(frozen=True)
class Source:
    """One export, read lazily with every column as text, and where its logical columns are."""

    role: str  # contacts, deals or consent
    display: str  # the path as the user wrote it ("-" for stdin)
    path: Path | None
    format: str  # "csv" or "parquet"
    dialect: CsvDialect | None
    frame: pl.LazyFrame
    headers: tuple[str, ...]
    resolved: dict[str, str]  # logical column name -> header in this file
    data: bytes | None = None  # the decoded bytes when the file was not read from disk as UTF-8
    #: The header names exactly as the file writes them (unquoted), same length and order as
    #: `headers`, which are Polars' unique names (a repeated `Phone Number` is
    #: `Phone Number_duplicated_0` there).
    file_headers: tuple[str, ...] = ()
    #: The CSV's first line as written (decoded text, without BOM or line end), to write it back
    #: byte for byte.
    header_line: str | None = None
    #: A required column the file lacks, read as empty so that the run can find every other problem
    #: before it stops on this one (classify only: see read_source's `defer_stage`).
    missing_required: tuple[Diagnostic, ...] = ()
    #: The file as it was when opened (None for stdin): each later read checks it is still that.
    identity: FileIdentity | None = None

    def has(self, name: str) -> bool:
        return name in self.resolved

    def rows_at(self, rows: list[int], *exprs: pl.Expr, index: str = "row") -> pl.DataFrame:
        """A few rows by 0-based row number (column `index`), with `exprs`; reads only up to the
        last of them."""
        if not rows:
            return self.frame.head(0).with_row_index(index).select(index, *exprs).collect()
        return (
            self.frame.head(max(rows) + 1)
            .with_row_index(index)
            .filter(pl.col(index).is_in(rows))
            .select(index, *exprs)
            .collect()
            .sort(index)
        )

    def raw(self, name: str) -> pl.Expr:
        """The column exactly as read (text); null when the file lacks the column."""
        if name not in self.resolved:
            return pl.lit(None, dtype=pl.String)
        return pl.col(self.resolved[name]).cast(pl.String)

    def text(self, name: str) -> pl.Expr:
        """The column as trimmed text, empty cells as null; null when the file lacks the column."""
        if name not in self.resolved:
            return pl.lit(None, dtype=pl.String)
        value = pl.col(self.resolved[name]).cast(pl.String).str.strip_chars()
        return pl.when(value == "").then(None).otherwise(value)


def detect_dialect(head: bytes) -> CsvDialect:
    bom = head.startswith(codecs.BOM_UTF8)
    crlf = head.split(b"\n", 1)[0].endswith(b"\r")
    first = _header_line(head)
    if first is None:  # no line end within the sniffed bytes: all of them are the header
        first = (
            head[len(codecs.BOM_UTF8) if bom else 0 :]
            .rstrip(b"\r")
            .decode("utf-8", errors="replace")
        )
    counts = {d: len(_raw_fields(first, d)) - 1 for d in DELIMITERS}
    separator = max(DELIMITERS, key=lambda d: counts[d])
    if counts[separator] == 0:
        separator = ","
    fields = first.split(separator)
    quote_all = bool(fields) and all(
        f.startswith('"') and f.endswith('"') and len(f) >= 2 for f in fields
    )
    return CsvDialect(
        separator=separator, quote_all=quote_all, line_terminator="\r\n" if crlf else "\n", bom=bom
    )


#: An input that names a table of the engine instead of a file: table:NAME.
TABLE_PREFIX = "table:"


def table_of(spec: str | None) -> str | None:
    """The table an input names (`table:crm.contacts`: crm.contacts), None for a file."""
    if spec is None or not spec.startswith(TABLE_PREFIX):
        return None
    return spec[len(TABLE_PREFIX) :].strip()


def read_source(
    spec: str,
    role: str,
    columns: dict[str, ColumnSpec],
    *,
    stdin: bytes | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    defer_stage: bool = False,
    file: Path | None = None,
) -> Source:
    """Open one export. `spec` is a path or "-" (then `stdin` holds the bytes); with `file`, the
    Parquet file the engine wrote an input table to, named `spec` (table:NAME) in messages.

    Every problem the file's encoding, header, columns and rows show is found before it stops:
    one InputError lists them all (each as in `InputError.diagnostics`). A file that cannot be
    opened, or is no CSV text at all, stops at once. `defer_stage`: a contacts file without its
    stage column is read all the same, the problem kept in `missing_required`, so that classify
    reports it together with every other problem it finds (it stops on it)."""
    path = file or (None if spec == "-" else readable_path(spec, role))
    fmt = (
        "parquet"
        if path is not None and Path(file or spec).suffix.lower() in (".parquet", ".pq")
        else "csv"
    )
    if path is not None:
        if not path.exists():
            raise InputError(f"{spec}: {role} file not found")
        if path.is_dir():
            raise InputError(f"{spec}: is a directory, expected a {role} export (CSV or Parquet)")
    # Taken before the first byte is read: whatever changes after it is noticed (check_unchanged).
    identity = FileIdentity.of(path) if path is not None else None
    found = Diagnostics()
    if fmt == "parquet":
        read = _scan_parquet(spec, path)
    else:
        try:
            read = _scan_csv(spec, path, stdin, delimiter, encoding, role, found)
        except InputError:
            # What the bytes decoded with a wrong encoding look like (no text, no lines) is
            # no problem of its own: the encoding is the one to fix.
            found.stop_if_any(f"{spec}: the {role} file cannot be read")
            raise
    resolved: dict[str, str] = {}
    deferred: tuple[Diagnostic, ...] = ()
    if read.headers is not None:
        resolved, deferred = _resolve(spec, role, read, columns, found, defer_stage)
    if any(d not in deferred for d in found.errors):
        if read.rows_readable:
            # Stopping anyway: the rows are read once more, for every problem they have too.
            raw = _raw_bytes(path, read.data)
            found.extend(row_problems(spec, role, raw, read.dialect.separator))
        found.stop_if_any(f"{spec}: the {role} file cannot be read")
    return Source(
        role,
        spec,
        path,
        fmt,
        read.dialect,
        read.frame,
        read.headers,
        resolved,
        read.data,
        file_headers=read.file_headers,
        header_line=read.header_line,
        missing_required=deferred,
        identity=identity,
    )


@dataclass(frozen=True)
class _Read:
    """What opening an export found: its table and header, as far as they could be read."""

    frame: pl.LazyFrame | None
    headers: tuple[str, ...] | None  # None: the header could not be read (a problem found)
    dialect: CsvDialect | None = None
    data: bytes | None = None
    file_headers: tuple[str, ...] = ()
    header_line: str | None = None
    #: Whether the rows can be told apart (the header's quotes are sound): they are read for
    #: their problems when the file has others.
    rows_readable: bool = False


def _scan_parquet(spec: str, path: Path | None) -> _Read:
    try:
        frame = pl.scan_parquet(path)
        headers = tuple(frame.collect_schema().names())
    except Exception as exc:  # polars raises several kinds for a bad file
        raise InputError(f"{spec}: cannot read as Parquet: {polars_reason(exc)}") from None
    return _Read(frame, headers, file_headers=headers)


def _resolve(
    spec: str,
    role: str,
    read: _Read,
    columns: dict[str, ColumnSpec],
    found: Diagnostics,
    defer_stage: bool,
) -> tuple[dict[str, str], tuple[Diagnostic, ...]]:
    """The file's columns (see resolve_columns), their problems added to `found`; with
    `defer_stage`, a contacts file's missing stage column is returned too, when it is the only
    column missing: it stops the run only with the file's other problems (read_source)."""
    here = Diagnostics()
    resolved = resolve_columns(spec, role, read.headers, columns, read.file_headers, found=here)
    missing = [n for n in REQUIRED_COLUMNS[role] if n not in resolved and not columns[n].optional]
    found.extend(here.items)
    if defer_stage and role == "contacts" and missing == ["stage"]:
        return resolved, tuple(d for d in here.items if d.code == "missing-column")
    return resolved, ()


def _raw_bytes(path: Path | None, data: bytes | None) -> bytes:
    """The file's bytes as Polars reads them (decoded to UTF-8 when it was not UTF-8)."""
    if data is not None:
        return data
    return path.read_bytes() if path is not None else b""


def read_sources(
    read: Callable[[str, str, dict[str, ColumnSpec]], Source],
    wanted: list[tuple[str | None, str, dict[str, ColumnSpec]]],
) -> list[Source | None]:
    """Open each export of `wanted` (path or None, role, columns) with `read` (read_source with
    the run's options). The problems of all of them stop the run together: one InputError,
    which carries each as a diagnostic (a file that cannot be opened is one of them)."""
    found, stops, sources = Diagnostics(), [], []
    for spec, role, columns in wanted:
        source = None
        if spec:
            try:
                source = read(spec, role, columns)
            except InputError as stop:
                stops.append(stop)
                found.extend(stop.diagnostics or [_unreadable(spec, stop)])
        sources.append(source)
    if len(stops) == 1:
        raise stops[0]
    found.stop_if_any("cannot read the inputs")
    return sources


def _unreadable(spec: str, stop: InputError) -> Diagnostic:
    """A file that stopped at once (not found, not a CSV, ...) as a diagnostic."""
    return Diagnostic("unreadable", "error", stop.message, file=spec, hint=stop.hint)


def changed_source(sources: list[Source | None]) -> InputError | None:
    """The error for the first of `sources` that is no longer the file it was when opened; None
    when each still is."""
    for source in sources:
        if source is not None and source.identity is not None and source.path is not None:
            reason = source.identity.change(source.path)
            if reason is not None:
                return changed_input(source.display, reason)
    return None


def check_unchanged(sources: list[Source | None]) -> None:
    """Before another read of `sources`: stop (InputError) if one of them changed since it was
    opened.

    The passes over a file are lined up row by row: a file replaced or rewritten between two
    of them would give rows the decisions of other rows."""
    error = changed_source(sources)
    if error is not None:
        raise error


def _scan_csv(spec, path, stdin, delimiter, encoding, role, found: Diagnostics) -> _Read:
    """Read a CSV export as UTF-8 text in its own dialect. What keeps it from being read at all
    (no text, no lines) raises an InputError; the other problems (a byte the encoding cannot
    decode, a broken header) are added to `found` and the file read as far as it can be."""
    head = _read_head(spec, path, stdin, role)
    _check_packed(spec, role, path, head)
    codec = _choose_codec(spec, role, head, encoding)
    data: bytes | None = stdin if path is None else None
    raw_head = head
    if codec is not None:
        # Not UTF-8: decode the whole file once and hand Polars UTF-8 bytes.
        raw = path.read_bytes() if path is not None else stdin
        data = _decode(spec, role, raw, codec, found)
        head = data[:SNIFF_BYTES]
    _check_text(spec, role, head)
    _check_lines(spec, role, head)
    dialect = detect_dialect(head)
    if delimiter:
        dialect = dataclasses.replace(dialect, separator=delimiter)
    if codec is not None:
        # The output is written in the input's encoding, with its byte order mark if it had one.
        written, bom = _output_codec(codec, raw_head)
        dialect = dataclasses.replace(dialect, encoding=written, bom=dialect.bom or bom)
    try:
        file_headers = _check_header(spec, role, head, dialect.separator)
    except InputError as problem:
        found.error("broken-header", problem.message, file=spec, row=1)
        return _Read(None, None, dialect, data)  # its rows cannot be told apart either
    frame = _read_frame(path, data, dialect.separator)
    try:
        headers = tuple(frame.collect_schema().names())
    except pl.exceptions.PolarsError as exc:
        # A repeated name whose Polars name (`X_duplicated_0`) the file also has as a header.
        found.error(
            "repeated-header",
            f"{spec}: cannot read the {role} file's header: {polars_reason(exc)}; "
            "rename the repeated columns",
            file=spec,
            row=1,
        )
        return _Read(frame, None, dialect, data, rows_readable=True)
    if len(file_headers) != len(headers):  # not expected: then the names as Polars reads them
        file_headers = list(headers)
    return _Read(
        frame, headers, dialect, data, tuple(file_headers), _header_line(head), rows_readable=True
    )


def _check_packed(spec: str, role: str, path: Path | None, head: bytes) -> None:
    """Stop on a gzip or Parquet file given as a CSV: none of its bytes are the CSV's."""
    if head.startswith(GZIP_MAGIC):
        # Reading it would work, but the default output name would then end in .gz and hold plain
        # CSV.
        unpack = (
            f"gunzip {spec}" if path is not None else "gunzip -c FILE | lifecycle classify - ..."
        )
        raise InputError(f"{spec}: the {role} file is gzip-compressed; unpack it first ({unpack})")
    if head.startswith(PARQUET_MAGIC):
        raise InputError(
            f"{spec}: the {role} file is a Parquet file, not a CSV; rename it to end in .parquet "
            "to read it as Parquet"
        )


def _output_codec(codec: str, raw_head: bytes) -> tuple[str, bool]:
    """The codec to write the output in for an input decoded with `codec`, and whether it starts
    with a BOM.

    UTF-16/32 without a byte order in the name is written in the byte order of the input's BOM
    (the BOM is then written explicitly, see `output.write_table`).
    """
    name = codecs.lookup(codec).name
    boms = {
        "utf-16": ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")),
        "utf-32": ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be")),
    }
    if name in boms:
        for bom, written in boms[name]:
            if raw_head.startswith(bom):
                return written, True
        return f"{name}-{'le' if sys.byteorder == 'little' else 'be'}", False
    return name, False


def _header_line(head: bytes) -> str | None:
    """The first line of the (UTF-8) file head as text, without BOM and line end; None if the
    head ends inside it."""
    end = head.find(b"\n")
    if end < 0 and len(head) >= SNIFF_BYTES:
        return None
    line = head[: end if end >= 0 else len(head)]
    if line.startswith(codecs.BOM_UTF8):
        line = line[len(codecs.BOM_UTF8) :]
    return line.rstrip(b"\r").decode("utf-8", errors="replace")


def _read_head(spec: str, path: Path | None, stdin: bytes | None, role: str) -> bytes:
    """The first SNIFF_BYTES of the file, enough to tell its encoding and dialect."""
    if path is None:
        return (stdin or b"")[:SNIFF_BYTES]
    try:
        with path.open("rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"{spec}: cannot read the {role} file: {exc.strerror}") from None


def _choose_codec(spec: str, role: str, head: bytes, encoding: str | None) -> str | None:
    """The codec to decode the file with, or None when it is UTF-8 (with or without BOM) already."""
    if encoding:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise InputError(
                f"--encoding: unknown encoding '{encoding}' (try utf-8, cp1252, latin-1 or utf-16)"
            ) from None
        try:
            b"a".decode(name)  # rot13, base64, zlib ... are codecs too, but not of text
        except UnicodeDecodeError:
            pass
        except LookupError:
            raise InputError(
                f"--encoding: '{encoding}' is not a text encoding (try utf-8, cp1252, latin-1 or "
                "utf-16)"
            ) from None
        return None if name in ("utf-8", "utf-8-sig") else encoding
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text"
    if b"\0" in head:
        raise _utf16_without_bom(spec, role, head) or _not_text(spec, role)
    if _is_utf8(head):
        return None
    return _detect_encoding(spec, role, head)


def _utf16_without_bom(spec: str, role: str, head: bytes) -> InputError | None:
    """An error with the --encoding to pass for UTF-16 text without a byte order mark (every other
    byte of Latin text is NUL), or None when the NULs do not fall that way."""
    sample = head[: 64 * 1024 - (64 * 1024) % 2]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    for nuls, other, codec in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if half and nuls > 0.6 * half and other < 0.05 * half:
            try:
                sample.decode(codec)
            except UnicodeDecodeError as exc:
                if exc.start < len(sample) - 4:  # a character cut by the sample's end is fine
                    continue
            return InputError(
                f"{spec}: the {role} file looks like UTF-16 text without a byte order mark "
                f"(Excel's 'Unicode Text' has one); pass --encoding {codec}"
            )
    return None


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut in two by the sniff window is not an error.
        return (
            len(head) == SNIFF_BYTES
            and exc.start >= len(head) - 3
            and exc.reason == "unexpected end of data"
        )
    return True


def _detect_encoding(spec: str, role: str, head: bytes) -> str:
    """The encoding charset-normalizer finds for bytes that are not UTF-8, cp1252 where it fits
    as well."""
    best = charset_normalizer.from_bytes(head).best()
    if best is None:
        raise _not_text(spec, role)
    # Statistics cannot tell the Western code pages apart on a short export (it may say cp1250 for
    # "Müller"); Excel on a Western Windows writes cp1252, so it wins whenever it reads the bytes as
    # cleanly.
    western = charset_normalizer.from_bytes(head, cp_isolation=["cp1252"]).best()
    return "cp1252" if western is not None and western.chaos <= best.chaos else best.encoding


def _decode(spec: str, role: str, raw: bytes, codec: str, found: Diagnostics) -> bytes:
    """`raw` decoded with `codec`, as UTF-8; a byte it cannot decode is a problem added to `found`
    (the first one, with its line), and the rest of the file read with it replaced."""
    try:
        return raw.decode(codec).encode("utf-8")
    except UnicodeDecodeError as exc:
        found.error(
            "encoding",
            f"{spec}: cannot decode the {role} file as {codec} (line {_line_at(raw, exc.start)}, "
            f"byte {exc.start}); pass the right --encoding or save it as 'CSV UTF-8'",
            file=spec,
        )
        return raw.decode(codec, errors="replace").encode("utf-8")


def _line_at(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _not_text(spec: str, role: str) -> InputError:
    return InputError(
        f"{spec}: the {role} file does not look like a CSV text file (is it a spreadsheet, "
        "archive or image?)"
    )


def _check_text(spec: str, role: str, head: bytes) -> None:
    if not head.lstrip(codecs.BOM_UTF8).strip():
        raise InputError(f"{spec}: the {role} file is empty; expected a header row and data rows")
    if b"\0" in head:
        raise _not_text(spec, role)


def _check_lines(spec: str, role: str, head: bytes) -> None:
    """A CSV export has a short header line: refuse a file with no line feed in its first
    megabyte."""
    if b"\n" in head:
        return
    if b"\r" in head.rstrip(b"\r"):
        raise InputError(
            f"{spec}: the {role} file ends its lines with a carriage return only (CR, as classic "
            "Mac OS did); save it again with Windows (CRLF) or Unix (LF) line ends"
        )
    if len(head) >= SNIFF_BYTES:
        raise InputError(
            f"{spec}: the {role} file has no line break in its first {SNIFF_BYTES >> 20} MB: "
            "its first line is longer than any header row; is it a CSV export? (a CSV has one "
            "row per line)"
        )


def _check_header(spec: str, role: str, head: bytes, separator: str) -> list[str]:
    """The header names as the file writes them (unquoted), or an InputError for a broken header.

    Repeated names are fine (HubSpot repeats `Phone Number` or `Create Date` when an export includes
    associated company properties): Polars names the second `X_duplicated_0`, and the output is
    written with the file's own header line (see `output_header_line`).
    """
    text = head.decode("utf-8-sig", errors="replace")
    try:
        header = next(
            csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True), []
        )
    except csv.Error as err:
        raise _quote_error(spec, role, 1, err) from None
    if any("\n" in name or "\r" in name for name in header):
        # Polars would take the rest of the file as one header name.
        raise _quote_error(spec, role, 1, "a header name runs over the end of the line")
    return header


def _raw_fields(line: str, separator: str) -> list[str]:
    """The fields of one CSV line exactly as written (quotes and doubled quotes kept)."""
    fields, start, quoted = [], 0, False
    for at, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == separator and not quoted:
            fields.append(line[start:at])
            start = at + 1
    fields.append(line[start:])
    return fields


def _csv_field(name: str, separator: str, always: bool) -> str:
    """`name` as a CSV field: quoted when it must be (or `always`), quotes inside doubled."""
    if always or any(c in name for c in (separator, '"', "\n", "\r")):
        return '"' + name.replace('"', '""') + '"'
    return name


def output_header_line(source: Source, insert_after: str, new_names: list[str]) -> str:
    """The header line to write for `source`'s columns with `new_names` inserted after column
    `insert_after` (a Polars name, as in `source.headers`), without the line terminator.

    Every existing field is written exactly as the input's first line has it (quoting, doubled
    quotes, repeated names); new names are quoted only where needed, or always when the input
    quotes every field. Joined with the input's separator.
    """
    if insert_after not in source.headers:
        raise ValueError(f"{insert_after!r} is not a column of {source.display}")
    dialect = source.dialect or CsvDialect()
    separator, always = dialect.separator, dialect.quote_all
    fields = _raw_fields(source.header_line, separator) if source.header_line is not None else []
    if len(fields) != len(source.headers):
        # Parquet, or a header line we could not keep: the names written as CSV fields.
        names = (
            source.file_headers
            if len(source.file_headers) == len(source.headers)
            else source.headers
        )
        fields = [_csv_field(name, separator, always) for name in names]
    at = source.headers.index(insert_after) + 1
    fields[at:at] = [_csv_field(name, separator, always) for name in new_names]
    return separator.join(fields)


def _quote_error(spec: str, role: str, row: int, detail: object) -> InputError:
    return InputError(
        f"{spec}: the {role} file has a quoted field that is not closed properly in row {row} "
        f"({detail}); "
        'every field that starts with " needs a closing " and quotes inside it doubled ("")'
    )


def _read_frame(path: Path | None, data: bytes | None, separator: str) -> pl.LazyFrame:
    """The CSV as a lazy scan: rows are parsed only when a pipeline runs (see
    `explain_read_error`)."""
    source = io.BytesIO(data) if data is not None else path
    return pl.scan_csv(source, separator=separator, infer_schema=False, quote_char='"')


@dataclass(frozen=True)
class LineScan:
    """What a CSV file's physical lines show: how many lines have fewer fields than the header,
    the first of their row numbers (the header is row 1), and how many lines there are."""

    short_count: int
    short_rows: list[int]
    lines: int


def _can_be_short(source: Source) -> bool:
    """Whether a row of `source` can have fewer fields than its header: not in Parquet, nor in
    a one-column CSV file (a missing field is an empty one there)."""
    return source.format == "csv" and len(source.headers) > 1


def scan_lines(source: Source, limit: int = MAX_LISTED) -> LineScan | None:
    """The file read by Polars as physical lines, streamed, separators counted outside quotes
    (about 0.45 s for 1M rows on two cores; ~2 s when every field is quoted, as only lines with
    quotes need the regex). None where no row can be short (`_can_be_short`) and for lines that
    are not text (a NUL byte in a line: it is not one field).

    The lines of a big file count in the run's peak memory while they are read (Polars maps the
    file), so classify scans them first, before its other tables are held (`Facts.lines`)."""
    if not _can_be_short(source):
        return None
    expected = len(source.headers)
    # Counted as a regex: Polars counts a one-character regex about twice as fast as a literal.
    separator = re.escape(source.dialect.separator)
    lines = pl.scan_csv(
        io.BytesIO(source.data) if source.data is not None else source.path,
        separator="\0",
        quote_char=None,
        has_header=False,
        infer_schema=False,
        new_columns=["line"],
    )
    line = pl.col("line").fill_null("")
    # Quoted sections only hide separators: a line with fewer separators than the header needs
    # is short whatever its quotes, so only those lines and the lines with quotes are looked at
    # closely (the fields outside quotes counted), and only the short ones' numbers are kept.
    fields = (
        pl.when(line == "")
        .then(0)
        .otherwise(line.str.replace_all(r'"[^"]*"', "").str.count_matches(separator) + 1)
    )
    short_lines = (
        lines.with_row_index("i")
        .filter(
            (pl.col("i") > 0)
            & (
                line.str.contains('"', literal=True)
                | (line.str.count_matches(separator) < expected - 1)
            )
        )
        .with_columns(
            fields.alias("fields")
        )  # a column of its own: not evaluated with the filter above, on every line
        .filter(pl.col("fields") < expected)
        .select("i")
    )
    try:
        short, physical = pl.collect_all([short_lines, lines.select(pl.len())], engine="streaming")
    except pl.exceptions.PolarsError:
        return None
    return LineScan(short.height, (short["i"].head(limit) + 1).to_list(), physical.item())


def short_rows(
    source: Source,
    limit: int = MAX_LISTED,
    *,
    records: int | None = None,
    lines: LineScan | None = None,
) -> tuple[int, list[int]]:
    """How many data rows have fewer fields than the header (Excel drops trailing empty fields,
    and Polars reads the missing ones as empty), and the first `limit` of their row numbers as
    a user counts them: the header is row 1, a record spanning lines is one row. A blank line
    is a row with no field. Parquet has none.

    From the physical lines (`lines`, else `scan_lines`): exact only when no quoted field spans
    lines, i.e. when there is one line per record; otherwise the csv module reads the file (~2 s
    per 1M rows). `records`: the number of data rows when the caller has read them already (else
    they are counted).
    """
    if not _can_be_short(source):
        return 0, []
    scan = lines if lines is not None else scan_lines(source, limit)
    if scan is not None and records is None:
        try:  # records as Polars parses them, quoted line breaks inside a field
            records = source.frame.select(pl.len()).collect().item()
        except pl.exceptions.PolarsError:
            scan = None
    if scan is not None and scan.lines == records + 1:
        return scan.short_count, scan.short_rows[:limit]
    return _short_rows_by_records(source, limit)


def _short_rows_by_records(source: Source, limit: int) -> tuple[int, list[int]]:
    """`short_rows` with the csv module, record by record (quoted fields may span lines)."""
    if source.data is not None:
        stream = io.TextIOWrapper(
            io.BytesIO(source.data), encoding="utf-8-sig", errors="replace", newline=""
        )
    else:
        stream = source.path.open(encoding="utf-8-sig", errors="replace", newline="")
    count, rows, expected = 0, [], len(source.headers)
    with stream:
        reader = csv.reader(stream, delimiter=source.dialect.separator, strict=False)
        next(reader, None)
        for row, fields in enumerate(reader, start=2):
            if len(fields) < expected:
                count += 1
                if len(rows) < limit:
                    rows.append(row)
    return count, rows


def polars_reason(exc: Exception) -> str:
    """The first line of a Polars error, without the cell values it quotes (they may be personal
    data): `...`, "..." and the lists of failed values (`values: ["..."]`)."""
    return scrub_polars_text(str(exc))


def find_read_error(sources: list[Source | None]) -> InputError | None:
    """Polars failed while reading: the files and rows at fault, found with the csv module, as
    one InputError listing every problem of every file; None when none is found. A file that
    changed since it was opened is the fault first (its passes no longer line up)."""
    changed = changed_source(sources)
    if changed is not None:
        return changed
    found = Diagnostics()
    for source in sources:
        if source is None or source.format != "csv":
            continue
        raw = _raw_bytes(source.path, source.data)
        found.extend(row_problems(source.display, source.role, raw, source.dialect.separator))
        if found.errors:
            found.extend(source.missing_required)  # the stop is reported with them
    if not found.errors:
        return None
    files = ", ".join(s.display for s in sources if s is not None and s.format == "csv")
    try:
        found.stop_if_any(f"cannot read the input ({files})")
    except InputError as error:
        return error
    return None


def explain_read_error(sources: list[Source | None], exc: Exception) -> InputError:
    """An InputError for a Polars failure while reading `sources`, as precise as we can make it."""
    found = find_read_error(sources)
    if found is not None:
        return found
    files = ", ".join(s.display for s in sources if s is not None)
    if isinstance(exc, pl.exceptions.ShapeError) and "non-equal length" in str(exc):
        # Two passes over one file gave different numbers of rows: it changed in between, even
        # though its size and time say otherwise (a file system with coarse timestamps).
        return changed_input(files, "it has another number of rows than when it was first read")
    return InputError(f"cannot read the input ({files}): {polars_reason(exc)}")


def row_problems(spec: str, role: str, raw: bytes, separator: str) -> list[Diagnostic]:
    """Every problem of the file's rows, read again with the csv module: bytes that are not
    UTF-8 (the first), rows with more fields than the header, a quoted field not closed (the
    rows after it cannot be told apart: the reading ends there), a bare carriage return, and
    rows with fewer fields (a warning: read as empty)."""
    found = Diagnostics()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        found.error(
            "encoding",
            f"{spec}: the {role} file is not UTF-8 at line {_line_at(raw, err.start)} "
            f"(byte {err.start}); if Excel saved it, pass --encoding cp1252 or save it as "
            "'CSV UTF-8'",
            file=spec,
        )
        text = raw.decode("utf-8-sig", errors="replace")
    rows = _count_fields(text, separator)
    if rows.long:
        more = f" and {len(rows.long) - MAX_LISTED} more" if len(rows.long) > MAX_LISTED else ""
        found.error(
            "long-rows",
            f"{spec}: the {role} file has rows with more fields than its header's "
            f"{rows.expected}: {', '.join(rows.long[:MAX_LISTED])}{more}; check the delimiter "
            "and quoting of those rows",
            file=spec,
        )
    if rows.broken is not None:
        found.error("broken-quote", _quote_error(spec, role, *rows.broken).message, file=spec)
    else:
        lone_cr = _lone_cr_line(raw)
        if lone_cr is not None:
            found.error(
                "bare-cr",
                f"{spec}: the {role} file has a bare carriage return (CR, without the line feed "
                f"of a line end) outside quotes on line {lone_cr}: some programs end a row "
                "there, others do not; remove it, or save the file again with Windows (CRLF) "
                "or Unix (LF) line ends",
                file=spec,
            )
    if rows.short:
        found.items.append(short_rows_found(spec, rows.short_count, rows.short))
    return found.items


def short_rows_found(spec: str, count: int, rows: list[int]) -> Diagnostic:
    """The warning for `count` rows with fewer fields than the header, the first at `rows`."""
    return Diagnostic(
        "short-rows",
        "warning",
        f"{spec}: {quantity(count, 'row', 'have')} fewer fields than the header "
        f"({row_list(rows, count)}); their missing fields were read as empty",
        file=spec,
        row=rows[0],
        hint="Excel drops trailing empty fields when it saves a CSV; if fields are missing in "
        "the middle of a row, check its delimiters and quotes",
    )


@dataclass
class _Fields:
    """What counting the fields of every row found (see `_count_fields`)."""

    expected: int = 0  #: the header's fields
    long: list[str] = dataclasses.field(default_factory=list)  #: "row 7 (12 fields)", ...
    short: list[int] = dataclasses.field(default_factory=list)  #: the first short rows
    short_count: int = 0
    broken: tuple[int, object] | None = None  #: the row whose quotes are broken, and why


def _count_fields(text: str, separator: str) -> _Fields:
    """Each row's fields against the header's (the header is row 1), up to a broken quote."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    out, row = _Fields(), 0  # row: the last row read whole
    try:
        for row, fields in enumerate(reader, start=1):
            if row == 1:
                out.expected = len(fields)
            elif len(fields) > out.expected:
                out.long.append(f"row {row} ({len(fields)} fields)")
            elif len(fields) < out.expected and out.expected > 1:
                out.short_count += 1
                if len(out.short) < MAX_LISTED:
                    out.short.append(row)
    except csv.Error as err:
        out.broken = (row + 1, err)
    return out


#: Streams (named pipes, `<(...)`) read into a private temporary file: spec -> that file.
_SPOOLED: dict[str, Path] = {}


def readable_path(spec: str, role: str = "input") -> Path:
    """The file to read `spec` from, as often as needed (the header is sniffed, then Polars scans
    it).

    A named pipe or a process substitution (`<(gunzip -c contacts.csv.gz)`, /dev/fd/N) can be read
    only once: it is copied once into a private temporary file (mode 0600, removed at exit).
    A device (a terminal, /dev/zero) is refused: it has no end to read to.
    """
    if spec in _SPOOLED:
        return _SPOOLED[spec]
    path = Path(spec)
    try:
        mode = path.stat().st_mode
    except OSError:
        return path  # missing or unreadable: said where it is opened
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise InputError(
            f"{spec}: is a device, not a {role} export; give the path of the exported file "
            "(or - with the file piped in)"
        )
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return path
    try:
        stream = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(f"{spec}: cannot read the {role} stream: {exc.strerror}") from None
    try:
        fd, name = tempfile.mkstemp(prefix="lifecycle-", suffix=path.suffix or ".csv")  # mode 0600
        spool = Path(name)
        _SPOOLED[spec] = spool
        if len(_SPOOLED) == 1:
            atexit.register(remove_spooled)
        with os.fdopen(fd, "wb") as out:
            _copy_stream(stream, out)
    except OSError as exc:
        raise InputError(
            f"{spec}: cannot read the {role} stream into {tempfile.gettempdir()} "
            f"(it is read once, to a temporary file): {exc.strerror}"
        ) from None
    finally:
        os.close(stream)
    return spool


def _copy_stream(stream: int, out) -> None:
    """Copy a non-blocking pipe to `out` until its writer closes it, waking up often enough for
    Ctrl-C to stop the run: a blocked read would not see it while Polars' threads run."""
    poll = select.poll()
    poll.register(stream, select.POLLIN)
    while True:
        if not poll.poll(200):
            # no writer yet, or it is slow: wait on (a named pipe nobody writes to waits for Ctrl-C)
            continue
        try:
            chunk = os.read(stream, 1 << 20)
        except BlockingIOError:
            continue
        if not chunk:
            return
        out.write(chunk)


def remove_spooled() -> None:
    """Remove the temporary copies of streams this run read."""
    while _SPOOLED:
        _, spool = _SPOOLED.popitem()
        with contextlib.suppress(OSError):
            spool.unlink()


def _lone_cr_line(raw: bytes) -> int | None:
    """The line of the first carriage return outside quotes that no line feed follows, or None.

    The csv module takes it as a line end, Polars as a character of the row: the two then disagree
    about the rows after it, so it has to be found before they are compared.
    """
    for found in re.finditer(rb"\r(?!\n)", raw):
        at = found.start()
        if at == len(raw) - 1:
            break  # a CR ending the file ends the last row
        if raw.count(b'"', 0, at) % 2 == 0:
            return _line_at(raw, at)
    return None


def check_parses(source: Source) -> None:
    """Read every row once, so a row that cannot be read stops the run before a stream (stdout) gets
    the first byte of an output that could not be finished."""
    if source.format != "csv":
        return
    try:
        source.frame.select(pl.all().null_count()).collect()
    except pl.exceptions.PolarsError as exc:
        raise explain_read_error([source], exc) from None


#: Headers only a German HubSpot export has (normalised): such a file gets the hubspot-de preset.
GERMAN_HEADERS = frozenset(
    {"datensatzid", "lebenszyklusphase", "lifecyclephase", "vorname", "nachname"}
)


def looks_german(path: str) -> bool:
    """Whether the header row of the export at `path` is a German HubSpot one (False when
    unreadable)."""
    try:
        with open(readable_path(path), "rb") as fh:
            head = fh.read(64 * 1024)
    except (OSError, InputError):
        return False
    for codec in ("utf-8-sig", "cp1252"):
        try:
            first = head.decode(codec).splitlines()[0] if head else ""
            break
        except (UnicodeDecodeError, IndexError):
            first = ""
    names = {normalise_header(h) for h in re.split(r"[,;\t|]", first)}
    return bool(names & GERMAN_HEADERS)


def normalise_header(header: str) -> str:
    """A header as compared with the accepted ones: case, spaces, underscores, hyphens and other
    punctuation ignored, so `lifecycle_stage`, `LIFECYCLE STAGE` and `Lifecycle-Stage` match."""
    return re.sub(r"[\W_]+", "", header.casefold())


def resolve_columns(
    spec: str,
    role: str,
    headers: tuple[str, ...],
    columns: dict[str, ColumnSpec],
    file_headers: tuple[str, ...] | None = None,
    *,
    found: Diagnostics | None = None,
) -> dict[str, str]:
    """Logical column -> the file's column for it (its name as the table knows it).

    `headers` are the table's column names, `file_headers` the same columns as the file
    writes them (repeats included). Two headers that both match a column the rules read
    are an error naming both: which one a rule meant cannot be guessed. A required column
    the file lacks is an error too. With `found`, both are added to it (and the columns that
    were found returned); without, they stop here (one InputError).
    """
    here = found if found is not None else Diagnostics()
    written = file_headers or headers
    by_norm: dict[str, list[int]] = {}
    for i, header in enumerate(written):
        by_norm.setdefault(normalise_header(header), []).append(i)
    resolved: dict[str, str] = {}
    clashes = []
    for name, col in columns.items():
        for candidate in col.headers:
            at = by_norm.get(normalise_header(candidate))
            if not at:
                continue
            if len(at) > 1:
                both = " and ".join(f"'{written[i]}' (column {i + 1})" for i in at)
                clashes.append(f"{both} both mean '{col.headers[0]}' ({name})")
            resolved[name] = headers[at[0]]
            break
    if clashes:
        here.error(
            "repeated-header",
            f"{spec}: the {role} file has two columns for the same thing: {'; '.join(clashes)}; "
            "remove or rename one of them (headers are compared ignoring case, spaces, _ and -)",
            file=spec,
            row=1,
        )
    _missing_columns(spec, role, written, columns, resolved, here)
    if found is None:
        here.stop_if_any(f"{spec}: the {role} file cannot be read")
    return resolved


def _missing_columns(
    spec: str,
    role: str,
    written: tuple[str, ...],
    columns: dict[str, ColumnSpec],
    resolved: dict[str, str],
    found: Diagnostics,
) -> None:
    """The required columns of `role` that the file lacks, as one error in `found`."""
    missing = [
        name
        for name in REQUIRED_COLUMNS[role]
        if name not in resolved and not columns[name].optional
    ]
    if not missing:
        return
    lines = []
    by_lower = {h.strip().lower(): h for h in written}
    for name in missing:
        wanted = columns[name].headers
        close = difflib.get_close_matches(wanted[0].lower(), list(by_lower), n=1, cutoff=0.6)
        hint = f"; did you mean '{by_lower[close[0]]}'?" if close else ""
        accepted = ", ".join(repr(w) for w in wanted)
        lines.append(f"column '{wanted[0]}' not found (accepted headers: {accepted}){hint}")
    found.error(
        "missing-column",
        f"{spec}: the {role} file is missing a required column: " + "; ".join(lines),
        file=spec,
        column=columns[missing[0]].headers[0],
        hint=salesforce_hint(written, columns),
    )


#: Headers of Salesforce exports (API names and report labels, normalised) that HubSpot does not
#: write.
SALESFORCE_HEADERS = frozenset(
    {
        "accountid",
        "hasoptedoutofemail",
        "emailoptout",
        "stagename",
        "leadid",
        "opportunityid",
        "iswon",
        "isclosed",
    }
)


def salesforce_hint(headers, columns: dict[str, ColumnSpec]) -> str | None:
    """A hint to use the salesforce preset, when the file has Salesforce headers the rules do not
    know."""
    known = {normalise_header(h) for spec in columns.values() for h in spec.headers}
    found = [h for h in headers if normalise_header(h) in SALESFORCE_HEADERS - known]
    if not found:
        return None
    shown = listed((f"'{h}'" for h in found[:3]), len(found))
    return f"this looks like a Salesforce export ({shown}): use --preset salesforce"

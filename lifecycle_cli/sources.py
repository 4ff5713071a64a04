"""Read CSV and Parquet exports as text and find the columns the rules name."""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import polars as pl

from .errors import InputError
from .rules import REQUIRED_COLUMNS, ColumnSpec

#: Delimiters we recognise in a header line, most common first (ties go to the earlier one).
DELIMITERS = (",", ";", "\t", "|")
#: How much of a file we look at to detect its encoding, delimiter and header.
SNIFF_BYTES = 1 << 20
#: Gzip's magic number: the file must be unpacked first.
GZIP_MAGIC = b"\x1f\x8b"
#: Most bad rows an error message lists.
MAX_LISTED = 10


@dataclass(frozen=True)
class CsvDialect:
    """How an input CSV was written, so the output can be written the same way."""

    separator: str = ","
    quote_all: bool = False
    line_terminator: str = "\n"
    bom: bool = False


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

    def has(self, name: str) -> bool:
        return name in self.resolved

    def rows_at(self, rows: list[int], *exprs: pl.Expr, index: str = "row") -> pl.DataFrame:
        """A few rows by 0-based row number (column `index`), with `exprs`; reads only up to the last of them."""
        if not rows:
            return self.frame.head(0).with_row_index(index).select(index, *exprs).collect()
        return (
            self.frame.head(max(rows) + 1).with_row_index(index)
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
    text = head[3:] if bom else head
    line_end = text.find(b"\n")
    first = text[: line_end if line_end >= 0 else len(text)]
    crlf = first.endswith(b"\r")
    counts = {d: _count_outside_quotes(first, d.encode()) for d in DELIMITERS}
    separator = max(DELIMITERS, key=lambda d: counts[d])
    if counts[separator] == 0:
        separator = ","
    fields = first.rstrip(b"\r").split(separator.encode())
    quote_all = bool(fields) and all(f.startswith(b'"') and f.endswith(b'"') and len(f) >= 2 for f in fields)
    return CsvDialect(separator=separator, quote_all=quote_all, line_terminator="\r\n" if crlf else "\n", bom=bom)


def _count_outside_quotes(line: bytes, delim: bytes) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == 0x22:
            quoted = not quoted
        elif not quoted and ch == delim[0]:
            count += 1
    return count


def read_source(
    spec: str,
    role: str,
    columns: dict[str, ColumnSpec],
    *,
    stdin: bytes | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> Source:
    """Open one export. `spec` is a path or "-" (then `stdin` holds the bytes)."""
    path = None if spec == "-" else Path(spec)
    fmt = "parquet" if path is not None and path.suffix.lower() in (".parquet", ".pq") else "csv"
    if path is not None:
        if not path.exists():
            raise InputError(f"{spec}: {role} file not found")
        if path.is_dir():
            raise InputError(f"{spec}: is a directory, expected a {role} export (CSV or Parquet)")
    if fmt == "parquet":
        try:
            frame = pl.scan_parquet(path)
            headers = tuple(frame.collect_schema().names())
        except Exception as exc:  # polars raises several kinds for a bad file
            raise InputError(f"{spec}: cannot read as Parquet: {str(exc).splitlines()[0]}") from None
        dialect = None
    else:
        frame, headers, dialect, data = _scan_csv(spec, path, stdin, delimiter, encoding, role)
    resolved = resolve_columns(spec, role, headers, columns)
    return Source(role, spec, path, fmt, dialect, frame, headers, resolved, None if fmt == "parquet" else data)


def _scan_csv(spec, path, stdin, delimiter, encoding, role):
    """Read a CSV export as UTF-8 text in its own dialect, or raise an InputError saying what is wrong with it."""
    head = _read_head(spec, path, stdin, role)
    if head.startswith(GZIP_MAGIC):
        # Reading it would work, but the default output name would then end in .gz and hold plain CSV.
        unpack = f"gunzip {spec}" if path is not None else "gunzip -c FILE | lifecycle classify - ..."
        raise InputError(f"{spec}: the {role} file is gzip-compressed; unpack it first ({unpack})")
    codec = _choose_codec(spec, role, head, encoding)
    data: bytes | None = stdin if path is None else None
    if codec is not None:
        # Not UTF-8: decode the whole file once and hand Polars UTF-8 bytes.
        data = _decode(spec, role, path.read_bytes() if path is not None else stdin, codec)
        head = data[:SNIFF_BYTES]
    _check_text(spec, role, head)
    dialect = detect_dialect(head)
    if delimiter:
        dialect = CsvDialect(delimiter, dialect.quote_all, dialect.line_terminator, dialect.bom)
    _check_header(spec, role, head, dialect.separator)
    frame = _read_frame(path, data, dialect.separator)
    return frame, tuple(frame.collect_schema().names()), dialect, data


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
            raise InputError(f"--encoding: unknown encoding '{encoding}' (try utf-8, cp1252, latin-1 or utf-16)") from None
        return None if name in ("utf-8", "utf-8-sig") else encoding
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text"
    if b"\0" in head:
        raise _not_text(spec, role)
    if _is_utf8(head):
        return None
    return _detect_encoding(spec, role, head)


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut in two by the sniff window is not an error.
        return len(head) == SNIFF_BYTES and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def _detect_encoding(spec: str, role: str, head: bytes) -> str:
    """The encoding charset-normalizer finds for bytes that are not UTF-8, cp1252 where it fits as well."""
    best = charset_normalizer.from_bytes(head).best()
    if best is None:
        raise _not_text(spec, role)
    # Statistics cannot tell the Western code pages apart on a short export (it may say cp1250 for "Müller");
    # Excel on a Western Windows writes cp1252, so it wins whenever it reads the bytes as cleanly.
    western = charset_normalizer.from_bytes(head, cp_isolation=["cp1252"]).best()
    return "cp1252" if western is not None and western.chaos <= best.chaos else best.encoding


def _decode(spec: str, role: str, raw: bytes, codec: str) -> bytes:
    try:
        return raw.decode(codec).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{spec}: cannot decode the {role} file as {codec} (line {_line_at(raw, exc.start)}, byte {exc.start}); "
            "pass the right --encoding or save it as 'CSV UTF-8'"
        ) from None


def _line_at(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _not_text(spec: str, role: str) -> InputError:
    return InputError(f"{spec}: the {role} file does not look like a CSV text file (is it a spreadsheet, archive or image?)")


def _check_text(spec: str, role: str, head: bytes) -> None:
    if not head.lstrip(codecs.BOM_UTF8).strip():
        raise InputError(f"{spec}: the {role} file is empty; expected a header row and data rows")
    if b"\0" in head:
        raise _not_text(spec, role)


def _check_header(spec: str, role: str, head: bytes, separator: str) -> None:
    """Reject repeated header names: Polars would rename one, and the output would not match the input."""
    text = head.decode("utf-8-sig", errors="replace")
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True), [])
    except csv.Error as err:
        raise _quote_error(spec, role, 1, err) from None
    if any("\n" in name or "\r" in name for name in header):
        # Polars would take the rest of the file as one header name.
        raise _quote_error(spec, role, 1, "a header name runs over the end of the line")
    positions: dict[str, list[int]] = {}
    for number, name in enumerate(header, start=1):
        positions.setdefault(name, []).append(number)
    repeated = [f"{repr(name) if name else 'empty'} (columns {', '.join(map(str, at))})"
                for name, at in positions.items() if len(at) > 1]
    if repeated:
        raise InputError(f"{spec}: the {role} file repeats column headers: {'; '.join(repeated)}; "
                         "rename or remove the duplicates")


def _quote_error(spec: str, role: str, row: int, detail: object) -> InputError:
    return InputError(f"{spec}: the {role} file has a quoted field that is not closed properly in row {row} ({detail}); "
                      'every field that starts with " needs a closing " and quotes inside it doubled ("")')


def _read_frame(path: Path | None, data: bytes | None, separator: str) -> pl.LazyFrame:
    """The CSV as a lazy scan: rows are parsed only when a pipeline runs (see `explain_read_error`)."""
    source = io.BytesIO(data) if data is not None else path
    return pl.scan_csv(source, separator=separator, infer_schema=False, quote_char='"')


def polars_reason(exc: Exception) -> str:
    """The first line of a Polars error, without the cell values it quotes (they may be personal data)."""
    return re.sub(r"`[^`]*`", "a value", str(exc).splitlines()[0])


def find_read_error(sources: list[Source | None]) -> InputError | None:
    """Polars failed while reading: the file and rows at fault, found with the csv module, or None."""
    for source in sources:
        if source is None or source.format != "csv":
            continue
        raw = source.data if source.data is not None else source.path.read_bytes() if source.path else b""
        error = _diagnose(source.display, source.role, raw, source.dialect.separator)
        if error is not None:
            return error
    return None


def explain_read_error(sources: list[Source | None], exc: Exception) -> InputError:
    """An InputError for a Polars failure while reading `sources`, as precise as we can make it."""
    found = find_read_error(sources)
    if found is not None:
        return found
    files = ", ".join(s.display for s in sources if s is not None)
    return InputError(f"cannot read the input ({files}): {polars_reason(exc)}")


def _diagnose(spec: str, role: str, raw: bytes, separator: str) -> InputError | None:
    """Say which rows Polars could not read, scanning the file again with the csv module (None: none found)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return InputError(f"{spec}: the {role} file is not UTF-8 at line {_line_at(raw, err.start)} (byte {err.start}); "
                          "if Excel saved it, pass --encoding cp1252 or save it as 'CSV UTF-8'")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    expected, ragged, row = 0, [], 0  # row: the last row read whole; the header is row 1
    try:
        for row, fields in enumerate(reader, start=1):
            if row == 1:
                expected = len(fields)
            elif len(fields) > expected:
                ragged.append(f"row {row} ({len(fields)} fields)")
    except csv.Error as err:
        return _quote_error(spec, role, row + 1, err)
    if ragged:
        more = f" and {len(ragged) - MAX_LISTED} more" if len(ragged) > MAX_LISTED else ""
        return InputError(f"{spec}: the {role} file has rows with more fields than its header's {expected}: "
                          f"{', '.join(ragged[:MAX_LISTED])}{more}; check the delimiter and quoting of those rows")
    return None


def resolve_columns(spec: str, role: str, headers: tuple[str, ...], columns: dict[str, ColumnSpec]) -> dict[str, str]:
    by_lower = {h.strip().lower(): h for h in headers}
    resolved: dict[str, str] = {}
    for name, col in columns.items():
        for candidate in col.headers:
            if candidate.strip().lower() in by_lower:
                resolved[name] = by_lower[candidate.strip().lower()]
                break
    missing = [name for name in REQUIRED_COLUMNS[role] if name not in resolved]
    if missing:
        lines = []
        for name in missing:
            wanted = columns[name].headers
            close = difflib.get_close_matches(wanted[0].lower(), list(by_lower), n=1, cutoff=0.6)
            hint = f"; did you mean '{by_lower[close[0]]}'?" if close else ""
            lines.append(f"column '{wanted[0]}' not found (accepted headers: {', '.join(repr(w) for w in wanted)}){hint}")
        raise InputError(f"{spec}: the {role} file is missing a required column: " + "; ".join(lines))
    return resolved

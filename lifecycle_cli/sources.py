"""Read CSV and Parquet exports as text and find the columns the rules name."""

from __future__ import annotations

import codecs
import difflib
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .errors import InputError
from .rules import REQUIRED_COLUMNS, ColumnSpec

#: Delimiters we recognise in a header line, most common first (ties go to the earlier one).
DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 16


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

    def has(self, name: str) -> bool:
        return name in self.resolved

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
        frame, headers, dialect = _scan_csv(spec, path, stdin, delimiter, encoding, role)
    resolved = resolve_columns(spec, role, headers, columns)
    return Source(role, spec, path, fmt, dialect, frame, headers, resolved)


def _scan_csv(spec, path, stdin, delimiter, encoding, role):
    if path is not None:
        try:
            with path.open("rb") as fh:
                head = fh.read(SNIFF_BYTES)
        except OSError as exc:
            raise InputError(f"{spec}: cannot read the {role} file: {exc.strerror}") from None
    else:
        head = (stdin or b"")[:SNIFF_BYTES]
    if not head.strip():
        raise InputError(f"{spec}: the {role} file is empty; expected a header row and data rows")
    data: bytes | None = stdin if path is None else None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (encoding and encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig")):
        # Not UTF-8: decode the whole file once and hand Polars UTF-8 bytes.
        raw = path.read_bytes() if path is not None else stdin
        codec = encoding or "utf-16"
        try:
            data = raw.decode(codec).encode("utf-8")
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(f"{spec}: cannot decode the {role} file as {codec}: {exc}") from None
        head = data[:SNIFF_BYTES]
    else:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a character cut by the sniff window
                raise InputError(
                    f"{spec}: the {role} file is not UTF-8 (byte {exc.start} of the file); "
                    "if Excel saved it, pass --encoding cp1252 or save it as 'CSV UTF-8'"
                ) from None
    dialect = detect_dialect(head)
    if delimiter:
        dialect = CsvDialect(delimiter, dialect.quote_all, dialect.line_terminator, dialect.bom)
    source = io.BytesIO(data) if data is not None else path
    try:
        frame = pl.scan_csv(source, separator=dialect.separator, infer_schema=False, quote_char='"')
        headers = tuple(frame.collect_schema().names())
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{spec}: cannot read the {role} file as CSV: {str(exc).splitlines()[0]}") from None
    return frame, headers, dialect


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

"""Every problem a run finds, as data: collected for the whole run, errors stop it, warnings are
reported. One place turns them into text (`as_text`, `headline`) and into JSON (`as_dict`): the
terminal, the reports, `validate` and a stopped run's JSON all draw them with these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import InputError, RulesError

ERROR, WARNING, NOTE = "error", "warning", "note"

#: The keys of a diagnostic as data (JSON reports, `validate --format json`), in this order.
KEYS = ("code", "severity", "file", "line", "row", "column", "message", "hint")


def quantity(count: int, noun: str, verb: str = "") -> str:
    """A count with its noun, singular for one: '1 contact', '2,000 contacts', '1 company'; with
    a verb given in its plural form, the verb agrees: '1 row has', '3 rows have', '1 id is'."""
    if count == 1:
        text = f"1 {noun}"
        if verb:
            text += " " + _SINGULAR_VERBS.get(verb, verb + "s")
        return text
    plural = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    return f"{count:,} {plural}" + (f" {verb}" if verb else "")


_SINGULAR_VERBS = {"have": "has", "are": "is"}


def row_list(rows: Iterable[object], total: int) -> str:
    """Row numbers as a user counts them (`rows`, the first of `total`): "row 3", "rows 3, 9
    and 12 more"."""
    return f"row{'s' if total > 1 else ''} {listed(rows, total)}"


def listed(items: Iterable[object], total: int, more: str = "more") -> str:
    """The first items of a list `total` long, for a message: "3, 9, 12 and 99,980 more" when some
    are left out, so a capped list never reads as the whole of it."""
    shown = [str(item) for item in items]
    rest = total - len(shown)
    return ", ".join(shown) + (f" and {rest:,} {more}" if rest > 0 else "")


@dataclass(frozen=True)
class Diagnostic:
    """One finding. `message` reads on its own (an export's finding names the file and column);
    the other fields say the same as data, for JSON reports and tools. `row` counts as a
    spreadsheet does: the header is row 1. `line` is a line of a text file (the rules file),
    which the message does not name itself: it is shown before it, as `file:line: message`."""

    code: str
    severity: str
    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    hint: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return as_dict(self)

    def __str__(self) -> str:
        return as_text(self)


Found = Diagnostic | Mapping[str, Any]


def _fields(found: Found) -> Mapping[str, Any]:
    return asdict(found) if isinstance(found, Diagnostic) else found


def as_dict(found: Found) -> dict[str, Any]:
    """A finding as data, for JSON: the keys of KEYS, in that order (None where not known)."""
    fields = _fields(found)
    return {key: fields.get(key) for key in KEYS}


def headline(found: Found, *, severity: bool = False) -> str:
    """A finding's one-line form: `file:line: message` when it has a line, else its message;
    with `severity`, as a compiler says it (`file:line: error: message`)."""
    fields = _fields(found)
    label = f"{fields['severity']}: " if severity else ""
    if fields.get("line"):
        return f"{fields['file']}:{fields['line']}: {label}{fields['message']}"
    return label + fields["message"]


def as_text(
    found: Found, indent: str = "    ", *, severity: bool = False, inline: bool = False
) -> str:
    """A finding for a person: its headline, then its hint on a line of its own (after `indent`),
    or with `inline` in parentheses after it (a list item of a report)."""
    fields = _fields(found)
    text = headline(fields, severity=severity)
    if not fields.get("hint"):
        return text
    return text + (f" (hint: {fields['hint']})" if inline else f"\n{indent}hint: {fields['hint']}")


def from_rules_error(error: RulesError, severity: str = ERROR) -> Diagnostic:
    """A rules file's problem as a finding (code `rules`), its place as fields."""
    message = error.message
    if error.line is None and error.file is not None:
        message = f"{error.file}: {message}"  # no line to show it before: the message names it
    return Diagnostic(
        "rules", severity, message.strip(), file=error.file, line=error.line, hint=error.hint
    )


@dataclass
class Diagnostics:
    """The run's findings, in the order found."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, code: str, severity: str, message: str | None, **where: Any) -> None:
        if message:
            self.items.append(Diagnostic(code, severity, message, **where))

    def error(self, code: str, message: str | None, **where: Any) -> None:
        self.add(code, ERROR, message, **where)

    def warn(self, code: str, message: str | None, **where: Any) -> None:
        self.add(code, WARNING, message, **where)

    def note(self, code: str, message: str | None, **where: Any) -> None:
        """Worth knowing, nothing to act on (a column declared absent, one whose lack kept nobody):
        --strict does not fail on it."""
        self.add(code, NOTE, message, **where)

    def extend(self, found: Iterable[Diagnostic]) -> None:
        self.items.extend(found)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == WARNING]

    def stop_on_errors(self, what: str = "cannot classify") -> None:
        """Raise one InputError listing every error found so far (nothing has been written yet)."""
        if self.errors:
            raise self.stopped(f"{what}:\n  " + "\n  ".join(as_text(d) for d in self.errors))

    def stop_if_any(self, what: str) -> None:
        """Raise one InputError for the errors found so far, if any: a single one as it is (its
        message and hint), several listed after `what`, each with its own hint, and the
        warnings after them (a run that stops on errors shows its warnings too)."""
        errors, warnings = self.errors, self.warnings
        if len(errors) == 1 and not warnings:
            raise InputError(errors[0].message, hint=errors[0].hint, diagnostics=self.items)
        if errors:
            count = f"{len(errors)} problem{'s' if len(errors) > 1 else ''}"
            if warnings:
                count += f", {len(warnings)} warning{'s' if len(warnings) > 1 else ''}"
            lines = [as_text(d) for d in errors] + [f"warning: {as_text(d)}" for d in warnings]
            raise self.stopped(f"{what} ({count}):\n  " + "\n  ".join(lines))

    def stopped(self, message: str) -> InputError:
        """An InputError with `message` that carries every finding (for --format json)."""
        return InputError(message, diagnostics=self.items)


def strict_failure(diagnostics: Iterable[Found]) -> InputError | None:
    """--strict: the warnings of a finished run as one error (exit 2), or None when there are
    none."""
    warnings = [d for d in diagnostics if _fields(d)["severity"] == WARNING]
    if not warnings:
        return None
    lines = [as_text(d) for d in warnings]
    return InputError(
        f"--strict: {len(warnings)} warning(s), so nothing was written:\n  " + "\n  ".join(lines)
    )

"""Every problem a run finds, as data: collected for the whole run, errors stop it, warnings are reported."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import InputError

ERROR, WARNING, NOTE = "error", "warning", "note"


def listed(items: Iterable[object], total: int, more: str = "more") -> str:
    """The first items of a list `total` long, for a message: "3, 9, 12 and 99,980 more" when some
    are left out, so a capped list never reads as the whole of it."""
    shown = [str(item) for item in items]
    rest = total - len(shown)
    return ", ".join(shown) + (f" and {rest:,} {more}" if rest > 0 else "")


@dataclass(frozen=True)
class Diagnostic:
    """One finding. `message` reads on its own (it names the file and column); the other
    fields say the same as data, for JSON reports and tools. `row` counts as a spreadsheet
    does: the header is row 1."""

    code: str
    severity: str
    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: out[k] for k in ("code", "severity", "file", "row", "column", "message", "hint")}

    def __str__(self) -> str:
        return describe(self.to_dict())


def describe(found: dict[str, Any], indent: str = "    ") -> str:
    """A finding (as in `Diagnostic.to_dict()`) for a terminal: the message, then its hint."""
    return found["message"] + (f"\n{indent}hint: {found['hint']}" if found.get("hint") else "")


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

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == WARNING]

    def stop_on_errors(self, what: str = "cannot classify") -> None:
        """Raise one InputError listing every error found so far (nothing has been written yet)."""
        if self.errors:
            error = InputError(f"{what}:\n  " + "\n  ".join(str(d) for d in self.errors))
            error.diagnostics = [d.to_dict() for d in self.items]  # for --format json
            raise error


def strict_failure(diagnostics: list[dict[str, Any]]) -> InputError | None:
    """--strict: the warnings of a finished run as one error (exit 2), or None when there are none."""
    warnings = [d for d in diagnostics if d["severity"] == WARNING]
    if not warnings:
        return None
    lines = [describe(d) for d in warnings]
    return InputError(
        f"--strict: {len(warnings)} warning(s), so nothing was written:\n  " + "\n  ".join(lines)
    )

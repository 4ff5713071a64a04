"""Exit codes and the error family every command maps to a message and an exit code."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

EXIT_OK = 0  #: success, or nothing would change
EXIT_CHANGES = 1  #: --check or --fail-on found something
EXIT_USAGE = 2  #: bad arguments, rules, or input
EXIT_INTERRUPTED = 130  #: Ctrl-C (128 + SIGINT)


class LifecycleError(Exception):
    """An error the user can fix; its message is shown as is, without a traceback.

    `diagnostics`: when the error stops a run that found several problems, every finding of
    the run (errors, warnings, notes: diagnostics.Diagnostic, which imports this module) as
    data, for --format json; the message lists the errors.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        diagnostics: Iterable[Any] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.diagnostics: tuple[Any, ...] = tuple(diagnostics)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class RulesError(LifecycleError):
    """The rules file is unreadable, invalid, or inconsistent.

    `file`, `line` (and `column`, for YAML syntax) say where; `message` is what is wrong there,
    without the place. Shown as `file:line: message` (`file: message` without a line).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file, self.line, self.column = file, line, column

    @property
    def where(self) -> str | None:
        """`file:line[:column]`, `file`, or None when the problem is in no file (an option)."""
        if self.file is None:
            return None
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")

    def __str__(self) -> str:
        where = self.where
        text = f"{where}: {self.message}" if where else self.message
        return text if not self.hint else f"{text}\n  hint: {self.hint}"


class InputError(LifecycleError):
    """An input export is missing, unreadable, or holds values the rules cannot use."""


class OutputError(LifecycleError):
    """An output cannot be written where it was asked for."""


class Terminated(BaseException):
    """A signal asking the run to stop (SIGTERM from cron or a CI timeout, SIGHUP from a closed
    terminal, ...). A BaseException like Ctrl-C's KeyboardInterrupt, so the same cleanup runs: no
    temp file is left and no output is half-written. The exit code is 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

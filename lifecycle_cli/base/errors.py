"""Exit codes and the error family every command maps to a message and an exit code."""

from __future__ import annotations

EXIT_OK = 0  #: success, or nothing would change
EXIT_CHANGES = 1  #: --check or --fail-on found something
EXIT_USAGE = 2  #: bad arguments, rules, or input
EXIT_INTERRUPTED = 130  #: Ctrl-C (128 + SIGINT)


class LifecycleError(Exception):
    """An error the user can fix; its message is shown as is, without a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class RulesError(LifecycleError):
    """The rules file is unreadable, invalid, or inconsistent."""


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

"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..base.errors import (
    EXIT_CHANGES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    InputError,
    LifecycleError,
    Terminated,
)
from ..base.redact import debug_trace
from ..base.safe import json_safe, terminal_safe
from ..io import locks
from ..io.plan import WRITTEN
from .options import Format

if TYPE_CHECKING:
    from ..core.outputs import HistoryPlan


def console(no_color: bool, stream=None):
    from rich.console import Console

    from ..io.streams import tolerant

    stream = tolerant(stream or sys.stderr)
    return Console(
        file=stream,
        no_color=no_color or bool(os.environ.get("NO_COLOR")),
        highlight=False,
        width=None if stream.isatty() else 120,
    )


def run_command(debug: bool, body: Callable[[], int]) -> None:
    """Run a command body and turn every outcome into an exit code and, for errors, one clear
    line."""
    written_files().clear()  # the in-process test runner calls run_command many times
    previous = catch_signals()
    try:
        code = body()
    except LifecycleError as exc:
        if debug:
            say(terminal_safe(debug_trace(exc)))
        say(f"lifecycle: error: {terminal_safe(str(exc))}\n")
        code = exc.exit_code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
        # Polars hands back a Ctrl-C it caught and Python can raise the same Ctrl-C again here.
        while True:
            try:
                say_interrupted()
                break
            except KeyboardInterrupt:
                continue
    except Terminated as exc:
        say_terminated(exc)
        code = 128 + exc.signum
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other Unix tools do.
        silence_stdout()
        code = EXIT_OK
    except typer.Exit:
        raise
    except Exception as exc:
        code = say_unexpected(exc, debug)
    finally:
        release_targets()
        restore_signals(previous)
    raise typer.Exit(code)


def say_terminated(exc: Terminated) -> None:
    import signal

    name = signal.Signals(exc.signum).name
    done = written_files()
    changed = (
        f"after writing {', '.join(done)} (complete); nothing was half-written"
        if done
        else "no output file was changed"
    )
    say(f"lifecycle: stopped by {name}; {changed}\n")


def say_unexpected(exc: Exception, debug: bool) -> int:
    """An exception no check expected: a standard stream or the system refusing (exit 2, one
    line), else a bug (exit 3; the traceback only with --debug)."""
    from ..io.streams import stream_write_failure

    if debug:
        say(terminal_safe(debug_trace(exc)))
    message = stream_write_failure(exc) if isinstance(exc, OSError) else None
    if message is not None:  # a standard stream closed or full, the working directory gone
        say(f"lifecycle: error: {message}\n")
        silence_stdout()  # what is still buffered for stdout cannot be written either
        return EXIT_USAGE
    if isinstance(exc, OSError):  # the system refused (EIO, EROFS, EDQUOT, ...): no bug either
        where = f"{terminal_safe(str(exc.filename))}: " if exc.filename else ""
        say(f"lifecycle: error: {where}{exc.strerror or exc}\n")
        return EXIT_USAGE
    if not debug:  # a bug, not a user mistake
        say(
            f"lifecycle: internal error: {type(exc).__name__}; run again with --debug for "
            "details, and please report it\n"
        )
    return 3


def release_targets() -> None:
    """Let go of the locks on this run's targets, however it ended."""
    locks.release_all()


#: Signals whose default action ends the process: each is turned into a `Terminated` so the
#: temp files of a write in progress are removed (SIGINT is Python's KeyboardInterrupt already).
STOP_SIGNALS = (
    "SIGTERM",
    "SIGHUP",
    "SIGQUIT",
    "SIGUSR1",
    "SIGUSR2",
    "SIGALRM",
    "SIGXCPU",
    "SIGXFSZ",
)


def catch_signals() -> dict:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum, _frame):
        raise Terminated(signum)

    previous = {}
    for name in STOP_SIGNALS:
        number = getattr(signal, name, None)
        if number is None:
            continue
        try:
            if signal.getsignal(number) == signal.SIG_IGN:
                continue  # `nohup` ignores SIGHUP on purpose: keep it that way
            previous[number] = signal.signal(number, stop)
        except (OSError, ValueError):
            pass
    return previous


def restore_signals(previous: dict) -> None:
    import signal

    for number, handler in previous.items():
        signal.signal(number, handler)


def say(message: str) -> None:
    """Write a message on stderr, if there is one to write on (it may be closed, `2>&-`)."""
    try:
        sys.stderr.write(message)
        sys.stderr.flush()
    except (LifecycleError, OSError):
        pass


def say_interrupted() -> None:
    done = written_files()
    if done:
        say(
            f"lifecycle: interrupted after writing {', '.join(done)} (complete); nothing was "
            "half-written\n"
        )
    else:
        say("lifecycle: interrupted; no output file was changed\n")


def written_files() -> list[str]:
    """The files this run has completed (the output plan records them as it commits)."""
    return WRITTEN


def silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def choose_rules(
    explicit: str | None,
    preset: str | None = None,
    contacts: str | None = None,
    *,
    name: str = "--rules",
):
    """--rules, --preset, $LIFECYCLE_RULES, ./rules.yaml, else the built-in rules; for a German
    HubSpot export (German header row) the built-in hubspot-de preset. Returns the rules and
    their file. `name`: how the command takes a rules file (--rules, or the RULES argument),
    for the messages."""

    from ..io.sources import looks_german
    from ..rules.model import discover_rules, load_rules, preset_path

    if explicit and preset:
        raise InputError(f"{name} and --preset both choose the rules; give one of them")
    found = None
    if preset:
        path, display = preset_path(preset), f"preset {preset}"
    else:
        path, display, found = discover_rules(explicit, contacts)
        if display == "default rules" and contacts and contacts != "-" and looks_german(contacts):
            path, display = (
                preset_path("hubspot-de"),
                f"preset hubspot-de (German headers in {contacts})",
            )
    if found:
        say_found(display, found, name)
    ruleset = load_rules(path, display)
    if found:
        ruleset = replace(ruleset, found_by_itself=found)
    from ..base.diagnostics import as_text

    for warning in ruleset.warnings:
        sys.stderr.write(f"lifecycle: warning: {terminal_safe(as_text(warning, '  '))}\n")
    return ruleset, path


def say_found(display: str, found: str, name: str) -> None:
    """Nothing picked up silently: a rules file nobody named is named on stderr, even with -q."""
    how = "--rules FILE" if name == "--rules" else "the rules file as RULES"
    say(
        f"lifecycle: note: using the rules in {terminal_safe(display)}, found by itself "
        f"{terminal_safe(found)}; give {how} to choose the rules yourself\n"
    )


def reader(
    inputs: list[str],
    delimiter: str | None,
    encoding: str | None,
    *,
    defer_stage: bool = False,
    tables: dict[str, Path] | None = None,
):
    """A function opening one input; stdin (-) is read once, for the one input that names it.
    `defer_stage`: see sources.read_source (classify reports a missing stage column with the
    rest). `tables`: the Parquet file the engine wrote each table:NAME input to."""
    from ..io.sources import read_source

    if inputs.count("-") > 1:
        raise InputError("only one input can come from stdin (-)")
    if delimiter is not None and len(delimiter.encode()) != 1:
        raise InputError(
            f"--delimiter must be one character, got '{delimiter}' (for tab, type --delimiter "
            "$'\\t')"
        )
    stdin = sys.stdin.buffer.read() if "-" in inputs else None

    def read(spec: str, role: str, columns):
        return read_source(
            spec,
            role,
            columns,
            stdin=stdin if spec == "-" else None,
            delimiter=delimiter,
            encoding=encoding,
            defer_stage=defer_stage,
            file=(tables or {}).get(spec),
        )

    return read


def export_headers(
    rules, header_files: tuple[tuple[str, str | None], ...], delimiter, encoding
) -> dict[str, list[str]]:
    """Role -> the headers of each (role, path) header file given, as the file spells them (a
    warehouse loads a quoted header as a CSV reader does): `lifecycle sql` and `lifecycle dbt`
    name the tables' columns from these."""
    read = reader([p for _, p in header_files if p], delimiter, encoding)
    headers = {}
    for role, path in header_files:
        if path:
            found = read(path, role, rules.columns[role])
            headers[role] = list(found.file_headers or found.headers)
    return headers


def emit(
    result: dict,
    fmt: Format,
    reports: list[str],
    gates,
    plan,
    *,
    quiet: bool,
    no_color: bool,
    text_stream,
    data_stream,
    rules_path: Path | None = None,
    redact: bool = False,
    run_facts: dict | None = None,
    history: HistoryPlan | None = None,
    html_extra: Callable[[], dict] | None = None,
) -> int:
    """Judge the --fail-on gates (their outcome is part of the report), write the --report files,
    the history record and everything else staged in `plan` (together), then print the report;
    returns the exit code."""
    from ..base.redact import redacted
    from ..core.gates import evaluate
    from ..io.output import text_writer
    from ..io.streams import write_data
    from ..report.render import format_for_path, render, render_rich

    result["run"] = run_facts or report_stamp(rules_path)
    if redact:
        result = redacted(result)
    judged = evaluate(gates, result, history.earlier if history else None)
    if gates:
        result["gates"] = judged
    if history is not None and history.target is not None:
        from ..io.history import input_facts, record, to_json

        facts = [input_facts(role, path) for role, path in history.inputs]
        plan.stage(history.target, text_writer(to_json(record(result, facts))))

    page: list[str] = []  # the HTML report, made once: with every change it can be large

    def rendered(kind: str) -> str:
        if kind != "html":
            return render(result, kind)
        if not page:
            page.append(render({**result, **(html_extra() if html_extra else {})}, "html"))
        return page[0]

    for path in reports:
        kind = format_for_path(path)
        plan.stage(path, text_writer(text_report(result) if kind == "text" else rendered(kind)))
    if fmt != Format.text:
        # Data for a program: written before the files are moved into place, so a closed or full
        # stdout stops the run with nothing written (exit 2), like any other output that fails.
        write_data(data_stream, rendered(fmt.value))
    plan.commit()
    if fmt == Format.text and not quiet:
        render_rich(result, console(no_color, text_stream))
    return say_gates(judged)


def say_gates(judged: list[dict]) -> int:
    """Each tripped --fail-on gate on stderr (exit 1), and each that could not be judged."""
    failures = [g["reason"] for g in judged if g["tripped"]]
    for line in failures:
        sys.stderr.write(f"lifecycle: {line}\n")
    for gate in judged:
        if not gate["tripped"] and "not judged" in gate["reason"]:
            sys.stderr.write(f"lifecycle: note: {gate['reason']}\n")
    return EXIT_CHANGES if failures else EXIT_OK


def progress_line(quiet: bool, no_color: bool, what: str):
    """A progress line on stderr for long runs: only on a terminal, never with -q (nor in cron
    logs)."""
    try:
        interactive = sys.stderr.isatty()
    except (AttributeError, ValueError):
        interactive = False
    from ..base.progress import NoProgress, TerminalProgress

    return TerminalProgress(console(no_color), what) if interactive and not quiet else NoProgress()


def report_stamp(rules_path: Path | None) -> dict:
    """When the report was made and from which rules (a short hash of the file: which version).
    SOURCE_DATE_EPOCH, the reproducible-builds convention, fixes the time."""
    from datetime import datetime

    from ..report.rules_view import rules_hash

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        at = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    except (ValueError, OverflowError, OSError):
        at = datetime.now(UTC)
    return {
        "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rules_hash": rules_hash(rules_path) if rules_path else None,
    }


def text_report(result: dict) -> str:
    import io

    from rich.console import Console

    from ..report.render import render_rich

    buffer = io.StringIO()
    render_rich(
        result, Console(file=buffer, width=120, no_color=True, highlight=False, color_system=None)
    )
    return buffer.getvalue()


@contextmanager
def say_stop(fmt: Format, command: str, stream):
    """With --format json, a run stopped by its checks also prints the findings that stopped it,
    as JSON on `stream`, for the tools that read the report."""
    try:
        yield
    except InputError as exc:
        if fmt == Format.json and exc.diagnostics:
            import json

            from ..base.diagnostics import as_dict

            diagnostics = [as_dict(d) for d in exc.diagnostics]
            stopped = {"command": command, "stopped": True, "diagnostics": diagnostics}
            stream.write(json_safe(json.dumps(stopped, indent=2, ensure_ascii=False)) + "\n")
        raise


def say_warnings(diagnostics) -> None:
    """The run's warnings on stderr, when no text report lists them (rules warnings were shown
    when the rules were loaded)."""
    from ..base.diagnostics import as_text

    for found in diagnostics:
        if found["severity"] == "warning" and found["code"] != "rules":
            sys.stderr.write(f"lifecycle: warning: {terminal_safe(as_text(found, indent='  '))}\n")

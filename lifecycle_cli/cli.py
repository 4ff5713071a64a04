"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand

from . import __version__
from .base.errors import (
    EXIT_CHANGES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    InputError,
    LifecycleError,
    OutputError,
    Terminated,
)
from .base.redact import debug_trace
from .base.safe import json_safe, terminal_safe

app = typer.Typer(
    name="lifecycle",
    help="Put every CRM contact into the right lifecycle stage, from your HubSpot or Salesforce exports, and show what changed.",
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: quick (well under 0.2 s) and readable in any terminal or log
    pretty_exceptions_enable=False,  # tracebacks would show local variables, and rows hold personal data
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nExample: lifecycle classify contacts.csv --deals deals.csv --consent consent.csv",
)


class StageValues(str, Enum):
    auto = "auto"
    label = "label"
    value = "value"


RulesOpt = Annotated[
    str | None,
    typer.Option(
        "--rules",
        metavar="FILE",
        help="Rules file. Default: $LIFECYCLE_RULES, else rules.yaml in the current folder, else rules.yaml beside "
        "the contacts file, else the built-in rules. Every report names the file used and a hash of it.",
    ),
]
DealsOpt = Annotated[
    str | None,
    typer.Option(
        "--deals",
        metavar="FILE",
        help="Deals export. Without it, deal rules cannot fire and nobody is demoted for lack of deals.",
    ),
]
ConsentOpt = Annotated[
    str | None,
    typer.Option(
        "--consent",
        metavar="FILE",
        help="Consent records (one row per subscription event). Without it, the contacts' own opt-out and "
        "confirmation columns decide.",
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print no report; files asked for are still written.")
]
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Show the full error trace (for bug reports).")
]
NoColorOpt = Annotated[
    bool, typer.Option("--no-color", help="No colours in the report (also: NO_COLOR=1).")
]
DelimiterOpt = Annotated[
    str | None,
    typer.Option(
        "--delimiter",
        metavar="CHAR",
        help="CSV delimiter of the inputs. Default: detected from the header (, ; tab |).",
    ),
]
EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        metavar="NAME",
        help="Text encoding of CSV inputs, e.g. cp1252 for files saved by Excel. Default: UTF-8.",
    ),
]
ReportOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--report",
        metavar="FILE",
        help="Also write the report to FILE: .json, .md (Markdown), .html (a page to open in a browser), else text. Repeatable.",
    ),
]
PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        metavar="NAME",
        help="Built-in rules for an export's language or CRM: hubspot (the default), hubspot-de (German HubSpot; "
        "chosen by itself when the contacts have German headers), salesforce (contacts or leads, opportunities).",
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Treat every warning (missing columns, weak links, short rows, ...) as an error: exit 2, write nothing. For cron.",
    ),
]
FailOnOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-on",
        metavar="GATE",
        help="Exit 1 when the result has: any, demotion, promotion, sideways, added, removed, or a move such as customer->lead "
        "(stage names or *). Repeatable.",
    ),
]

ChangesOpt = Annotated[
    str | None,
    typer.Option(
        "--changes",
        metavar="FILE",
        help="Also write every changed record, one row each, to FILE (.parquet: Parquet, else CSV): "
        "Record ID, Name, Stage Before, Stage After, Direction, Rule, Other Type.",
    ),
]

RedactOpt = Annotated[
    bool,
    typer.Option(
        "--redact",
        help="Leave contacts' names and emails out of the report, in every format (record ids stay): "
        "for CI summaries and shared reports. Also set by report: {redact: true} in the rules file.",
    ),
]


class Duplicates(str, Enum):
    error = "error"
    keep_first = "keep-first"


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"


FormatOpt = Annotated[
    Format,
    typer.Option(
        "--format", "-f", help="Report format: text (for the terminal), json, markdown, html."
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lifecycle {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Put every CRM contact into the right lifecycle stage, and show what changed."""


def _console(no_color: bool, stream=None):
    from rich.console import Console

    from .io.streams import tolerant

    stream = tolerant(stream or sys.stderr)
    return Console(
        file=stream,
        no_color=no_color or bool(os.environ.get("NO_COLOR")),
        highlight=False,
        width=None if stream.isatty() else 120,
    )


def _run(debug: bool, body: Callable[[], int]) -> None:
    """Run a command body and turn every outcome into an exit code and, for errors, one clear line."""
    _written_files().clear()  # the in-process test runner calls _run many times
    previous = _catch_signals()
    try:
        code = body()
    except LifecycleError as exc:
        if debug:
            _say(terminal_safe(debug_trace(exc)))
        _say(f"lifecycle: error: {terminal_safe(str(exc))}\n")
        code = exc.exit_code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
        # Polars hands back a Ctrl-C it caught and Python can raise the same Ctrl-C again here.
        while True:
            try:
                _say_interrupted()
                break
            except KeyboardInterrupt:
                continue
    except Terminated as exc:
        import signal

        name = signal.Signals(exc.signum).name
        done = _written_files()
        changed = (
            f"after writing {', '.join(done)} (complete); nothing was half-written"
            if done
            else "no output file was changed"
        )
        _say(f"lifecycle: stopped by {name}; {changed}\n")
        code = 128 + exc.signum
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other Unix tools do.
        _silence_stdout()
        code = EXIT_OK
    except typer.Exit:
        raise
    except Exception as exc:
        from .io.streams import stream_write_failure

        message = stream_write_failure(exc) if isinstance(exc, OSError) else None
        if message is not None:  # a standard stream closed or full, the working directory gone
            if debug:
                _say(terminal_safe(debug_trace(exc)))
            _say(f"lifecycle: error: {message}\n")
            _silence_stdout()  # what is still buffered for stdout cannot be written either
            raise typer.Exit(EXIT_USAGE)
        if isinstance(exc, OSError):  # the system refused (EIO, EROFS, EDQUOT, ...): no bug either
            if debug:
                _say(terminal_safe(debug_trace(exc)))
            where = f"{terminal_safe(str(exc.filename))}: " if exc.filename else ""
            _say(f"lifecycle: error: {where}{exc.strerror or exc}\n")
            raise typer.Exit(EXIT_USAGE)
        # A bug, not a user mistake.
        if debug:
            _say(terminal_safe(debug_trace(exc)))
        else:
            _say(
                f"lifecycle: internal error: {type(exc).__name__}; run again with --debug for details, and please report it\n"
            )
        code = 3
    finally:
        _release_targets()
        _restore_signals(previous)
    raise typer.Exit(code)


def _release_targets() -> None:
    """Let go of the locks on this run's targets, however it ended (not loaded means none taken)."""
    locks = sys.modules.get(f"{__package__}.io.locks")
    if locks is not None:
        locks.release_all()


#: Signals whose default action ends the process: each is turned into a `Terminated` so the
#: temp files of a write in progress are removed (SIGINT is Python's KeyboardInterrupt already).
_STOP_SIGNALS = (
    "SIGTERM",
    "SIGHUP",
    "SIGQUIT",
    "SIGUSR1",
    "SIGUSR2",
    "SIGALRM",
    "SIGXCPU",
    "SIGXFSZ",
)


def _catch_signals() -> dict:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum, _frame):
        raise Terminated(signum)

    previous = {}
    for name in _STOP_SIGNALS:
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


def _restore_signals(previous: dict) -> None:
    import signal

    for number, handler in previous.items():
        signal.signal(number, handler)


def _say(message: str) -> None:
    """Write a message on stderr, if there is one to write on (it may be closed, `2>&-`)."""
    try:
        sys.stderr.write(message)
        sys.stderr.flush()
    except (LifecycleError, OSError):
        pass


def _say_interrupted() -> None:
    done = _written_files()
    if done:
        _say(
            f"lifecycle: interrupted after writing {', '.join(done)} (complete); nothing was half-written\n"
        )
    else:
        _say("lifecycle: interrupted; no output file was changed\n")


def _written_files() -> list[str]:
    """The files this run has completed (the output module records them; not loaded means none)."""
    output = sys.modules.get(f"{__package__}.io.output")
    return output.WRITTEN if output else []


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def _load_rules(
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
    from dataclasses import replace

    from .io.sources import looks_german
    from .rules.model import discover_rules, load_rules, preset_path

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
        _say_found(display, found, name)
    ruleset = load_rules(path, display)
    if found:
        ruleset = replace(ruleset, found_by_itself=found)
    from .base.diagnostics import as_text

    for warning in ruleset.warnings:
        sys.stderr.write(f"lifecycle: warning: {terminal_safe(as_text(warning, '  '))}\n")
    return ruleset, path


def _say_found(display: str, found: str, name: str) -> None:
    """Nothing picked up silently: a rules file nobody named is named on stderr, even with -q."""
    how = "--rules FILE" if name == "--rules" else "the rules file as RULES"
    _say(
        f"lifecycle: note: using the rules in {terminal_safe(display)}, found by itself "
        f"{terminal_safe(found)}; give {how} to choose the rules yourself\n"
    )


def _reader(
    inputs: list[str], delimiter: str | None, encoding: str | None, *, defer_stage: bool = False
):
    """A function opening one input; stdin (-) is read once, for the one input that names it.
    `defer_stage`: see sources.read_source (classify reports a missing stage column with the rest)."""
    from .io.sources import read_source

    if inputs.count("-") > 1:
        raise InputError("only one input can come from stdin (-)")
    if delimiter is not None and len(delimiter.encode()) != 1:
        raise InputError(
            f"--delimiter must be one character, got '{delimiter}' (for tab, type --delimiter $'\\t')"
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
        )

    return read


def _emit(
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
    history: _History | None = None,
    html_extra: Callable[[], dict] | None = None,
) -> int:
    """Judge the --fail-on gates (their outcome is part of the report), write the --report files,
    the history record and everything else staged in `plan` (together), then print the report;
    returns the exit code."""
    from .base.redact import redacted
    from .core.gates import evaluate
    from .io.output import text_writer
    from .io.streams import write_data
    from .report.render import format_for_path, render, render_rich

    result["run"] = run_facts or _run_facts(rules_path)
    if redact:
        result = redacted(result)
    judged = evaluate(gates, result, history.earlier if history else None)
    if gates:
        result["gates"] = judged
    if history is not None and history.target is not None:
        from .io.history import input_facts, record, to_json

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
        plan.stage(path, text_writer(_text_report(result) if kind == "text" else rendered(kind)))
    if fmt != Format.text:
        # Data for a program: written before the files are moved into place, so a closed or full
        # stdout stops the run with nothing written (exit 2), like any other output that fails.
        write_data(data_stream, rendered(fmt.value))
    plan.commit()
    if fmt == Format.text and not quiet:
        render_rich(result, _console(no_color, text_stream))
    failures = [g["reason"] for g in judged if g["tripped"]]
    for line in failures:
        sys.stderr.write(f"lifecycle: {line}\n")
    for gate in judged:
        if not gate["tripped"] and "not judged" in gate["reason"]:
            sys.stderr.write(f"lifecycle: note: {gate['reason']}\n")
    return EXIT_CHANGES if failures else EXIT_OK


@dataclass(frozen=True)
class _History:
    """Where a classify run records itself (None with --check) and the earlier runs' medians."""

    target: str | None
    inputs: list[tuple[str, str]]
    earlier: dict


def _plan_history(
    folder: str | None, gates, plan, inputs: list[tuple[str, str]], run_facts: dict, *, check: bool
) -> _History | None:
    """The history record's file, planned with the other outputs, and the earlier runs the `>Nx`
    gates compare with (read before this run adds its own)."""
    from .io.history import baseline, file_name, load

    needs = [g.spec for g in gates if g.needs_history]
    if folder is None:
        if needs:
            raise InputError(
                f"--fail-on '{needs[0]}' compares this run with earlier ones: give "
                "--history DIR (or report: {history: DIR} in the rules file)"
            )
        return None
    target = None
    if not check:
        plan.folder(folder, "history folder")
        target = os.path.join(folder, file_name(run_facts["at"], run_facts["rules_hash"], inputs))
        plan.write(target, "history record")
    earlier = baseline(load(folder)) if needs and os.path.isdir(folder) else {}
    return _History(target, inputs, earlier)


def _progress(quiet: bool, no_color: bool, what: str):
    """A progress line on stderr for long runs: only on a terminal, never with -q (nor in cron logs)."""
    try:
        interactive = sys.stderr.isatty()
    except (AttributeError, ValueError):
        interactive = False
    from .base.progress import NoProgress, TerminalProgress

    return TerminalProgress(_console(no_color), what) if interactive and not quiet else NoProgress()


def _run_facts(rules_path: Path | None) -> dict:
    """When the report was made and from which rules (a short hash of the file: which version).
    SOURCE_DATE_EPOCH, the reproducible-builds convention, fixes the time."""
    from datetime import datetime

    from .report.rules_view import rules_hash

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        at = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    except (ValueError, OverflowError, OSError):
        at = datetime.now(UTC)
    return {
        "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rules_hash": rules_hash(rules_path) if rules_path else None,
    }


def _text_report(result: dict) -> str:
    import io

    from rich.console import Console

    from .report.render import render_rich

    buffer = io.StringIO()
    render_rich(
        result, Console(file=buffer, width=120, no_color=True, highlight=False, color_system=None)
    )
    return buffer.getvalue()


def import_files(run, contacts_src, ruleset, companies_src=None):
    """The HubSpot re-import files of a classify run (see hubspot_import)."""
    from .core.classify import added_stage_column
    from .io.hubspot_import import ImportObject, build

    # A file without a stage column (optional in the salesforce preset) gets the one classify adds.
    stage = (
        _file_header(contacts_src, "stage")
        if contacts_src.has("stage")
        else added_stage_column(ruleset)
    )
    objects = [
        ImportObject(
            "contacts",
            run.changes.collect(),
            _file_header(contacts_src, "record_id"),
            stage,
            ruleset.other_type_column,
        )
    ]
    if companies_src is not None:
        company_stage = (
            _file_header(companies_src, "stage")
            if companies_src.has("stage")
            else added_stage_column(ruleset)
        )
        objects.append(
            ImportObject(
                "companies",
                run.companies_changes,
                _file_header(companies_src, "record_id"),
                company_stage,
            )
        )
    return build(objects, ruleset, contacts_src.display)


def _stage_export(
    table, source, target: str, added: list[str], plan, *, in_place: bool = False
) -> None:
    """Stage a reclassified export (contacts or companies) as its input came: the format by the
    target's name, the input's delimiter, encoding and header line, the added columns right after
    the stage column (at the end when the export has none, as classify's output puts them).
    To stdout (-o -) it streams at once, so every row is checked to parse first."""
    import polars as pl

    from .io.output import output_format, write_table
    from .io.sources import check_parses, find_read_error, output_header_line, polars_reason

    out_format = output_format(target, source.format, in_place=in_place)
    header_line = None
    if out_format == "csv" and source.format == "csv" and source.header_line is not None:
        header_line = output_header_line(
            source, source.resolved.get("stage", source.headers[-1]), list(added)
        )
    if target == "-":
        check_parses(source)  # what went to stdout cannot be taken back
    try:
        write_table(
            table,
            target,
            out_format,
            source.dialect if source.format == "csv" else None,
            stdout=sys.stdout.buffer,
            header_line=header_line,
            plan=plan,
        )
    except pl.exceptions.PolarsError as exc:
        # The output streams from the input file: a row Polars cannot parse shows up here.
        raise find_read_error([source]) or OutputError(
            f"{target}: cannot write: {polars_reason(exc)}"
        ) from None


def _file_header(source, name: str) -> str:
    """A resolved column's header as the file spells it (Polars' name can differ: repeats, quotes)."""
    header = source.resolved[name]
    if len(source.file_headers) == len(source.headers):
        return source.file_headers[list(source.headers).index(header)]
    return header


#: What to do instead of a --report onto a pipe or device (classify and diff have --format).
_REPORT_INSTEAD = "use --format json, markdown or html to print the report on stdout"
_REPORT_PRINTED = "--format json, markdown or html prints the report on stdout"


def _check_writes_nothing(check: bool, **asked: object) -> None:
    """--check writes nothing at all: an output asked for as well is a contradiction, not a file
    quietly left unwritten (nor, as --hubspot-import was, a file written after all)."""
    given = [f"--{name.replace('_', '-')}" for name, value in asked.items() if value]
    if not check or not given:
        return
    names = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
    printed = f"; {_REPORT_PRINTED}" if asked.get("report") else ""
    raise InputError(
        f"--check writes nothing, so it cannot be combined with {names}: leave "
        f"{'it' if len(given) == 1 else 'them'} out, or leave out --check{printed}"
    )


_CHANGES_INSTEAD = "give a file name: the list of changes is a table, not a report"


def _rules_history(ruleset, rules_file: Path | None) -> str | None:
    """report: {history: DIR} in the rules file, relative to the rules file's folder (a cron job
    started from anywhere finds the same folder)."""
    if not ruleset.history:
        return None
    if os.path.isabs(ruleset.history) or rules_file is None:
        return ruleset.history
    return os.path.join(os.path.dirname(str(rules_file)), ruleset.history)


def _no_stdout(**given: str | None) -> None:
    """Tables and records, never streams: `-` (stdout) is refused, not written as a file named -."""
    for name, value in given.items():
        if value == "-":
            raise InputError(
                f"--{name.replace('_', '-')} -: stdout is not supported here; give a file name"
            )


def _stage_changes(frame, target: str, ruleset, redact: bool, plan) -> None:
    """Stage a --changes file: every changed record, one row each (see changes.py)."""
    from .core.changes import table, writer

    plan.stage(target, writer(table(frame, ruleset, redact=redact), target))


def _is_stream(path: str) -> bool:
    """A named pipe or process substitution (/dev/fd/N): read once, nothing to write beside it."""
    import stat

    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _default_output(contacts: str) -> str:
    path = Path(contacts)
    return str(path.with_name(f"{path.stem}.reclassified{path.suffix or '.csv'}"))


@app.command(
    epilog="\b\nExample: lifecycle classify contacts.csv --deals deals.csv --consent consent.csv --hubspot-import hubspot/"
)
def classify(
    contacts: Annotated[
        str,
        typer.Argument(
            metavar="CONTACTS", help="Contacts export (CSV or Parquet; - reads CSV from stdin)."
        ),
    ],
    deals: DealsOpt = None,
    consent: ConsentOpt = None,
    companies: Annotated[
        str | None,
        typer.Option(
            "--companies",
            metavar="FILE",
            help="Companies export: each company gets the highest stage among its contacts (Other contacts do not count) and its own deals (won: Customer, open: Opportunity), written to --companies-output.",
        ),
    ] = None,
    companies_output: Annotated[
        str | None,
        typer.Option(
            "--companies-output",
            metavar="OUT",
            help="Where to write the reclassified companies (.parquet: Parquet, else CSV). Default: COMPANIES.reclassified.csv beside the input.",
        ),
    ] = None,
    rules: RulesOpt = None,
    preset: PresetOpt = None,
    strict: StrictOpt = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="OUT",
            help="Where to write the reclassified contacts: a .parquet name writes Parquet, any other CSV (in the input's delimiter and encoding); - for stdout. Default: CONTACTS.reclassified.csv beside the input.",
        ),
    ] = None,
    stage_values: Annotated[
        StageValues,
        typer.Option(
            "--stage-values",
            help="How to write changed stages: label (Marketing Lead), value (HubSpot internal, marketingqualifiedlead), or auto (as most of the file does; unchanged stages are left as written).",
        ),
    ] = StageValues.auto,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write no reclassified file; exit 1 if any contact would change stage (for CI).",
        ),
    ] = False,
    hubspot_import: Annotated[
        str | None,
        typer.Option(
            "--hubspot-import",
            metavar="DIR",
            help="Also write the files to import the changes back into HubSpot into DIR (created if needed): contacts-1-clear-stage.csv (records moving back, whose stage must first be cleared), contacts-2-set-stage.csv (every changed record, HubSpot internal values) and README.txt (the order and the import settings).",
        ),
    ] = None,
    in_place: Annotated[
        bool,
        typer.Option(
            "--in-place",
            help="Overwrite CONTACTS with the result, keeping the original as CONTACTS.bak (CONTACTS.bak-2, -3, ... when an earlier run's backup is there: no backup is ever replaced).",
        ),
    ] = False,
    on_duplicate: Annotated[
        Duplicates,
        typer.Option(
            "--on-duplicate",
            help="A Record ID that appears twice: error (stop), or keep-first (classify the first row, leave the others out and report them).",
        ),
    ] = Duplicates.error,
    fail_on: FailOnOpt = None,
    fmt: FormatOpt = Format.text,
    report: ReportOpt = None,
    changes: ChangesOpt = None,
    history: Annotated[
        str | None,
        typer.Option(
            "--history",
            metavar="DIR",
            help="Append this run to the run history in DIR (created if needed): one JSON record "
            "per run (time, rules hash, inputs' names, sizes and sha256, stage counts, moves, "
            "diagnostics). `lifecycle history DIR` shows it; --fail-on 'demotion>3x' compares "
            "with it. Also report: {history: DIR} in the rules file.",
        ),
    ] = None,
    companies_changes: Annotated[
        str | None,
        typer.Option(
            "--companies-changes",
            metavar="FILE",
            help="With --companies: every changed company, one row each, to FILE (as --changes).",
        ),
    ] = None,
    redact: RedactOpt = False,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            help="When another lifecycle run is writing one of this run's output files or folders, "
            "wait up to SECONDS for it to finish instead of stopping at once (exit 2).",
        ),
    ] = 0,
    debug: DebugOpt = False,
) -> None:
    """Reclassify every contact's lifecycle stage and report every change.

    Writes the contacts with the same columns in the same order, the stage updated,
    and beside it the previous stage and the rule that decided.
    """

    def body() -> int:
        from .base.diagnostics import as_dict, as_text, strict_failure
        from .core.classify import classify as classify_contacts
        from .core.gates import parse_gates
        from .io.hubspot_import import file_names as import_file_names
        from .io.hubspot_import import foreign_files as foreign_import_files
        from .io.output import OutputPlan, backup_path, backup_writer, text_writer
        from .io.sources import read_sources

        ruleset, rules_file = _load_rules(rules, preset, contacts)
        gates = parse_gates(fail_on or [], ruleset)
        inputs = [p for p in (contacts, deals, consent, companies) if p]
        if companies_output and not companies:
            raise InputError(
                "--companies-output needs --companies FILE: the companies export to reclassify"
            )
        if companies_changes and not companies:
            raise InputError(
                "--companies-changes needs --companies FILE: the companies export to reclassify"
            )
        _check_writes_nothing(
            check,
            output=output,
            in_place=in_place,
            report=report,
            hubspot_import=hubspot_import,
            companies_output=companies_output,
            changes=changes,
            companies_changes=companies_changes,
            history=history,
        )
        if in_place and (output or contacts == "-" or _is_stream(contacts)):
            raise OutputError(
                "--in-place writes over CONTACTS itself: it cannot be combined with --output or stdin"
            )
        # A stream (stdin, a pipe, `<(gunzip -c x.gz)`) has no folder to write beside: stdout, as for stdin.
        streamed = contacts == "-" or _is_stream(contacts)
        target = (
            contacts if in_place else output or ("-" if streamed else _default_output(contacts))
        )
        plan = OutputPlan()
        for path, what in (
            (contacts, "contacts file"),
            (deals, "deals file"),
            (consent, "consent file"),
            (companies, "companies file"),
            (rules_file, "rules file"),
        ):
            plan.read(path, what)
        companies_target = None
        if companies and not check:
            companies_target = companies_output or (
                "-" if companies == "-" else _default_output(companies)
            )
            if companies_output == "-":
                raise OutputError(
                    "--companies-output - (stdout) is not supported: give a file name"
                )
            if companies_target == "-":
                raise OutputError(
                    "--companies - reads the companies from stdin, so there is no "
                    "folder to write the reclassified companies beside: give "
                    "--companies-output FILE"
                )
            plan.write(companies_target, "reclassified companies")
        backup = earlier_backup = None
        if not check:
            plan.write(
                target,
                "reclassified contacts",
                in_place=in_place,
                instead="use -o - to write to stdout, or --check to write nothing",
            )
            if in_place:
                backup, earlier_backup = backup_path(contacts)
                plan.write(backup, "backup of the contacts file")
        for path in report or []:
            plan.write(path, "report", instead=_REPORT_INSTEAD)
        _no_stdout(changes=changes, companies_changes=companies_changes, history=history)
        plan.write(changes, "list of changes", instead=_CHANGES_INSTEAD)
        plan.write(companies_changes, "list of company changes", instead=_CHANGES_INSTEAD)
        run_facts = _run_facts(rules_file)
        history_dir = history or _rules_history(ruleset, rules_file)
        roles = (
            ("contacts", contacts),
            ("deals", deals),
            ("consent", consent),
            ("companies", companies),
        )
        recorded = _plan_history(
            history_dir, gates, plan, [(r, p) for r, p in roles if p], run_facts, check=check
        )
        if hubspot_import:
            objects = ["contacts", "companies"] if companies else ["contacts"]
            plan.own_folder(
                hubspot_import,
                "HubSpot import folder",
                import_file_names(objects),
                "HubSpot import file",
                foreign_import_files,
            )
        plan.check(wait=wait)  # before anything is read: a clash costs nothing yet
        read = _reader(inputs, delimiter, encoding, defer_stage=True)
        show = _progress(quiet, no_color, "classify")
        try:
            # Every input's problems stop the run together (and go to the JSON report).
            contacts_src, deals_src, consent_src, companies_src = read_sources(
                read, [(path, role, ruleset.columns[role]) for role, path in roles]
            )
            with show:
                run = classify_contacts(
                    contacts_src,
                    deals_src,
                    consent_src,
                    ruleset,
                    stage_format=stage_values.value,
                    output_file=None if check else target,
                    checked_only=check,
                    on_duplicate=on_duplicate.value,
                    companies=companies_src,
                    progress=show.step,
                )
        except InputError as exc:
            if fmt == Format.json and exc.diagnostics:
                # Tools reading the JSON report get the findings that stopped the run too.
                import json

                stream = sys.stderr if target == "-" else sys.stdout
                stream.write(
                    json_safe(
                        json.dumps(
                            {
                                "command": "classify",
                                "stopped": True,
                                "diagnostics": [as_dict(d) for d in exc.diagnostics],
                            },
                            indent=2,
                            ensure_ascii=False,
                        )
                    )
                    + "\n"
                )
            raise
        result = run.result
        # The text report lists the warnings itself; otherwise (quiet, JSON, ...) they go to stderr here.
        shown_in_report = (
            fmt == Format.text and not quiet
        ) or strict  # --strict lists them in its error
        for found in () if shown_in_report else result.diagnostics:
            if (
                found["severity"] == "warning" and found["code"] != "rules"
            ):  # rules warnings were shown on loading
                sys.stderr.write(
                    f"lifecycle: warning: {terminal_safe(as_text(found, indent='  '))}\n"
                )
        if strict:
            failure = strict_failure(list(result.diagnostics))
            if failure is not None:
                raise failure
        with plan:
            with show:
                show.step("writing the output")
                if backup is not None:
                    plan.stage(backup, backup_writer(contacts), exclusive=True)
                if hubspot_import:
                    files = import_files(run, contacts_src, ruleset, companies_src)
                    for name, text in files.files.items():
                        plan.stage(os.path.join(hubspot_import, name), text_writer(text))
                if not check:
                    _stage_export(
                        run.output, contacts_src, target, run.added_columns, plan, in_place=in_place
                    )
                if companies_target is not None:
                    _stage_export(
                        run.companies_output,
                        companies_src,
                        companies_target,
                        run.companies_added,
                        plan,
                    )
                hidden = redact or ruleset.redact
                if changes:
                    _stage_changes(run.changes, changes, ruleset, hidden, plan)
                if companies_changes:
                    _stage_changes(run.companies_changes, companies_changes, ruleset, hidden, plan)
            # The text report is a message (stderr); other formats are data, on stdout unless the CSV went there.
            data_stream = sys.stderr if target == "-" else sys.stdout
            shown = replace(result, changes_file=changes, companies_changes_file=companies_changes)

            def every_change() -> dict:
                from .core.changes import table
                from .report.changes_table import change_list

                hidden = redact or ruleset.redact
                extra = {
                    "change_list": change_list(
                        table(run.changes, ruleset, redact=hidden), file=changes, what="contacts"
                    )
                }
                if run.companies_changes is not None:
                    # Company names are not personal data: named even in a redacted report.
                    extra["company_change_list"] = change_list(
                        table(run.companies_changes, ruleset, redact=False),
                        file=companies_changes,
                        what="companies",
                    )
                return extra

            code = _emit(
                shown.to_dict(),
                fmt,
                report or [],
                gates,
                plan,
                quiet=quiet,
                no_color=no_color,
                run_facts=run_facts,
                history=recorded,
                html_extra=every_change,
                text_stream=sys.stderr,
                data_stream=data_stream,
                rules_path=rules_file,
                redact=redact or ruleset.redact,
            )
        if earlier_backup is not None:
            sys.stderr.write(
                f"lifecycle: kept the original as {backup}; {earlier_backup} is an earlier run's backup "
                "and was left as it was\n"
            )
        if check and result.changed:
            return EXIT_CHANGES
        return code

    _run(debug, body)


@app.command(epilog="\b\nExample: lifecycle diff last-week.csv today.csv --fail-on customer->lead")
def diff(
    before: Annotated[
        str, typer.Argument(metavar="BEFORE", help="The earlier export (CSV or Parquet).")
    ],
    after: Annotated[
        str, typer.Argument(metavar="AFTER", help="The later export, or the reclassified file.")
    ],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            metavar="COL",
            help="Column that identifies a record. Default: Record ID (from the rules).",
        ),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage",
            metavar="COL",
            help="Stage column. Default: Lifecycle Stage (from the rules).",
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            metavar="A,B",
            help="Also count changes in these columns (comma-separated headers).",
        ),
    ] = None,
    rules: RulesOpt = None,
    preset: PresetOpt = None,
    fail_on: FailOnOpt = None,
    fmt: FormatOpt = Format.text,
    report: ReportOpt = None,
    changes: ChangesOpt = None,
    redact: RedactOpt = False,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show whose stage changed between two exports, in which direction, and how many.

    Stage values are compared the way classify reads them: labels, HubSpot values and
    aliases are the same stage, whichever form each file uses.
    """

    def body() -> int:
        from .core.diff import diff as diff_exports
        from .core.diff import diff_columns
        from .core.gates import parse_gates
        from .io.output import OutputPlan

        ruleset, rules_file = _load_rules(rules, preset, before)
        gates = parse_gates(fail_on or [], ruleset)
        for gate in gates:
            if gate.needs_history:
                raise InputError(
                    f"--fail-on '{gate.spec}' compares with earlier runs, which diff "
                    "does not keep: use it on classify with --history DIR, or give a "
                    "share (demotion>2%) or a count (demotion>40)"
                )
        plan = OutputPlan()
        plan.read(before, "earlier export")
        plan.read(after, "later export")
        plan.read(rules_file, "rules file")
        for path in report or []:
            plan.write(path, "report", instead=_REPORT_INSTEAD)
        _no_stdout(changes=changes)
        plan.write(changes, "list of changes", instead=_CHANGES_INSTEAD)
        plan.check()
        wanted = diff_columns(ruleset, key, stage)
        read = _reader([before, after], delimiter, encoding)
        extra = tuple(c.strip() for c in (columns or "").split(",") if c.strip())
        before_src, after_src = read(before, "contacts", wanted), read(after, "contacts", wanted)
        result = diff_exports(before_src, after_src, ruleset, columns=extra)
        result = replace(result, changes_file=changes)
        found: list = []

        def moved():
            from .core.changes import diff_changes

            if not found:
                found.append(diff_changes(before_src, after_src, ruleset, result.rule_column))
            return found[0]

        def every_change() -> dict:
            from .core.changes import table
            from .report.changes_table import change_list

            rows = table(moved(), ruleset, redact=redact or ruleset.redact)
            return {"change_list": change_list(rows, file=changes)}

        with plan:
            if changes:
                _stage_changes(moved(), changes, ruleset, redact or ruleset.redact, plan)
            return _emit(
                result.to_dict(),
                fmt,
                report or [],
                gates,
                plan,
                quiet=quiet,
                no_color=no_color,
                text_stream=sys.stdout,
                data_stream=sys.stdout,
                rules_path=rules_file,
                redact=redact or ruleset.redact,
                html_extra=every_change,
            )

    _run(debug, body)


@app.command(
    "history",
    epilog="\b\nExample: lifecycle history reports/history\n"
    "Example: lifecycle history reports/history --format html > h.html",
)
def show_history(
    folder: Annotated[
        str, typer.Argument(metavar="DIR", help="The folder classify --history writes into.")
    ],
    last: Annotated[
        int, typer.Option("--last", metavar="N", min=1, help="Show the last N runs (default 30).")
    ] = 30,
    fmt: FormatOpt = Format.text,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show the last runs that classify --history recorded: moves and stage counts over time.

    text: a table of the runs and a sparkline per stage; json: the records; html: a page with
    charts of stage counts and moves over time (inline SVG, no network).
    """

    def body() -> int:
        from .io.history import load, render_rich, to_dict, to_html, to_json
        from .io.streams import write_data

        view = to_dict(folder, load(folder)[-last:])
        if fmt == Format.json:
            write_data(sys.stdout, json_safe(to_json(view)))
        elif fmt == Format.html:
            write_data(sys.stdout, to_html(view))
        elif fmt == Format.markdown:
            raise InputError("lifecycle history --format: expected text, json or html")
        elif not view["runs"]:
            sys.stdout.write(
                terminal_safe(
                    f"{folder}: no runs recorded yet (classify --history "
                    f"{folder} records one per run)\n"
                )
            )
        else:
            render_rich(view, _console(no_color, sys.stdout))
        return EXIT_OK

    _run(debug, body)


class Dialect(str, Enum):
    duckdb = "duckdb"
    spark = "spark"
    databricks = "databricks"
    bigquery = "bigquery"
    snowflake = "snowflake"
    postgres = "postgres"


@app.command(
    epilog="\b\nExample: lifecycle sql --dialect snowflake --contacts-header contacts.csv -o classify.sql"
)
def sql(
    dialect: Annotated[
        Dialect,
        typer.Option(
            "--dialect", help="SQL dialect of the warehouse or engine that runs the query."
        ),
    ],
    contacts_table: Annotated[
        str,
        typer.Option(
            "--contacts-table",
            metavar="NAME",
            help="Table or view holding the contacts export (columns named as in the export).",
        ),
    ] = "contacts",
    deals_table: Annotated[
        str | None,
        typer.Option(
            "--deals-table", metavar="NAME", help="Table or view holding the deals export."
        ),
    ] = "deals",
    consent_table: Annotated[
        str | None,
        typer.Option(
            "--consent-table", metavar="NAME", help="Table or view holding the consent records."
        ),
    ] = "consent",
    no_deals: Annotated[
        bool,
        typer.Option(
            "--no-deals",
            help="There is no deals table (deal rules cannot fire, as in classify without --deals).",
        ),
    ] = False,
    no_consent: Annotated[
        bool,
        typer.Option(
            "--no-consent", help="There is no consent table (the contacts' own columns decide)."
        ),
    ] = False,
    contacts_header: Annotated[
        str | None,
        typer.Option(
            "--contacts-header",
            metavar="FILE",
            help="An export whose header row lists the contacts table's columns; the output then has exactly classify's columns. Needed for spark and postgres.",
        ),
    ] = None,
    deals_header: Annotated[
        str | None,
        typer.Option(
            "--deals-header",
            metavar="FILE",
            help="An export whose header row lists the deals table's columns.",
        ),
    ] = None,
    consent_header: Annotated[
        str | None,
        typer.Option(
            "--consent-header",
            metavar="FILE",
            help="An export whose header row lists the consent table's columns.",
        ),
    ] = None,
    stage_values: Annotated[
        StageValues,
        typer.Option(
            "--stage-values",
            help="Write the new stage as its label or its HubSpot value (auto means label here).",
        ),
    ] = StageValues.label,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write the query to FILE instead of stdout."
        ),
    ] = None,
    rules: RulesOpt = None,
    preset: PresetOpt = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Print the whole classification as one SQL query, to run the same rules in a warehouse or on Spark.

    The query reads tables named like the exports (columns = the export's headers, as text)
    and returns every contact with the stage updated, the previous stage and the deciding rule.
    """

    def body() -> int:
        from sqlglot.errors import SqlglotError

        from .core.sql import STAR_REPLACE_DIALECTS, TABLE_NAME, TABLE_NAME_EXPECTED, build_query
        from .io.output import OutputPlan, write_text
        from .io.streams import write_data

        for option, table in (
            ("--contacts-table", contacts_table),
            ("--deals-table", deals_table),
            ("--consent-table", consent_table),
        ):
            if table is not None and not TABLE_NAME.fullmatch(table):
                raise InputError(f"{option}: '{table}' is not {TABLE_NAME_EXPECTED}")
        ruleset, rules_file = _load_rules(rules, preset)
        plan = OutputPlan()
        plan.read(rules_file, "rules file")
        for path, what in (
            (contacts_header, "contacts header file"),
            (deals_header, "deals header file"),
            (consent_header, "consent header file"),
        ):
            plan.read(path, what)
        plan.write(
            output, "query", instead="leave out -o (or give -o -) to write the query to stdout"
        )
        plan.check()
        if dialect.value not in STAR_REPLACE_DIALECTS and not contacts_header:
            raise InputError(
                f"--dialect {dialect.value} needs --contacts-header FILE: an export whose header row lists "
                "the contacts table's columns, so the query can name every output column"
            )
        headers = {}
        read = _reader(
            [p for p in (contacts_header, deals_header, consent_header) if p], delimiter, encoding
        )
        for role, path in (
            ("contacts", contacts_header),
            ("deals", deals_header),
            ("consent", consent_header),
        ):
            if path:
                source = read(path, role, ruleset.columns[role])
                # As the file has them: a warehouse loads `"Note ""A"""` as Note "A", as a CSV reader should.
                headers[role] = list(source.file_headers or source.headers)
        try:
            query = build_query(
                ruleset,
                dialect=dialect.value,
                contacts=contacts_table,
                deals=None if no_deals else deals_table,
                consent=None if no_consent else consent_table,
                headers=headers,
                stage_values="value" if stage_values == StageValues.value else "label",
            )
        except ValueError as exc:
            raise InputError(str(exc)) from None
        except SqlglotError as exc:  # the rules or headers gave text sqlglot cannot write as SQL
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(
                f"cannot write the query for --dialect {dialect.value}: {reason}"
            ) from None
        if output and output != "-":
            write_text(output, query + "\n")
        else:
            write_data(sys.stdout, query + "\n")
        return EXIT_OK

    _run(debug, body)


@app.command("test", epilog="\b\nExample: lifecycle test rules.yaml")
def test_rules(
    rules_file: Annotated[
        str | None,
        typer.Argument(
            metavar="[RULES]",
            help="Rules file whose test cases to run. Default: as classify finds it ($LIFECYCLE_RULES, ./rules.yaml, the built-in rules).",
        ),
    ] = None,
    preset: PresetOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the failures and the summary line.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Run the test cases of a rules file (its tests: section) and show which pass.

    Each case is a contact (with its deals and consent events) and the stage and rule it
    should get; exit 1 when any case fails.
    """

    def body() -> int:
        from .core.rule_tests import report_lines, run_cases
        from .rules.cases import load_cases

        ruleset, path = _load_rules(rules_file, preset, name="RULES")
        cases = load_cases(path, ruleset.path)
        if not cases:
            raise InputError(
                f"{ruleset.path}: has no test cases; add a tests: section (lifecycle init writes one "
                "with examples)"
            )
        outcomes, seconds = run_cases(cases, ruleset)
        lines, ok = report_lines(outcomes, seconds, ruleset.path)
        if quiet:
            lines = [line for line in lines if not line.endswith(" PASSED")]
        sys.stdout.write(terminal_safe("\n".join(lines) + "\n"))
        return EXIT_OK if ok else EXIT_CHANGES

    _run(debug, body)


class RulesFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


class ExplainFormat(str, Enum):
    text = "text"
    json = "json"


@app.command(
    epilog="\b\nExample: lifecycle explain contacts.csv jo.park@fabrikam.example\n"
    "Example: lifecycle explain contacts.csv 51234567899 --deals deals.csv --consent consent.csv"
)
def explain(
    contacts: Annotated[
        str, typer.Argument(metavar="CONTACTS", help="Contacts export (CSV or Parquet).")
    ],
    record_id: Annotated[
        str, typer.Argument(metavar="ID", help="The contact's Record ID, or its email (any case).")
    ],
    deals: DealsOpt = None,
    consent: ConsentOpt = None,
    rules: RulesOpt = None,
    preset: PresetOpt = None,
    fmt: Annotated[
        ExplainFormat, typer.Option("--format", "-f", help="text or json.")
    ] = ExplainFormat.text,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Show why one contact gets its stage, rule by rule.

    The columns read, the deals and consent events that link to the contact, the facts,
    and every rule in order as true, false or unknown, part by part.
    """

    def body() -> int:
        import json

        from .core.explain import explain as explain_contact
        from .core.explain import render_text

        ruleset, _ = _load_rules(rules, preset, contacts)
        read = _reader([p for p in (contacts, deals, consent) if p], delimiter, encoding)
        contacts_src = read(contacts, "contacts", ruleset.columns["contacts"])
        deals_src = read(deals, "deals", ruleset.columns["deals"]) if deals else None
        consent_src = read(consent, "consent", ruleset.columns["consent"]) if consent else None
        view = explain_contact(contacts_src, deals_src, consent_src, ruleset, record_id)
        if fmt == ExplainFormat.json:
            sys.stdout.write(
                json_safe(json.dumps(view, indent=2, ensure_ascii=False, default=str)) + "\n"
            )
        else:
            sys.stdout.write(render_text(view, ruleset))
        return EXIT_OK

    _run(debug, body)


@app.command(epilog="\b\nExample: lifecycle validate rules.yaml")
def validate(
    rules_file: Annotated[
        str | None,
        typer.Argument(
            metavar="[RULES]", help="Rules file to check. Default: as classify finds it."
        ),
    ] = None,
    preset: PresetOpt = None,
    fmt: Annotated[
        RulesFormat, typer.Option("--format", "-f", help="text or json.")
    ] = RulesFormat.text,
    debug: DebugOpt = False,
) -> None:
    """Check a rules file without any data and list every problem at once, each with its line.

    Exit 0 when the file is clean, 1 when it has problems (warnings included).
    """

    def body() -> int:
        import json

        from .base.diagnostics import as_dict, as_text
        from .rules.model import discover_rules, preset_path, validate_rules

        if rules_file and preset:
            raise InputError("give a rules file or --preset, not both")
        if preset:
            path, display, found = preset_path(preset), f"preset {preset}", None
        else:
            path, display, found = discover_rules(rules_file)
        if found:
            _say_found(display, found, "RULES")
        if not path.exists():
            raise InputError(f"{display}: rules file not found")
        problems = validate_rules(path, display)
        if fmt == RulesFormat.json:
            sys.stdout.write(
                json_safe(
                    json.dumps(
                        {
                            "command": "validate",
                            "rules_file": display,
                            "ok": not problems,
                            "problems": [as_dict(p) for p in problems],
                        },
                        indent=2,
                        ensure_ascii=False,
                    )
                )
                + "\n"
            )
        else:
            for p in problems:
                sys.stdout.write(terminal_safe(as_text(p, "  ", severity=True) + "\n"))
            errors = sum(p.severity == "error" for p in problems)
            warnings = len(problems) - errors
            summary = (
                f"{display}: {errors} errors, {warnings} warnings\n"
                if problems
                else f"{display}: no problems found\n"
            )
            sys.stdout.write(terminal_safe(summary))
        return EXIT_CHANGES if problems else EXIT_OK

    _run(debug, body)


@app.command("rules", epilog="\b\nExample: lifecycle rules --format markdown > RULES.md")
def show_rules(
    rules_file: Annotated[
        str | None,
        typer.Argument(
            metavar="[RULES]", help="Rules file to show. Default: as classify finds it."
        ),
    ] = None,
    preset: PresetOpt = None,
    fmt: Annotated[
        RulesFormat,
        typer.Option("--format", "-f", help="text, json or markdown (e.g. for a pull request)."),
    ] = RulesFormat.text,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the stages and the rules in order, with what each rule means."""

    def body() -> int:
        import json

        from .report.rules_view import render_rich, to_dict, to_markdown

        ruleset, path = _load_rules(rules_file, preset, name="RULES")
        view = to_dict(ruleset, path)
        if fmt == RulesFormat.json:
            sys.stdout.write(json_safe(json.dumps(view, indent=2, ensure_ascii=False)) + "\n")
        elif fmt == RulesFormat.markdown:
            sys.stdout.write(to_markdown(view))
        else:
            render_rich(view, _console(no_color, sys.stdout))
        return EXIT_OK

    _run(debug, body)


@app.command(
    epilog="\b\nExample: lifecycle init --preset hubspot-de\n"
    "Example: lifecycle init --from contacts.csv --deals deals.csv --consent consent.csv"
)
def init(
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            metavar="NAME",
            help="Which rules to start from: hubspot (default), hubspot-de (German HubSpot) or salesforce.",
        ),
    ] = "hubspot",
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Overwrite a rules.yaml (and its test case files) already here."
        ),
    ] = False,
    from_contacts: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="CONTACTS",
            help="A contacts export: every value of its Lead Status, Contact type, ... (and of --deals' stages, --consent's statuses) that the preset does not name is written into the rules' value lists under sort_these, for you to sort into in or not_in.",
        ),
    ] = None,
    deals: DealsOpt = None,
    consent: ConsentOpt = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Write a commented starter rules.yaml, with its test cases, into the current folder.

    Edit it, check it with `lifecycle validate`, test it with `lifecycle test`; classify
    then finds it by itself when run from this folder or on a contacts file beside it.
    With --from, the value lists also hold your export's own values to sort: a renamed
    lead status or a custom deal stage becomes a two-minute job instead of a surprise.
    """

    def body() -> int:
        import glob

        from .io.output import OutputPlan, backup_writer, text_writer
        from .rules.model import load_rules, preset_path
        from .rules.yamlnodes import load_lined_yaml

        if (deals or consent) and not from_contacts:
            raise InputError(
                "--deals and --consent go with --from CONTACTS (the export whose values to sort)"
            )
        source = preset_path(preset)
        ruleset = load_rules(
            source, f"preset {preset}"
        )  # a preset that does not load is a bug, not a starter
        starter = None
        if from_contacts:
            from .core.init_from import export_values, starter_text

            read = _reader(
                [from_contacts, *(f for f in (deals, consent) if f)], delimiter, encoding
            )
            sources = [
                read(spec, role, ruleset.columns[role]) if spec else None
                for spec, role in (
                    (from_contacts, "contacts"),
                    (deals, "deals"),
                    (consent, "consent"),
                )
            ]
            found = export_values(ruleset, *sources)
            starter = starter_text(source.read_text(encoding="utf-8"), found)
            count = sum(len(f.values) for f in found)
            sys.stderr.write(
                f"lifecycle: {count:,} value(s) of your export are not in the preset's lists: "
                "they are under sort_these in rules.yaml; sort each into in or not_in, "
                "then run lifecycle validate\n"
                if count
                else "lifecycle: every value of your export is in the preset's lists already\n"
            )
        copies = [(source, Path("rules.yaml"))]
        doc = load_lined_yaml(source, f"preset {preset}")
        for item in (doc.data or {}).get("tests") or []:
            if isinstance(item, dict) and set(item) == {"include"}:
                for match in sorted(glob.glob(str(source.parent / item["include"]))):
                    copies.append((Path(match), Path(match).relative_to(source.parent)))
        existing = [str(target) for _, target in copies if os.path.lexists(target)]
        if existing and not force:
            raise OutputError(
                f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''} here; "
                "lifecycle init does not overwrite them (use --force to replace them)"
            )
        plan = OutputPlan()
        for target in sorted({t.parent for _, t in copies if str(t.parent) != "."}):
            plan.folder(str(target), "folder of test cases")
        for _, target in copies:
            what = "starter rules" if target.name == "rules.yaml" else "test cases"
            plan.write(str(target), what, instead="run lifecycle init in another folder")
        plan.check()
        with plan:
            for src, target in copies:
                writer = (
                    text_writer(starter)
                    if starter is not None and target.name == "rules.yaml" and src == source
                    else backup_writer(str(src))
                )
                plan.stage(str(target), writer)
            plan.commit()
        sys.stderr.write(
            f"lifecycle: wrote {', '.join(str(t) for _, t in copies[:3])}"
            f"{f' and {len(copies) - 3} more' if len(copies) > 3 else ''} (from preset {preset}); "
            "check them with: lifecycle validate && lifecycle test\n"
        )
        return EXIT_OK

    _run(debug, body)


#: What an option or argument takes (by its name, else its metavar), for the message when it
#: is given empty.
_EXPECTED = {
    "--preset": "a preset name (hubspot, hubspot-de or salesforce)",
    "--encoding": "an encoding such as cp1252",
    "--contacts-table": "a table name",
    "--deals-table": "a table name",
    "--consent-table": "a table name",
    "FILE": "a file path",
    "OUT": "a file path",
    "DIR": "a folder path",
    "CONTACTS": "a file path",
    "BEFORE": "a file path",
    "AFTER": "a file path",
    "RULES": "a file path",
    "COL": "a column header",
    "A,B": "column headers, comma-separated",
    "CHAR": "one character",
    "GATE": "a gate such as demotion",
    "ID": "a record id",
}


class _Command(TyperCommand):
    """Every command: it refuses an option or argument given as an empty text (`--deals "$DEALS"`
    with $DEALS unset must not run as if there were no deals file), checked once here for all of
    them, and tells the streams module which of its options send less output (for the message
    when stdout or stderr is closed)."""

    def invoke(self, ctx):
        from .io import streams

        opts = {opt for param in self.params for opt in param.opts}
        streams.LESS = [
            less for less in ("-q", "--report FILE", "-o FILE") if less.split()[0] in opts
        ]
        for param in self.params:
            value = ctx.params.get(param.name)
            if "" not in (value if isinstance(value, (list, tuple)) else [value]):
                continue
            metavar = (param.metavar or "").strip("[]")
            if param.param_type_name == "option":
                name, leave = max(param.opts, key=len), " (or leave the option out)"
            else:
                name = metavar or param.name.upper()
                leave = "" if param.required else " (or leave it out)"
            expected = _EXPECTED.get(name) or _EXPECTED.get(metavar, "a value")
            _say(f"lifecycle: error: {name} is empty: give {expected}{leave}\n")
            raise typer.Exit(EXIT_USAGE)
        return super().invoke(ctx)


#: Polars' allocator (jemalloc, on Linux) hands freed memory back to the system within a second;
#: classify's next step then takes it again, page by page. A run is short, so freed memory is kept
#: for ten seconds instead: about 7% less time at 1M contacts (a third less time in the kernel) for
#: 15-25% more peak memory (benchmarks/README.md). Not for diff, which frees little: the same time,
#: 3-7% more memory. A value the user set is left as it is.
ALLOCATOR = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:10000,muzzy_decay_ms:10000")
#: What `import polars` sets when nothing is: a run started by a Python program that uses Polars
#: inherits it, and that is not a choice of the user's.
POLARS_ALLOCATOR = "dirty_decay_ms:500,muzzy_decay_ms:1000"


def _set_allocator(argv: list[str]) -> None:
    """For classify, before Polars is loaded (the allocator reads its settings once)."""
    if argv[1:2] != ["classify"]:
        return
    name, ours = ALLOCATOR
    current = os.environ.get(name)
    if (
        current is None
        or current.removeprefix(POLARS_ALLOCATOR).removeprefix(",thp:always,metadata_thp:always")
        == ""
    ):
        os.environ[name] = ours


for _command in app.registered_commands:  # every command, declared above
    if _command.cls in (None, TyperCommand):
        _command.cls = _Command


def main() -> None:
    from .io.streams import guard_standard_streams

    _set_allocator(sys.argv)
    guard_standard_streams()
    try:
        app(prog_name="lifecycle")
    except LifecycleError as exc:  # --help or --version to a closed stdout: before any command runs
        _say(f"lifecycle: error: {exc}\n")
        sys.exit(exc.exit_code)

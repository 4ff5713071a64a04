"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import os
import sys
import traceback
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from . import __version__
from .errors import EXIT_CHANGES, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, InputError, LifecycleError, OutputError

app = typer.Typer(
    name="lifecycle",
    help="Put every CRM contact into the right lifecycle stage, from your HubSpot or Salesforce exports, and show what changed.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # tracebacks would show local variables, and rows hold personal data
    context_settings={"help_option_names": ["-h", "--help"]},
)


class StageValues(str, Enum):
    auto = "auto"
    label = "label"
    value = "value"


RulesOpt = Annotated[Optional[str], typer.Option(
    "--rules", metavar="FILE",
    help="Rules file. Default: $LIFECYCLE_RULES, else ./rules.yaml, else the built-in rules.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print no report; files asked for are still written.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full error trace (for bug reports).")]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="No colours in the report (also: NO_COLOR=1).")]
DelimiterOpt = Annotated[Optional[str], typer.Option(
    "--delimiter", metavar="CHAR", help="CSV delimiter of the inputs. Default: detected from the header (, ; tab |).")]
EncodingOpt = Annotated[Optional[str], typer.Option(
    "--encoding", metavar="NAME", help="Text encoding of CSV inputs, e.g. cp1252 for files saved by Excel. Default: UTF-8.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lifecycle {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Put every CRM contact into the right lifecycle stage, and show what changed."""


def _console(no_color: bool):
    from rich.console import Console

    return Console(stderr=True, no_color=no_color or bool(os.environ.get("NO_COLOR")), highlight=False,
                   width=None if sys.stderr.isatty() else 120)


def _run(debug: bool, body: Callable[[], int]) -> None:
    """Run a command body and turn every outcome into an exit code and, for errors, one clear line."""
    try:
        code = body()
    except LifecycleError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"lifecycle: error: {exc}\n")
        code = exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("lifecycle: interrupted; no output file was changed\n")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other Unix tools do.
        _silence_stdout()
        code = EXIT_OK
    except typer.Exit:
        raise
    except Exception as exc:  # a bug, not a user mistake
        if debug:
            traceback.print_exc()
        else:
            sys.stderr.write(f"lifecycle: internal error: {type(exc).__name__}; run again with --debug for details, and please report it\n")
        code = 3
    raise typer.Exit(code)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def _default_output(contacts: str) -> str:
    path = Path(contacts)
    return str(path.with_name(f"{path.stem}.reclassified{path.suffix or '.csv'}"))


@app.command()
def classify(
    contacts: Annotated[str, typer.Argument(metavar="CONTACTS", help="Contacts export (CSV or Parquet; - reads CSV from stdin).")],
    deals: Annotated[Optional[str], typer.Option("--deals", metavar="FILE", help="Deals export. Without it, deal rules cannot fire and nobody is demoted for lack of deals.")] = None,
    consent: Annotated[Optional[str], typer.Option("--consent", metavar="FILE", help="Consent records (one row per subscription event). Without it, the contacts' own opt-out and confirmation columns decide.")] = None,
    rules: RulesOpt = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", metavar="OUT", help="Where to write the reclassified contacts (- for stdout). Default: CONTACTS.reclassified.csv beside the input.")] = None,
    stage_values: Annotated[StageValues, typer.Option("--stage-values", help="How to write changed stages: label (Marketing Lead), value (HubSpot internal, marketingqualifiedlead), or auto (as most of the file does; unchanged stages are left as written).")] = StageValues.auto,
    check: Annotated[bool, typer.Option("--check", help="Write no reclassified file; exit 1 if any contact would change stage (for CI).")] = False,
    report: Annotated[Optional[str], typer.Option("--report", metavar="FILE", help="Also write the report as JSON to FILE.")] = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Reclassify every contact's lifecycle stage and report every change.

    Writes the contacts with the same columns in the same order, the stage updated,
    and beside it the previous stage and the rule that decided.
    """

    def body() -> int:
        from .classify import classify as classify_contacts
        from .output import write_table, write_text
        from .report import render_classify, to_json
        from .rules import discover_rules, load_rules
        from .sources import read_source

        rules_path, rules_display = discover_rules(rules)
        ruleset = load_rules(rules_path, rules_display)
        for warning in ruleset.warnings:
            sys.stderr.write(f"lifecycle: warning: {warning}\n")
        inputs = [p for p in (contacts, deals, consent) if p]
        if inputs.count("-") > 1:
            raise InputError("only one input can come from stdin (-)")
        if delimiter is not None and len(delimiter.encode()) != 1:
            raise InputError(f"--delimiter must be one character, got '{delimiter}' (use a real tab, e.g. --delimiter $'\\t')")
        target = output or ("-" if contacts == "-" else _default_output(contacts))
        if target != "-" and not check:
            for given in inputs:
                if given != "-" and Path(given).resolve() == Path(target).resolve():
                    raise OutputError(f"{target}: the output would overwrite the input file {given}; choose another --output")
        stdin = sys.stdin.buffer.read() if "-" in inputs else None
        read = lambda spec, role: read_source(spec, role, ruleset.columns[role], stdin=stdin if spec == "-" else None,  # noqa: E731
                                              delimiter=delimiter, encoding=encoding)
        contacts_src = read(contacts, "contacts")
        deals_src = read(deals, "deals") if deals else None
        consent_src = read(consent, "consent") if consent else None

        table, result = classify_contacts(contacts_src, deals_src, consent_src, ruleset, stage_format=stage_values.value,
                                          output_file=None if check else target, checked_only=check)
        if not check:
            write_table(table, target, contacts_src.format, contacts_src.dialect, stdout=sys.stdout.buffer)
        if report:
            write_text(report, to_json(result.to_dict()))
        if not quiet:
            render_classify(result.to_dict(), _console(no_color))
        if check and result.changed:
            return EXIT_CHANGES
        return EXIT_OK

    _run(debug, body)


def main() -> None:
    app(prog_name="lifecycle")

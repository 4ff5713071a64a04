"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated

import typer

from .app import app
from .options import (
    ChangesOpt,
    DebugOpt,
    DelimiterOpt,
    EncodingOpt,
    FailOnOpt,
    Format,
    FormatOpt,
    NoColorOpt,
    PresetOpt,
    QuietOpt,
    RedactOpt,
    ReportOpt,
    RulesOpt,
)
from .running import (
    choose_rules,
    emit,
    reader,
    run_command,
)


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
        from ..core.diff import diff as diff_exports
        from ..core.diff import diff_columns
        from ..core.gates import parse_gates
        from ..core.outputs import plan_diff_outputs, stage_changes

        ruleset, rules_file = choose_rules(rules, preset, before)
        gates = parse_gates(fail_on or [], ruleset)
        plan = plan_diff_outputs(before, after, rules_file, tuple(report or ()), changes, gates)
        plan.check()
        wanted = diff_columns(ruleset, key, stage)
        read = reader([before, after], delimiter, encoding)
        extra = tuple(c.strip() for c in (columns or "").split(",") if c.strip())
        before_src, after_src = read(before, "contacts", wanted), read(after, "contacts", wanted)
        result = diff_exports(before_src, after_src, ruleset, columns=extra)
        result = replace(result, changes_file=changes)
        found: list = []

        def moved():
            from ..core.changes import diff_changes

            if not found:
                found.append(diff_changes(before_src, after_src, ruleset, result.rule_column))
            return found[0]

        def every_change() -> dict:
            from ..core.changes import table
            from ..report.changes_table import change_list

            rows = table(moved(), ruleset, redact=redact or ruleset.redact)
            return {"change_list": change_list(rows, file=changes)}

        with plan:
            if changes:
                stage_changes(moved(), changes, ruleset, redact or ruleset.redact, plan)
            return emit(
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

    run_command(debug, body)

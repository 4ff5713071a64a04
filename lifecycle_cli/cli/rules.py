"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from ..base.errors import (
    EXIT_CHANGES,
    EXIT_OK,
    InputError,
)
from ..base.safe import json_safe, terminal_safe
from .app import app
from .options import (
    ConsentOpt,
    DealsOpt,
    DebugOpt,
    DelimiterOpt,
    EncodingOpt,
    NoColorOpt,
    PresetOpt,
)
from .running import choose_rules, console, reader, run_command, say_found


@app.command("test", epilog="\b\nExample: lifecycle test rules.yaml")
def test_rules(
    rules_file: Annotated[
        str | None,
        typer.Argument(
            metavar="[RULES]",
            help="Rules file whose test cases to run. Default: as classify finds it "
            "($LIFECYCLE_RULES, ./rules.yaml, the built-in rules).",
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
        from ..core.rule_tests import report_lines, run_cases
        from ..rules.cases import load_cases

        ruleset, path = choose_rules(rules_file, preset, name="RULES")
        cases = load_cases(path, ruleset.path)
        if not cases:
            raise InputError(
                f"{ruleset.path}: has no test cases; add a tests: section (lifecycle init writes "
                "one "
                "with examples)"
            )
        outcomes, seconds = run_cases(cases, ruleset)
        lines, ok = report_lines(outcomes, seconds, ruleset.path)
        if quiet:
            lines = [line for line in lines if not line.endswith(" PASSED")]
        sys.stdout.write(terminal_safe("\n".join(lines) + "\n"))
        return EXIT_OK if ok else EXIT_CHANGES

    run_command(debug, body)


class RulesFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


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

        from ..base.diagnostics import as_dict, as_text
        from ..rules.model import discover_rules, preset_path, validate_rules

        if rules_file and preset:
            raise InputError("give a rules file or --preset, not both")
        if preset:
            path, display, found = preset_path(preset), f"preset {preset}", None
        else:
            path, display, found = discover_rules(rules_file)
        if found:
            say_found(display, found, "RULES")
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

    run_command(debug, body)


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

        from ..report.rules_view import render_rich, to_dict, to_markdown

        ruleset, path = choose_rules(rules_file, preset, name="RULES")
        view = to_dict(ruleset, path)
        if fmt == RulesFormat.json:
            sys.stdout.write(json_safe(json.dumps(view, indent=2, ensure_ascii=False)) + "\n")
        elif fmt == RulesFormat.markdown:
            sys.stdout.write(to_markdown(view))
        else:
            render_rich(view, console(no_color, sys.stdout))
        return EXIT_OK

    run_command(debug, body)


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
            help="Which rules to start from: hubspot (default), hubspot-de (German HubSpot) or "
            "salesforce.",
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
            help="A contacts export: every value of its Lead Status, Contact type, ... (and of "
            "--deals' stages, --consent's statuses) that the preset does not name is written into "
            "the rules' value lists under sort_these, for you to sort into in or not_in.",
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
        from ..core.init_from import plan_starter, starter_files
        from ..io.output import backup_writer, text_writer
        from ..rules.model import load_rules, preset_path

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
            from ..core.init_from import export_values, starter_text

            read = reader([from_contacts, *(f for f in (deals, consent) if f)], delimiter, encoding)
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
        copies = starter_files(source)
        plan = plan_starter(copies, force)
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

    run_command(debug, body)

"""`lifecycle classify`: the options, then the core run (core/classify.py) and its output plan
(core/outputs.py); the reports are rendered by running.emit."""

from __future__ import annotations

import sys
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Annotated

import typer

from ..base.errors import EXIT_CHANGES, LifecycleError
from .app import app
from .options import (
    ChangesOpt,
    ConsentOpt,
    DealsOpt,
    DebugOpt,
    DelimiterOpt,
    Duplicates,
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
    StageValues,
    StrictOpt,
)
from .running import (
    choose_rules,
    emit,
    progress_line,
    reader,
    report_stamp,
    run_command,
    say_stop,
    say_warnings,
)


ContactsOpt = Annotated[
    str,
    typer.Argument(
        metavar="CONTACTS",
        help="Contacts export (CSV or Parquet; - reads CSV from stdin). With --engine duckdb or "
        "spark, also table:NAME: a table of the database (--database) or of Spark's catalog; "
        "the same works for --deals, --consent and --companies.",
    ),
]

CompaniesOpt = Annotated[
    str | None,
    typer.Option(
        "--companies",
        metavar="FILE",
        help="Companies export: each company gets the highest stage among its contacts (Other "
        "contacts do not count) and its own deals (won: Customer, open: Opportunity), written "
        "to --companies-output.",
    ),
]

CompaniesOutputOpt = Annotated[
    str | None,
    typer.Option(
        "--companies-output",
        metavar="OUT",
        help="Where to write the reclassified companies (.parquet: Parquet, else CSV). "
        "Default: COMPANIES.reclassified.csv beside the input.",
    ),
]

OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="OUT",
        help="Where to write the reclassified contacts: a .parquet name writes Parquet, any "
        "other CSV (in the input's delimiter and encoding); - for stdout. Default: "
        "CONTACTS.reclassified.csv beside the input.",
    ),
]

StageValuesOpt = Annotated[
    StageValues,
    typer.Option(
        "--stage-values",
        help="How to write changed stages: label (Marketing Lead), value (HubSpot internal, "
        "marketingqualifiedlead), or auto (as most of the file does; unchanged stages are left "
        "as written).",
    ),
]

CheckOpt = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Write no reclassified file; exit 1 if any contact would change stage (for CI).",
    ),
]

HubspotImportOpt = Annotated[
    str | None,
    typer.Option(
        "--hubspot-import",
        metavar="DIR",
        help="Also write the files to import the changes back into HubSpot into DIR (created "
        "if needed): contacts-1-clear-stage.csv (records moving back, whose stage must first "
        "be cleared), contacts-2-set-stage.csv (every changed record, HubSpot internal values) "
        "and README.txt (the order and the import settings).",
    ),
]

InPlaceOpt = Annotated[
    bool,
    typer.Option(
        "--in-place",
        help="Overwrite CONTACTS with the result, keeping the original as CONTACTS.bak "
        "(CONTACTS.bak-2, -3, ... when an earlier run's backup is there: no backup is ever "
        "replaced).",
    ),
]

OnDuplicateOpt = Annotated[
    Duplicates,
    typer.Option(
        "--on-duplicate",
        help="A Record ID that appears twice: error (stop), or keep-first (classify the first "
        "row, leave the others out and report them).",
    ),
]

HistoryOpt = Annotated[
    str | None,
    typer.Option(
        "--history",
        metavar="DIR",
        help="Append this run to the run history in DIR (created if needed): one JSON record "
        "per run (time, rules hash, inputs' names, sizes and sha256, stage counts, moves, "
        "diagnostics). `lifecycle history DIR` shows it; --fail-on 'demotion>3x' compares "
        "with it. Also report: {history: DIR} in the rules file.",
    ),
]

CompaniesChangesOpt = Annotated[
    str | None,
    typer.Option(
        "--companies-changes",
        metavar="FILE",
        help="With --companies: every changed company, one row each, to FILE (as --changes).",
    ),
]


class EngineName(StrEnum):
    polars = "polars"
    duckdb = "duckdb"
    spark = "spark"


EngineOpt = Annotated[
    EngineName,
    typer.Option(
        "--engine",
        help="Where the rules run: polars (the default, in this process, nothing to install), "
        "duckdb (in this process: pip install 'lifecycle-cli[duckdb]') or spark (local mode, or "
        "the cluster of --spark-master: pip install 'lifecycle-cli[spark]', and Java). The "
        "checks, the report, the gates and every output file are the same on each.",
    ),
]

SparkMasterOpt = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        metavar="URL",
        help="With --engine spark: the cluster to run on (spark://HOST:7077, yarn, k8s://...). "
        "Default: local mode on every core, or the session spark-submit started. Every "
        "executor must be able to read the input files at the paths given.",
    ),
]

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        metavar="FILE",
        help="With --engine duckdb: the DuckDB database whose tables the inputs name as "
        "table:NAME (e.g. table:crm.contacts). Opened read-only: nothing is written to it.",
    ),
]

WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        metavar="SECONDS",
        min=0,
        help="When another lifecycle run is writing one of this run's output files or folders, "
        "wait up to SECONDS for it to finish instead of stopping at once (exit 2).",
    ),
]


@app.command(
    epilog="\b\nExample: lifecycle classify contacts.csv --deals deals.csv --consent consent.csv "
    "--hubspot-import hubspot/"
)
def classify(
    contacts: ContactsOpt,
    deals: DealsOpt = None,
    consent: ConsentOpt = None,
    companies: CompaniesOpt = None,
    companies_output: CompaniesOutputOpt = None,
    rules: RulesOpt = None,
    preset: PresetOpt = None,
    strict: StrictOpt = False,
    output: OutputOpt = None,
    stage_values: StageValuesOpt = StageValues.auto,
    check: CheckOpt = False,
    hubspot_import: HubspotImportOpt = None,
    in_place: InPlaceOpt = False,
    on_duplicate: OnDuplicateOpt = Duplicates.error,
    fail_on: FailOnOpt = None,
    fmt: FormatOpt = Format.text,
    report: ReportOpt = None,
    changes: ChangesOpt = None,
    history: HistoryOpt = None,
    companies_changes: CompaniesChangesOpt = None,
    redact: RedactOpt = False,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    wait: WaitOpt = 0,
    engine: EngineOpt = EngineName.polars,
    spark_master: SparkMasterOpt = None,
    database: DatabaseOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Reclassify every contact's lifecycle stage and report every change.

    Writes the contacts with the same columns in the same order, the stage updated,
    and beside it the previous stage and the rule that decided.
    """

    def body() -> int:
        # What the run keeps to its end: the files the engine wrote the input tables to.
        with ExitStack() as kept:
            return run_keeping(kept)

    def run_keeping(kept: ExitStack) -> int:
        from ..base.diagnostics import strict_failure
        from ..core.classify import classify as classify_contacts
        from ..core.gates import parse_gates
        from ..core.outputs import ClassifyFiles, plan_outputs, stage_outputs

        if spark_master is not None and engine != EngineName.spark:
            raise LifecycleError("--spark-master is for --engine spark")
        ruleset, rules_file = choose_rules(rules, preset, contacts)
        gates = parse_gates(fail_on or [], ruleset)
        files = ClassifyFiles(
            contacts,
            deals,
            consent,
            companies,
            output=output,
            companies_output=companies_output,
            check=check,
            in_place=in_place,
            reports=tuple(report or ()),
            changes=changes,
            companies_changes=companies_changes,
            history=history,
            hubspot_import=hubspot_import,
        )
        stamp = report_stamp(rules_file)
        outputs = plan_outputs(files, ruleset, rules_file, gates, stamp)
        outputs.plan.check(wait=wait)  # before anything is read: a clash costs nothing yet
        show = progress_line(quiet, no_color, "classify")
        stop_stream = sys.stderr if outputs.target == "-" else sys.stdout
        with say_stop(fmt, "classify", stop_stream), ExitStack() as held:
            on, sources = open_inputs(
                files,
                ruleset,
                (engine.value, spark_master, Path(database) if database is not None else None),
                (delimiter, encoding),
                held=held,
                kept=kept,
            )
            with show:
                run = classify_contacts(
                    sources["contacts"],
                    sources["deals"],
                    sources["consent"],
                    ruleset,
                    stage_format=stage_values.value,
                    output_file=None if check else outputs.target,
                    checked_only=check,
                    on_duplicate=on_duplicate.value,
                    companies=sources["companies"],
                    progress=show.step,
                    engine=on,
                )
        result = run.result
        # The text report lists the warnings itself (--strict in its error); else stderr here.
        if not ((fmt == Format.text and not quiet) or strict):
            say_warnings(result.diagnostics)
        if strict:
            failure = strict_failure(list(result.diagnostics))
            if failure is not None:
                raise failure
        hidden = redact or ruleset.redact
        with outputs.plan:
            with show:
                show.step("writing the output")
                stage_outputs(outputs, files, run, sources, ruleset, redact=hidden)
            shown = replace(result, changes_file=changes, companies_changes_file=companies_changes)
            code = emit(
                shown.to_dict(),
                fmt,
                report or [],
                gates,
                outputs.plan,
                quiet=quiet,
                no_color=no_color,
                run_facts=stamp,
                history=outputs.history,
                html_extra=lambda: every_change(run, ruleset, files, hidden),
                text_stream=sys.stderr,
                # The text report is a message (stderr); other formats are data, on stdout
                # unless the reclassified CSV went there.
                data_stream=sys.stderr if outputs.target == "-" else sys.stdout,
                rules_path=rules_file,
                redact=hidden,
            )
        if outputs.earlier_backup is not None:
            sys.stderr.write(
                f"lifecycle: kept the original as {outputs.backup}; {outputs.earlier_backup} is "
                "an earlier run's backup and was left as it was\n"
            )
        if check and result.changed:
            return EXIT_CHANGES
        return code

    run_command(debug, body)


def open_inputs(files, ruleset, engine: tuple, read_options: tuple, *, held, kept):
    """The engine (None: Polars) and the inputs read. `engine`: (name, Spark master, DuckDB
    database); `read_options`: (delimiter, encoding). The engine is closed with `held`; input
    tables (table:NAME) are written to Parquet files that stay until `kept` closes, as the
    reclassified contacts are written from them after the engine is gone."""
    from ..io.sources import read_sources, table_of

    name, _, database = engine
    if database is not None and name != "duckdb":
        raise LifecycleError("--database is for --engine duckdb: its tables are the inputs")
    tables = {spec: t for spec in files.inputs if (t := table_of(spec)) is not None}
    if tables and name == "polars":
        raise LifecycleError(
            f"{next(iter(tables))}: a table is read by --engine duckdb (with --database FILE) "
            "or --engine spark; with the default engine, give the export's file"
        )
    on, exported = None, {}
    if tables:  # the engine first: it writes the tables to files, which the run then reads
        on = held.enter_context(running_on(*engine))
        folder = Path(kept.enter_context(TemporaryDirectory(prefix="lifecycle-tables-")))
        for i, (spec, table) in enumerate(tables.items()):
            exported[spec] = folder / f"table-{i}.parquet"
            on.export_table(spec, table, exported[spec])
    read = reader(files.inputs, *read_options, defer_stage=True, tables=exported)
    # Every input's problems stop the run together (and go to the JSON report).
    sources = files.by_role(read_sources(read, files.wanted(ruleset)))
    if on is None:  # after the inputs: a bad file stops before Spark takes seconds to start
        on = held.enter_context(running_on(*engine))
    return on, sources


@contextmanager
def running_on(engine: str, spark_master: str | None, database: Path | None = None):
    """The engine the run's queries go to (None: Polars, in this process), closed afterwards."""
    if engine == "polars":
        yield None
        return
    from ..io.engines import open_engine

    with open_engine(engine, spark_master=spark_master, database=database) as on:
        yield on


def every_change(run, rules, files, hidden: bool) -> dict:
    """The HTML report's full lists of changed contacts (and companies), made only for HTML."""
    from ..core.changes import table
    from ..report.changes_table import change_list

    extra = {
        "change_list": change_list(
            table(run.changes, rules, redact=hidden), file=files.changes, what="contacts"
        )
    }
    if run.companies_changes is not None:
        # Company names are not personal data: named even in a redacted report.
        extra["company_change_list"] = change_list(
            table(run.companies_changes, rules, redact=False),
            file=files.companies_changes,
            what="companies",
        )
    return extra

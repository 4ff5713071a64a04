"""What a classify run writes, decided before anything is read: the reclassified files, the
backup of --in-place, the reports, the lists of changes, the history record and the HubSpot
import folder, each planned on one `OutputPlan` (checked for clashes and locks up front) and,
once the run has passed its checks, staged on it to be committed all together."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..base.errors import InputError, OutputError
from ..io.output import OutputPlan, backup_path, backup_writer, text_writer
from ..io.sources import table_of
from ..rules.model import Rules

#: What to do instead of a --report onto a pipe or device (classify and diff have --format).
REPORT_INSTEAD = "use --format json, markdown or html to print the report on stdout"
REPORT_PRINTED = "--format json, markdown or html prints the report on stdout"
CHANGES_INSTEAD = "give a file name: the list of changes is a table, not a report"
ROLES = ("contacts", "deals", "consent", "companies")  #: a classify run's inputs, in order


@dataclass(frozen=True)
class ClassifyFiles:
    """The files a classify run reads and the outputs asked for (the command line's options)."""

    contacts: str
    deals: str | None = None
    consent: str | None = None
    companies: str | None = None
    output: str | None = None
    companies_output: str | None = None
    check: bool = False
    in_place: bool = False
    reports: tuple[str, ...] = ()
    changes: str | None = None
    companies_changes: str | None = None
    history: str | None = None
    hubspot_import: str | None = None

    @property
    def inputs(self) -> list[str]:
        return [p for p in (self.contacts, self.deals, self.consent, self.companies) if p]

    def wanted(self, rules: Rules) -> list[tuple[str | None, str, dict]]:
        """(path or None, role, the rules' columns for it) of each input, for io.read_sources."""
        paths = (self.contacts, self.deals, self.consent, self.companies)
        return [(p, role, rules.columns[role]) for p, role in zip(paths, ROLES, strict=True)]

    @staticmethod
    def by_role(sources: list) -> dict:
        """The sources read for `wanted`, by role (None where no file was given)."""
        return dict(zip(ROLES, sources, strict=True))

    @property
    def roles(self) -> list[tuple[str, str]]:
        paths = (self.contacts, self.deals, self.consent, self.companies)
        return [(role, path) for role, path in zip(ROLES, paths, strict=True) if path]


@dataclass(frozen=True)
class HistoryPlan:
    """Where a classify run records itself (None with --check) and the earlier runs' medians."""

    target: str | None
    inputs: list[tuple[str, str]]
    earlier: dict


@dataclass
class ClassifyOutputs:
    """The planned outputs of one classify run."""

    plan: OutputPlan
    target: str  #: the reclassified contacts (`-`: stdout)
    companies_target: str | None = None
    backup: str | None = None  #: --in-place: where the original goes
    earlier_backup: str | None = None  #: an earlier run's backup, left as it was
    history: HistoryPlan | None = None
    import_objects: list[str] = field(default_factory=list)


def plan_outputs(
    files: ClassifyFiles, rules: Rules, rules_file: Path | None, gates, stamp: dict
) -> ClassifyOutputs:
    """Every output of the run on one plan, and every contradiction between the options refused
    before anything is read (the plan's `check` then looks for clashes and locks)."""
    _refuse_contradictions(files)
    streamed = files.contacts == "-" or is_stream(files.contacts)
    # A stream (stdin, a pipe, `<(gunzip -c x.gz)`) has no folder to write beside: stdout.
    target = (
        files.contacts
        if files.in_place
        else files.output or ("-" if streamed else default_output(files.contacts))
    )
    plan = OutputPlan()
    for path, what in (
        (files.contacts, "contacts file"),
        (files.deals, "deals file"),
        (files.consent, "consent file"),
        (files.companies, "companies file"),
        (rules_file, "rules file"),
    ):
        plan.read(path, what)
    outputs = ClassifyOutputs(plan, target, _companies_target(files))
    if outputs.companies_target is not None:
        plan.write(outputs.companies_target, "reclassified companies")
    if not files.check:
        plan.write(
            target,
            "reclassified contacts",
            in_place=files.in_place,
            instead="use -o - to write to stdout, or --check to write nothing",
        )
        if files.in_place:
            outputs.backup, outputs.earlier_backup = backup_path(files.contacts)
            plan.write(outputs.backup, "backup of the contacts file")
    for path in files.reports:
        plan.write(path, "report", instead=REPORT_INSTEAD)
    no_stdout(
        changes=files.changes, companies_changes=files.companies_changes, history=files.history
    )
    plan.write(files.changes, "list of changes", instead=CHANGES_INSTEAD)
    plan.write(files.companies_changes, "list of company changes", instead=CHANGES_INSTEAD)
    folder = files.history or rules_history(rules, rules_file)
    outputs.history = plan_history(folder, gates, plan, files.roles, stamp, check=files.check)
    if files.hubspot_import:
        from ..io.hubspot_import import file_names, foreign_files

        outputs.import_objects = ["contacts", "companies"] if files.companies else ["contacts"]
        plan.own_folder(
            files.hubspot_import,
            "HubSpot import folder",
            file_names(outputs.import_objects),
            "HubSpot import file",
            foreign_files,
        )
    return outputs


def _refuse_contradictions(files: ClassifyFiles) -> None:
    for option, given in (
        ("--companies-output", files.companies_output),
        ("--companies-changes", files.companies_changes),
    ):
        if given and not files.companies:
            raise InputError(f"{option} needs --companies FILE: the companies export to reclassify")
    check_writes_nothing(
        files.check,
        output=files.output,
        in_place=files.in_place,
        report=files.reports,
        hubspot_import=files.hubspot_import,
        companies_output=files.companies_output,
        changes=files.changes,
        companies_changes=files.companies_changes,
        history=files.history,
    )
    if files.in_place and (files.output or files.contacts == "-" or is_stream(files.contacts)):
        raise OutputError(
            "--in-place writes over CONTACTS itself: it cannot be combined with --output or stdin"
        )
    # A table has no folder to write beside, and is never written to.
    for given, output, option in (
        (files.contacts, files.output, "-o/--output FILE"),
        (files.companies, files.companies_output, "--companies-output FILE"),
    ):
        if table_of(given) is not None and not files.check and (output is None or files.in_place):
            raise OutputError(
                f"{given}: the reclassified rows of a table are written to a file: give "
                f"{option} (CSV or Parquet), or --check to write nothing"
            )


def _companies_target(files: ClassifyFiles) -> str | None:
    if not files.companies or files.check:
        return None
    if files.companies_output == "-":
        raise OutputError("--companies-output - (stdout) is not supported: give a file name")
    target = files.companies_output or (
        "-" if files.companies == "-" else default_output(files.companies)
    )
    if target == "-":
        raise OutputError(
            "--companies - reads the companies from stdin, so there is no "
            "folder to write the reclassified companies beside: give "
            "--companies-output FILE"
        )
    return target


def plan_diff_outputs(
    before: str,
    after: str,
    rules_file: Path | None,
    reports: tuple[str, ...],
    changes: str | None,
    gates,
) -> OutputPlan:
    """What a diff reads and writes (its reports and list of changes), on one plan; the
    `>Nx` gates compare with earlier runs, which diff does not keep."""
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
    for path in reports:
        plan.write(path, "report", instead=REPORT_INSTEAD)
    no_stdout(changes=changes)
    plan.write(changes, "list of changes", instead=CHANGES_INSTEAD)
    return plan


def stage_outputs(
    outputs: ClassifyOutputs, files: ClassifyFiles, run, sources: dict, rules: Rules, *, redact
) -> None:
    """Stage every file of a classify run that passed its checks (the reports come with the
    rendering); `sources`: the contacts and (or None) companies sources as read."""
    plan = outputs.plan
    contacts, companies = sources["contacts"], sources.get("companies")
    if outputs.backup is not None:
        plan.stage(outputs.backup, backup_writer(files.contacts), exclusive=True)
    if files.hubspot_import:
        built = import_files(run, contacts, rules, companies)
        for name, text in built.files.items():
            plan.stage(os.path.join(files.hubspot_import, name), text_writer(text))
    if not files.check:
        stage_export(
            run.output,
            contacts,
            outputs.target,
            run.added_columns,
            plan,
            in_place=files.in_place,
        )
    if outputs.companies_target is not None:
        stage_export(
            run.companies_output, companies, outputs.companies_target, run.companies_added, plan
        )
    if files.changes:
        stage_changes(run.changes, files.changes, rules, redact, plan)
    if files.companies_changes:
        stage_changes(run.companies_changes, files.companies_changes, rules, redact, plan)


def import_files(run, contacts_src, rules: Rules, companies_src=None):
    """The HubSpot re-import files of a classify run (see io/hubspot_import.py)."""
    from ..io.hubspot_import import ImportObject, build
    from .export import added_stage_column

    # A file without a stage column (optional in the salesforce preset) gets the one classify adds.
    stage = (
        file_header(contacts_src, "stage")
        if contacts_src.has("stage")
        else added_stage_column(rules)
    )
    objects = [
        ImportObject(
            "contacts",
            run.changes.collect(),
            file_header(contacts_src, "record_id"),
            stage,
            rules.other_type_column,
        )
    ]
    if companies_src is not None:
        company_stage = (
            file_header(companies_src, "stage")
            if companies_src.has("stage")
            else added_stage_column(rules)
        )
        objects.append(
            ImportObject(
                "companies",
                run.companies_changes,
                file_header(companies_src, "record_id"),
                company_stage,
            )
        )
    return build(objects, rules, contacts_src.display)


def stage_export(
    table, source, target: str, added: list[str], plan, *, in_place: bool = False
) -> None:
    """Stage a reclassified export (contacts or companies) as its input came: the format by the
    target's name, the input's delimiter, encoding and header line, the added columns right after
    the stage column (at the end when the export has none, as classify's output puts them).
    To stdout (-o -) it streams at once, so every row is checked to parse first."""
    import polars as pl

    from ..io.output import output_format, write_table
    from ..io.sources import check_parses, find_read_error, output_header_line, polars_reason

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


def file_header(source, name: str) -> str:
    """A resolved column's header as the file spells it (Polars' name can differ: repeats,
    quotes)."""
    header = source.resolved[name]
    if len(source.file_headers) == len(source.headers):
        return source.file_headers[list(source.headers).index(header)]
    return header


def check_writes_nothing(check: bool, **asked: object) -> None:
    """--check writes nothing at all: an output asked for as well is a contradiction, not a file
    quietly left unwritten (nor, as --hubspot-import was, a file written after all)."""
    given = [f"--{name.replace('_', '-')}" for name, value in asked.items() if value]
    if not check or not given:
        return
    names = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
    printed = f"; {REPORT_PRINTED}" if asked.get("report") else ""
    raise InputError(
        f"--check writes nothing, so it cannot be combined with {names}: leave "
        f"{'it' if len(given) == 1 else 'them'} out, or leave out --check{printed}"
    )


def rules_history(rules: Rules, rules_file: Path | None) -> str | None:
    """report: {history: DIR} in the rules file, relative to the rules file's folder (a cron job
    started from anywhere finds the same folder)."""
    if not rules.history:
        return None
    if os.path.isabs(rules.history) or rules_file is None:
        return rules.history
    return os.path.join(os.path.dirname(str(rules_file)), rules.history)


def plan_history(
    folder: str | None, gates, plan, inputs: list[tuple[str, str]], stamp: dict, *, check: bool
) -> HistoryPlan | None:
    """The history record's file, planned with the other outputs, and the earlier runs the `>Nx`
    gates compare with (read before this run adds its own)."""
    from ..io.history import baseline, file_name, load

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
        target = os.path.join(folder, file_name(stamp["at"], stamp["rules_hash"], inputs))
        plan.write(target, "history record")
    earlier = baseline(load(folder)) if needs and os.path.isdir(folder) else {}
    return HistoryPlan(target, inputs, earlier)


def no_stdout(**given: str | None) -> None:
    """Tables and records, never streams: `-` (stdout) is refused, not written as a file named -."""
    for name, value in given.items():
        if value == "-":
            raise InputError(
                f"--{name.replace('_', '-')} -: stdout is not supported here; give a file name"
            )


def stage_changes(frame, target: str, rules: Rules, redact: bool, plan) -> None:
    """Stage a --changes file: every changed record, one row each (see changes.py)."""
    from .changes import table, writer

    plan.stage(target, writer(table(frame, rules, redact=redact), target))


def is_stream(path: str) -> bool:
    """A named pipe or process substitution (/dev/fd/N): read once, nothing to write beside it."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def default_output(contacts: str) -> str:
    path = Path(contacts)
    return str(path.with_name(f"{path.stem}.reclassified{path.suffix or '.csv'}"))

"""`lifecycle dbt`: write the classify query as dbt models, with their tests and sources."""

from __future__ import annotations

import csv
import os
from enum import StrEnum
from typing import Annotated

import typer

from ..base.errors import EXIT_OK, InputError, OutputError
from .app import app
from .options import DebugOpt, DelimiterOpt, EncodingOpt, PresetOpt, RulesOpt, StageValues
from .running import choose_rules, export_headers, run_command, say
from .sql import ConsentHeaderOpt, ContactsHeaderOpt, DealsHeaderOpt, DialectOpt, NoConsentOpt
from .sql import NoDealsOpt


class Source(StrEnum):
    export = "export"
    fivetran_hubspot = "fivetran-hubspot"


SourceOpt = Annotated[
    Source,
    typer.Option(
        "--source",
        help="Where the contacts come from: export (the CSV exports loaded as text tables, "
        "columns = the export's headers) or fivetran-hubspot (Fivetran's HubSpot connector "
        "tables contact, deal, deal_contact, deal_pipeline_stage; staging models reshape them). "
        "With fivetran-hubspot, --contacts-header / --deals-header name a CSV whose header row "
        "lists the connector's contact / deal columns (property_*), to map the custom ones.",
    ),
]

ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace model files an earlier run wrote in DIR.")
]

DirArg = Annotated[
    str,
    typer.Argument(
        metavar="DIR",
        help="The folder for the models, inside your dbt project's model path (e.g. "
        "models/lifecycle); created when missing (its parent must exist).",
        show_default=False,
    ),
]


@app.command(
    epilog="\b\nExample (in your dbt project):\n"
    "  lifecycle dbt models/lifecycle --dialect snowflake --source fivetran-hubspot\n"
    "  dbt build --select +lifecycle_contacts"
)
def dbt(
    folder: DirArg,
    dialect: DialectOpt,
    source: SourceOpt = Source.export,
    contacts_header: ContactsHeaderOpt = None,
    deals_header: DealsHeaderOpt = None,
    consent_header: ConsentHeaderOpt = None,
    no_deals: NoDealsOpt = False,
    no_consent: NoConsentOpt = False,
    stage_values: Annotated[
        StageValues,
        typer.Option(
            "--stage-values",
            help="Write the new stage as its label or its HubSpot value (auto means label here).",
        ),
    ] = StageValues.label,
    force: ForceOpt = False,
    rules: RulesOpt = None,
    preset: PresetOpt = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Write dbt models that reclassify every contact in your warehouse, as classify does.

    Into DIR: lifecycle_contacts.sql (the classify query as a table model, reading its inputs
    through source() or ref()), schema.yml (tests: unique and not-null record id, accepted stage
    values, a rule for every contact), lifecycle_sources.yml (the input tables), and with
    --source fivetran-hubspot the staging views stg_lifecycle__contacts/__deals. Regenerate
    (--force) when the rules or the tables' columns change. Then run `dbt build`.
    """

    def body() -> int:
        from sqlglot.errors import SqlglotError

        from ..core.dbt import build_models
        from ..io.output import OutputPlan, text_writer

        ruleset, rules_file = choose_rules(rules, preset)
        plan = OutputPlan()
        plan.read(rules_file, "rules file")
        header_files = (
            ("contacts", contacts_header),
            ("deals", deals_header),
            ("consent", consent_header),
        )
        for role, path in header_files:
            plan.read(path, f"{role} header file")
        if source == Source.fivetran_hubspot:
            if consent_header or no_deals or no_consent:
                raise InputError(
                    "--source fivetran-hubspot reads no consent table and always reads the deals: "
                    "leave out --consent-header, --no-deals and --no-consent"
                )
            headers = {role: _header_row(path) for role, path in header_files if path}
        else:
            headers = export_headers(ruleset, header_files, delimiter, encoding)
        try:
            models = build_models(
                ruleset,
                source=source.value,
                dialect=dialect.value,
                headers=headers,
                deals=not no_deals,
                consent=not no_consent,
                stage_values="value" if stage_values == StageValues.value else "label",
            )
        except ValueError as exc:
            raise InputError(str(exc)) from None
        except SqlglotError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = f"cannot write the models for --dialect {dialect.value}: {reason}"
            raise InputError(message) from None
        targets = {name: os.path.join(folder, name) for name in models.files}
        existing = [path for path in targets.values() if os.path.lexists(path)]
        if existing and not force:
            raise OutputError(
                f"{', '.join(existing)}: already there; give --force to replace "
                f"{'it' if len(existing) == 1 else 'them'} (or choose another DIR)"
            )
        plan.folder(folder, "models folder")
        for name, path in targets.items():
            plan.write(path, f"dbt file {name}")
        plan.check()
        for name, text in models.files.items():
            plan.stage(targets[name], text_writer(text))
        written = plan.commit()
        say(f"lifecycle: wrote {len(written)} files into {folder}; run `dbt build`\n")
        return EXIT_OK

    run_command(debug, body)


def _header_row(path: str) -> list[str]:
    """The column names of a connector table, as a CSV file's header row lists them."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            row = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read the header row: {exc}") from None
    if not row:
        raise InputError(f"{path}: the file is empty: give a CSV whose first row lists the columns")
    return [name.strip() for name in row]

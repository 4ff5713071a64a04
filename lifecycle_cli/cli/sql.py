"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from ..base.errors import (
    EXIT_OK,
    InputError,
)
from .app import app
from .options import DebugOpt, DelimiterOpt, EncodingOpt, PresetOpt, RulesOpt, StageValues
from .running import choose_rules, export_headers, run_command


class Dialect(StrEnum):
    duckdb = "duckdb"
    spark = "spark"
    databricks = "databricks"
    bigquery = "bigquery"
    snowflake = "snowflake"
    postgres = "postgres"


DialectOpt = Annotated[
    Dialect,
    typer.Option("--dialect", help="SQL dialect of the warehouse or engine that runs the query."),
]

ContactsTableOpt = Annotated[
    str,
    typer.Option(
        "--contacts-table",
        metavar="NAME",
        help="Table or view holding the contacts export (columns named as in the export).",
    ),
]

DealsTableOpt = Annotated[
    str | None,
    typer.Option("--deals-table", metavar="NAME", help="Table or view holding the deals export."),
]

ConsentTableOpt = Annotated[
    str | None,
    typer.Option(
        "--consent-table", metavar="NAME", help="Table or view holding the consent records."
    ),
]

NoDealsOpt = Annotated[
    bool,
    typer.Option(
        "--no-deals",
        help="There is no deals table (deal rules cannot fire, as in classify without --deals).",
    ),
]

NoConsentOpt = Annotated[
    bool,
    typer.Option(
        "--no-consent", help="There is no consent table (the contacts' own columns decide)."
    ),
]

ContactsHeaderOpt = Annotated[
    str | None,
    typer.Option(
        "--contacts-header",
        metavar="FILE",
        help="An export whose header row lists the contacts table's columns; the output then "
        "has exactly classify's columns. Needed for spark and postgres.",
    ),
]

DealsHeaderOpt = Annotated[
    str | None,
    typer.Option(
        "--deals-header",
        metavar="FILE",
        help="An export whose header row lists the deals table's columns (without it, the "
        "columns assumed are named in a comment at the query's top).",
    ),
]

ConsentHeaderOpt = Annotated[
    str | None,
    typer.Option(
        "--consent-header",
        metavar="FILE",
        help="An export whose header row lists the consent table's columns (without it, the "
        "columns assumed are named in a comment at the query's top).",
    ),
]

StageValuesOpt = Annotated[
    StageValues,
    typer.Option(
        "--stage-values",
        help="Write the new stage as its label or its HubSpot value (auto means label here).",
    ),
]

OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output", "-o", metavar="FILE", help="Write the query to FILE instead of stdout."
    ),
]


@app.command(
    epilog="\b\nExample: lifecycle sql --dialect snowflake --contacts-header contacts.csv "
    "--deals-header deals.csv --consent-header consent.csv -o classify.sql"
)
def sql(
    dialect: DialectOpt,
    contacts_table: ContactsTableOpt = "contacts",
    deals_table: DealsTableOpt = "deals",
    consent_table: ConsentTableOpt = "consent",
    no_deals: NoDealsOpt = False,
    no_consent: NoConsentOpt = False,
    contacts_header: ContactsHeaderOpt = None,
    deals_header: DealsHeaderOpt = None,
    consent_header: ConsentHeaderOpt = None,
    stage_values: StageValuesOpt = StageValues.label,
    output: OutputOpt = None,
    rules: RulesOpt = None,
    preset: PresetOpt = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Print the whole classification as one SQL query, to run the same rules in a warehouse or on
    Spark.

    The query reads tables named like the exports (columns = the export's headers, as text)
    and returns every contact with the stage updated, the previous stage and the deciding rule.
    Without a header file for a table, the query assumes the rules' first header for each
    column it reads there and names them in a comment at its top.
    """

    def body() -> int:
        from sqlglot.errors import SqlglotError

        from ..core.sql import STAR_REPLACE_DIALECTS, TABLE_NAME, TABLE_NAME_EXPECTED, build_query
        from ..io.output import OutputPlan, write_text
        from ..io.streams import write_data

        for option, table in (
            ("--contacts-table", contacts_table),
            ("--deals-table", deals_table),
            ("--consent-table", consent_table),
        ):
            if table is not None and not TABLE_NAME.fullmatch(table):
                raise InputError(f"{option}: '{table}' is not {TABLE_NAME_EXPECTED}")
        ruleset, rules_file = choose_rules(rules, preset)
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
                f"--dialect {dialect.value} needs --contacts-header FILE: an export whose header "
                "row lists "
                "the contacts table's columns, so the query can name every output column"
            )
        header_files = (
            ("contacts", contacts_header),
            ("deals", deals_header),
            ("consent", consent_header),
        )
        headers = export_headers(ruleset, header_files, delimiter, encoding)
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
        tables = {
            "contacts": contacts_table,
            "deals": None if no_deals else deals_table,
            "consent": None if no_consent else consent_table,
        }
        query = with_assumed(query, ruleset, dialect.value, tables, set(headers))
        if output and output != "-":
            write_text(output, query + "\n")
        else:
            write_data(sys.stdout, query + "\n")
        return EXIT_OK

    run_command(debug, body)


def with_assumed(
    query: str, ruleset, dialect: str, tables: dict[str, str | None], given: set[str]
) -> str:
    """The query, with the comment naming the columns it assumed at its top (and a line on
    stderr saying so) when a table it reads had no header file."""
    from ..core.sql_assumed import HEADER_OPTIONS, assumed_columns, assumed_comment

    assumed = assumed_columns(ruleset, dialect, tables, given, query)
    if not assumed:
        return query
    roles = list(dict.fromkeys(role for role, _, _ in assumed))
    if sys.stderr is not None:  # None when stderr is closed: print would go to stdout
        sys.stderr.write(
            f"lifecycle: no header file for {', '.join(roles)}: the query assumes "
            f"{len(assumed)} columns, named in the comment at its top (give "
            + " ".join(f"{HEADER_OPTIONS[role]} FILE" for role in roles)
            + " to name the real ones)\n"
        )
    return assumed_comment(assumed) + query

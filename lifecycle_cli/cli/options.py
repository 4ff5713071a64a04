"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class StageValues(StrEnum):
    auto = "auto"
    label = "label"
    value = "value"


RulesOpt = Annotated[
    str | None,
    typer.Option(
        "--rules",
        metavar="FILE",
        help="Rules file. Default: $LIFECYCLE_RULES, else rules.yaml in the current folder, else "
        "rules.yaml beside "
        "the contacts file, else the built-in rules. Every report names the file used and a hash "
        "of it.",
    ),
]


DealsOpt = Annotated[
    str | None,
    typer.Option(
        "--deals",
        metavar="FILE",
        help="Deals export. Without it, deal rules cannot fire and nobody is demoted for lack of "
        "deals.",
    ),
]


ConsentOpt = Annotated[
    str | None,
    typer.Option(
        "--consent",
        metavar="FILE",
        help="Consent records (one row per subscription event). Without it, the contacts' own "
        "opt-out and "
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
        help="Also write the report to FILE: .json, .md (Markdown), .html (a page to open in a "
        "browser), else text. Repeatable.",
    ),
]


PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        metavar="NAME",
        help="Built-in rules for an export's language or CRM: hubspot (the default), hubspot-de "
        "(German HubSpot; "
        "chosen by itself when the contacts have German headers), salesforce (contacts or leads, "
        "opportunities).",
    ),
]


StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Treat every warning (missing columns, weak links, short rows, ...) as an error: exit "
        "2, write nothing. For cron.",
    ),
]


FailOnOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-on",
        metavar="GATE",
        help="Exit 1 when the result has: any, demotion, promotion, sideways, added, removed, or a "
        "move such as customer->lead "
        "(stage names or *). Repeatable.",
    ),
]


ChangesOpt = Annotated[
    str | None,
    typer.Option(
        "--changes",
        metavar="FILE",
        help="Also write every changed record, one row each, to FILE (.parquet: Parquet, else "
        "CSV): "
        "Record ID, Name, Stage Before, Stage After, Direction, Rule, Other Type.",
    ),
]


RedactOpt = Annotated[
    bool,
    typer.Option(
        "--redact",
        help="Leave contacts' names and emails out of the report, in every format (record ids "
        "stay): for CI summaries and shared reports. Also set by report: {redact: true} in the "
        "rules file.",
    ),
]


class Duplicates(StrEnum):
    error = "error"
    keep_first = "keep-first"


class Format(StrEnum):
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

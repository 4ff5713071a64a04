"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from ..base.errors import (
    EXIT_OK,
)
from ..base.safe import json_safe
from .app import app
from .options import ConsentOpt, DealsOpt, DebugOpt, DelimiterOpt, EncodingOpt, PresetOpt, RulesOpt
from .running import choose_rules, reader, run_command


class ExplainFormat(StrEnum):
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

        from ..core.explain import explain as explain_contact
        from ..core.explain import render_text

        ruleset, _ = choose_rules(rules, preset, contacts)
        read = reader([p for p in (contacts, deals, consent) if p], delimiter, encoding)
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

    run_command(debug, body)

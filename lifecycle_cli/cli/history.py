"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..base.errors import (
    EXIT_OK,
    InputError,
)
from ..base.safe import json_safe, terminal_safe
from .app import app
from .options import DebugOpt, Format, FormatOpt, NoColorOpt
from .running import console, run_command


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
        from ..io.history import load, to_dict, to_json
        from ..report.history_view import render_rich, to_html
        from ..io.streams import write_data

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
            render_rich(view, console(no_color, sys.stdout))
        return EXIT_OK

    run_command(debug, body)

"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperGroup

from .. import __version__
from .coercion import CoercedAsGiven


class _Group(CoercedAsGiven, TyperGroup):
    """The `lifecycle` group: its own options (--version, completion) skip typer's coercion as the
    commands' do (coercion.py)."""


app = typer.Typer(
    cls=_Group,
    name="lifecycle",
    help="Put every CRM contact into the right lifecycle stage, from your HubSpot or Salesforce "
    "exports, and show what changed.",
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    no_args_is_help=True,
    # plain help: quick (well under 0.2 s) and readable in any terminal or log
    rich_markup_mode=None,
    # tracebacks would show local variables, and rows hold personal data
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nExample: lifecycle classify contacts.csv --deals deals.csv --consent consent.csv",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lifecycle {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Put every CRM contact into the right lifecycle stage, and show what changed."""

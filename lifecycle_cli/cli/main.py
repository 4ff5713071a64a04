"""The `lifecycle` command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperCommand

from ..base.errors import (
    EXIT_USAGE,
    LifecycleError,
)
from . import classify, dbt, diff, explain, history, rules, sql  # noqa: F401 (each registers its commands)
from .app import app
from .coercion import CoercedAsGiven
from .running import say

#: What an option or argument takes (by its name, else its metavar), for the message when it
#: is given empty.
_EXPECTED = {
    "--preset": "a preset name (hubspot, hubspot-de or salesforce)",
    "--encoding": "an encoding such as cp1252",
    "--contacts-table": "a table name",
    "--deals-table": "a table name",
    "--consent-table": "a table name",
    "FILE": "a file path",
    "OUT": "a file path",
    "DIR": "a folder path",
    "CONTACTS": "a file path",
    "BEFORE": "a file path",
    "AFTER": "a file path",
    "RULES": "a file path",
    "COL": "a column header",
    "A,B": "column headers, comma-separated",
    "CHAR": "one character",
    "GATE": "a gate such as demotion",
    "ID": "a record id",
}


class _Command(CoercedAsGiven, TyperCommand):
    """Every command: it refuses an option or argument given as an empty text (`--deals "$DEALS"`
    with $DEALS unset must not run as if there were no deals file), checked once here for all of
    them, and tells the streams module which of its options send less output (for the message
    when stdout or stderr is closed)."""

    def invoke(self, ctx):
        from ..io import streams

        opts = {opt for param in self.params for opt in param.opts}
        streams.LESS = [
            less for less in ("-q", "--report FILE", "-o FILE") if less.split()[0] in opts
        ]
        for param in self.params:
            value = ctx.params.get(param.name)
            if "" not in (value if isinstance(value, (list, tuple)) else [value]):
                continue
            metavar = (param.metavar or "").strip("[]")
            if param.param_type_name == "option":
                name, leave = max(param.opts, key=len), " (or leave the option out)"
            else:
                name = metavar or param.name.upper()
                leave = "" if param.required else " (or leave it out)"
            expected = _EXPECTED.get(name) or _EXPECTED.get(metavar, "a value")
            say(f"lifecycle: error: {name} is empty: give {expected}{leave}\n")
            raise typer.Exit(EXIT_USAGE)
        return super().invoke(ctx)


#: Polars' allocator (jemalloc, on Linux) hands freed memory back to the system within a second;
#: classify's next step then takes it again, page by page. A run is short, so freed memory is kept
#: for ten seconds instead: about 7% less time at 1M contacts (a third less time in the kernel) for
#: 15-25% more peak memory (benchmarks/README.md). Not for diff, which frees little: the same time,
#: 3-7% more memory. A value the user set is left as it is.
ALLOCATOR = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:10000,muzzy_decay_ms:10000")


#: What `import polars` sets when nothing is: a run started by a Python program that uses Polars
#: inherits it, and that is not a choice of the user's.
POLARS_ALLOCATOR = "dirty_decay_ms:500,muzzy_decay_ms:1000"


def _set_allocator(argv: list[str]) -> None:
    """For classify, before Polars is loaded (the allocator reads its settings once)."""
    if argv[1:2] != ["classify"]:
        return
    name, ours = ALLOCATOR
    current = os.environ.get(name)
    if (
        current is None
        or current.removeprefix(POLARS_ALLOCATOR).removeprefix(",thp:always,metadata_thp:always")
        == ""
    ):
        os.environ[name] = ours


#: The order `lifecycle --help` lists the commands in (each module registers its own).
_ORDER = [
    "classify",
    "diff",
    "show_history",
    "sql",
    "dbt",
    "test_rules",
    "explain",
    "validate",
    "show_rules",
    "init",
]
app.registered_commands.sort(key=lambda command: _ORDER.index(command.callback.__name__))
for _command in app.registered_commands:
    if _command.cls in (None, TyperCommand):
        _command.cls = _Command


def main() -> None:
    from ..io.streams import guard_standard_streams

    _set_allocator(sys.argv)
    guard_standard_streams()
    try:
        app(prog_name="lifecycle")
    except LifecycleError as exc:  # --help or --version to a closed stdout: before any command runs
        say(f"lifecycle: error: {exc}\n")
        sys.exit(exc.exit_code)

"""Options whose value already has its type skip typer's coercion (lifecycle_cli/cli/coercion.py):
every command, given every choice of every option, a value for every other option, or nothing,
gets the same values, of the same types, as with typer's own coercion; and a classify run no
longer imports pydantic for it."""

from __future__ import annotations

import enum
import subprocess
import sys
from typing import get_origin

import pytest
import typer
from conftest import EXAMPLES
from typer.main import get_command

import lifecycle_cli.cli.coercion as coercion
from lifecycle_cli.cli.main import app


def _sample(param) -> list[list[str]]:
    """Command-line pieces that give `param` a value: each choice of a choice option."""
    if param.param_type_name != "option" or param.name in ("help", "version"):
        return []
    flag = max(param.opts, key=len)
    kind = param.type_descriptor.annotation
    if kind is bool:
        return [[flag]] if param.is_flag and not param.secondary_opts else []
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return [[flag, member.value] for member in kind]
    if get_origin(kind) is list:
        return [[flag, "first", flag, "second"]]
    if kind in (int, float):
        return [[flag, "3"]]
    return [[flag, "x.csv"]]


def _command_lines() -> list[tuple[str, list[str]]]:
    lines = []
    for name, command in get_command(app).commands.items():
        required = [
            "x.csv" for p in command.params if p.param_type_name == "argument" and p.required
        ]
        samples = [s for p in command.params for s in _sample(p)]
        lines.append((name, required))  # every option at its default
        lines.append((name, required + [piece for s in samples for piece in s[:2]]))
        lines += [(name, required + sample) for sample in samples]
    return lines


def _parsed(name: str, args: list[str]):
    """The values the command gets for `args`, with their types, or the error it stops with."""
    command = get_command(app).commands[name]  # new parameters: nothing coerced yet
    try:
        ctx = command.make_context(name, list(args))
    except (typer.Exit, Exception) as stop:  # noqa: BLE001 - compared, not handled
        return ("stop", type(stop).__name__, str(stop))
    return {key: (type(value), value) for key, value in ctx.params.items()}


def test_every_option_gets_what_typers_coercion_gives(monkeypatch) -> None:
    lines = _command_lines()
    assert len({name for name, _ in lines}) >= 9 and len(lines) > 100
    ours = [_parsed(name, args) for name, args in lines]
    monkeypatch.setattr(coercion, "coerce_as_given", lambda params: None)  # typer's own, alone
    theirs = [_parsed(name, args) for name, args in lines]
    for (name, args), mine, typers in zip(lines, ours, theirs, strict=True):
        assert mine == typers, (name, args)
    # Choices, lists and numbers were given, not only defaults.
    kinds = {type_ for got in ours if isinstance(got, dict) for type_, _ in got.values()}
    assert {str, list, float}.issubset(kinds)
    assert any(issubclass(k, enum.Enum) for k in kinds if isinstance(k, type))


def test_as_given_leaves_what_needs_coercing_to_typer() -> None:
    info = typer.models.OptionInfo(min=0)
    assert coercion.as_given(float, info, "2") is coercion.COERCE  # a number given as text
    assert coercion.as_given(float, info, -1) is coercion.COERCE  # out of its bounds
    zero = coercion.as_given(float, info, 0)  # a default written as 0
    assert zero == 0.0 and type(zero) is float
    color = enum.Enum("Color", {"red": "red", "dark_blue": "dark blue"})
    assert coercion.as_given(color, info, "dark blue") is color.dark_blue
    assert coercion.as_given(color, info, "Dark Blue") is coercion.COERCE


@pytest.mark.parametrize("args", [["--format", "json"], ["--stage-values", "label"]])
def test_a_classify_run_does_not_import_pydantic(tmp_path, args) -> None:
    code = (
        "import sys; from lifecycle_cli.cli.main import main; sys.argv = ['lifecycle'] + "
        "sys.argv[1:]\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('pydantic' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "classify", str(EXAMPLES / "contacts.csv"), "-q", *args]
        + ["-o", str(tmp_path / "out.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr
    assert (tmp_path / "out.csv").stat().st_size > 1000

"""Options whose value already has its type skip typer's coercion.

typer 0.2x coerces every option's value through a pydantic TypeAdapter, built per option.
Importing pydantic for it costs each run about 0.13 s, a fifth of classifying examples/.
A value that already has its option's type needs no coercion, and is passed through as it is:
- a text for a text option;
- a number for a number option, within its bounds (a default: 0 for a float option is 0.0);
- a list of texts for a repeated text option;
- an enum member, or one of its exact values, for a choice.

Any other value (a number given as text, a path, a choice spelled another way) is coerced by
typer's own code, as before. With a typer that coerces otherwise, nothing changes.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, get_args, get_origin

#: Returned by `as_given` for a value typer must coerce itself.
COERCE = object()


def as_given(kind: Any, info: Any, value: Any) -> Any:
    """`value` as typer would coerce it for an option of type `kind` (ParameterInfo `info`), where
    that is the value itself; COERCE otherwise."""
    if kind is str and type(value) is str:
        return value
    if kind in (int, float) and type(value) in (int, kind):
        low, high = info.min, info.max
        if (low is None or value >= low) and (high is None or value <= high):
            return kind(value)
    elif get_origin(kind) is list and get_args(kind) == (str,):
        if isinstance(value, (list, tuple)) and all(type(v) is str for v in value):
            return list(value)
    elif isinstance(kind, type) and issubclass(kind, Enum):
        if isinstance(value, kind):
            return value
        if type(value) is str and value in kind._value2member_map_:
            return kind(value)
    return COERCE


try:  # typer 0.2x's coercion of each parameter (another typer: its own coercion, untouched)
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer.core import _TyperParameter
except ImportError:
    RuntimeParam = None


if RuntimeParam is not None:

    class _AsGiven(RuntimeParam):
        """A value `as_given` accepts, passed through; any other, to typer's own coercion."""

        def _coerce_value(self, value, param, ctx):
            found = as_given(self.annotation, self.parameter_info, value)
            if found is not COERCE:
                return found
            param._runtime_param = build_runtime_param(param.type_descriptor)
            return param._runtime_param._coerce_value(value, param=param, ctx=ctx)


def coerce_as_given(params: list) -> None:
    """Give each typer parameter of `params` not coerced yet a coercion that passes through a value
    `as_given` accepts, and leaves any other to typer's."""
    if RuntimeParam is None:
        return
    for param in params:
        if (
            isinstance(param, _TyperParameter)
            and getattr(param, "_runtime_param", False) is None
            and getattr(param.type_descriptor.parameter_info, "parser", None) is None
        ):
            descriptor = param.type_descriptor
            param._runtime_param = _AsGiven(descriptor.parameter_info, descriptor.annotation)


class CoercedAsGiven:
    """Mixed into a typer command or group: its parameters, the help option made for the
    context included, are coerced by `coerce_as_given` before the arguments are parsed."""

    def parse_args(self, ctx, args):
        coerce_as_given(self.get_params(ctx))
        return super().parse_args(ctx, args)

"""Text from the exports made safe to show: a value or header holding an escape sequence
(`ESC ]0;title BEL`, `ESC [2J`) must not retitle, clear or recolour the user's terminal,
and a right-to-left override must not reverse what follows it."""

from __future__ import annotations

import re
from typing import Any

#: Control characters (C0 but the line break, DEL, C1) and the bidirectional overrides and isolates.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: The ones json.dumps(ensure_ascii=False) leaves as they are (it escapes only C0).
_JSON_RAW = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """`text` with every control character except the line break written out as an escape
    (`\\x1b`, `\\u202e`): what reaches a terminal, a log or a text report shows them, never obeys them."""
    return _CONTROL.sub(_escaped, text)


def terminal_safe_tree(value: Any) -> Any:
    """`terminal_safe` on every string in a report's dict (lists, tuples and dicts walked; keys too)."""
    if isinstance(value, str):
        return terminal_safe(value)
    if isinstance(value, dict):
        return {terminal_safe_tree(k): terminal_safe_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(terminal_safe_tree(v) for v in value)
    return value


def json_safe(text: str) -> str:
    """JSON text with DEL, C1 controls and bidi overrides as \\u escapes too (json.dumps escapes C0).
    Outside strings JSON is plain ASCII, so every such character is inside a string: still the same JSON."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)

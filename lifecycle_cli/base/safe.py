"""Text from the files made safe to show: a value or header holding an escape sequence
(`ESC ]0;title BEL`, `ESC [2J`) must not retitle, clear or recolour the user's terminal,
a right-to-left override must not reverse what follows it, and Rich markup, Markdown or
HTML in a name or a rules file is shown as written (one helper per format, used by every
renderer)."""

from __future__ import annotations

import html
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
    (`\\x1b`, `\\u202e`): what reaches a terminal, a log or a text report shows them, never obeys
    them."""
    return _CONTROL.sub(_escaped, text)


def terminal_safe_tree(value: Any) -> Any:
    """`terminal_safe` on every string in a report's dict (lists, tuples and dicts walked; keys
    too)."""
    if isinstance(value, str):
        return terminal_safe(value)
    if isinstance(value, dict):
        return {terminal_safe_tree(k): terminal_safe_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(terminal_safe_tree(v) for v in value)
    return value


def json_safe(text: str) -> str:
    """JSON text with DEL, C1 controls and bidi overrides as \\u escapes too (json.dumps escapes
    C0).
    Outside strings JSON is plain ASCII, so every such character is inside a string: still the same
    JSON."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# One helper per output format, for text that comes from the files (exports, rules, paths):
# it is shown as the text it is, never read as markup, links or HTML.

#: Markdown that text from a file could start: emphasis, code, strikethrough, links and images
#: (`[`/`]`: a `(` or `!` can only make a link or image next to a bracket), table cells (`|`).
_MD_SPECIAL = re.compile(r"[`*~\[\]|]")
#: A backslash that Markdown would read as escaping the character after it (ASCII punctuation).
_MD_BACKSLASH = re.compile(r"\\(?=[!-/:-@\[-`{-~])")
#: A run of underscores, with what is before and after it: between two letters or digits
#: (`sales_lead`, `Lifecycle_Stage__c`) it cannot open or close emphasis and stays as it is.
_MD_UNDERSCORE = re.compile(r"(?<=(.))?_+(?=(.))?", re.S)
#: Where GitHub turns bare text into a link (`https://...`, `www.`): escaped, it stays text.
_MD_AUTOLINK = re.compile(r"(?<=[A-Za-z])(:)(?=//)|(?<![\w.])(?i:www)(\.)")


def rich_safe(text: object) -> str:
    """Text for Rich markup (`console.print(f"[bold]{rich_safe(x)}[/bold]")`, table cells): its
    control characters escaped and `[...]` shown as written, never read as a style or a link."""
    from rich.markup import escape

    return escape(terminal_safe(str(text if text is not None else "")))


def markdown_safe(text: object) -> str:
    """Text for a Markdown line or table cell (GitHub, CI summaries): one line, control characters
    escaped, HTML as entities, and no emphasis, code, link, image or cell break it could start."""
    text = html.escape(terminal_safe(_one_line(text)), quote=False)
    text = _MD_BACKSLASH.sub(r"\\\\", text)
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(), text)
    text = _MD_AUTOLINK.sub(lambda m: m.group()[:-1] + "\\" + m.group()[-1], text)
    return _MD_UNDERSCORE.sub(_underscores, text)


def _underscores(run: re.Match) -> str:
    before, after = run.group(1) or " ", run.group(2) or " "
    if before.isalnum() and after.isalnum():
        return run.group()
    return run.group().replace("_", "\\_")


def markdown_code(text: object) -> str:
    """Text as a Markdown code span that fits a table cell: fenced by more backticks than it holds,
    `|` escaped (GitHub splits cells before it reads code spans), on one line, controls escaped."""
    text = terminal_safe(_one_line(text)).replace("|", "\\|")
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _one_line(text: object) -> str:
    return re.sub(r"\r\n|[\r\n]", " ", str(text if text is not None else ""))


def html_safe(text: object) -> str:
    """Text for HTML (content or a quoted attribute): `<`, `>`, `&` and quotes as entities,
    control characters escaped."""
    return terminal_safe(html.escape(str(text if text is not None else "")))

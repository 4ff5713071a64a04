"""Read a YAML file into plain Python values while remembering the line of every key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..base.diagnostics import WARNING, Diagnostic
from ..base.errors import RulesError
from ..base.safe import terminal_safe

Path_ = tuple[str | int, ...]

#: Largest rules file read: the default rules are about 10 KB.
MAX_RULES_BYTES = 1 << 20
#: Most values YAML aliases (`*name`) may add in all: a few nested aliases would otherwise
#: expand a 7 KB file to billions of values ("billion laughs").
MAX_ALIASED_VALUES = 10_000


@dataclass(frozen=True)
class At:
    """A place in a rules file: its problems carry it as fields and show it as `file:line: ...`."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def error(self, message: str, *, hint: str | None = None) -> RulesError:
        return RulesError(message, file=self.file, line=self.line, hint=hint)

    def warning(self, message: str) -> Diagnostic:
        return Diagnostic("rules", WARNING, message, file=self.file, line=self.line)


@dataclass
class LinedYaml:
    """Plain data (dicts, lists, and every scalar as the text written) plus the line of each
    path."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """The line of `path`, or of its closest parent that has one."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def at(self, path: Path_) -> At:
        return At(self.file, self.line(path))

    def where(self, path: Path_) -> str:
        return str(self.at(path))


def load_lined_yaml(path: Path, display: str) -> LinedYaml:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_RULES_BYTES + 1)
        if len(raw) > MAX_RULES_BYTES:
            raise RulesError(
                f"the rules file is larger than {MAX_RULES_BYTES // (1 << 20)} MB; "
                "a rules file is a few KB (is it the right file?)",
                file=display,
            )
        text = raw.decode("utf-8-sig")
    except FileNotFoundError:
        raise RulesError("rules file not found", file=display) from None
    except IsADirectoryError:
        raise RulesError("is a directory, expected a rules YAML file", file=display) from None
    except UnicodeDecodeError as exc:
        raise RulesError(
            f"not UTF-8 text (byte {exc.start}); save the rules file as UTF-8", file=display
        ) from None
    except OSError as exc:
        raise RulesError(f"cannot read the rules file: {exc.strerror}", file=display) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RulesError(
            f"invalid YAML: {exc.problem or exc.context}",
            file=display,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise RulesError(f"invalid YAML: {exc}", file=display) from None
    except RecursionError:
        raise RulesError(
            "invalid YAML: lists or mappings nested too deeply", file=display
        ) from None
    doc = LinedYaml(display, None)
    try:
        doc.data = _convert(node, (), doc, _Aliases()) if node is not None else None
    except RecursionError:
        raise RulesError("lists or mappings nested too deeply", file=display) from None
    return doc


class _Aliases:
    """Counts what YAML aliases expand to: the composer shares an anchored node between its
    anchor and every `*alias`, so a node met a second time is an alias being expanded."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.sizes: dict[int, int] = {}
        self.expanded = 0
        self.used_on: int | None = None  # the line of the outermost alias being expanded
        self.anchored_on = 0  # and the line of its anchor

    def visit(self, node: yaml.Node, path: Path_, doc: LinedYaml) -> bool:
        """Count `node` if it is reached through an alias; True when it is (the caller ends it)."""
        if id(node) not in self.seen:
            self.seen.add(id(node))
            return False
        outermost = self.used_on is None
        if outermost:
            self.used_on = doc.line(
                path
            )  # the key, or the list holding the alias: not yet the anchor's line
            self.anchored_on = node.start_mark.line + 1
        self.expanded += self.size(node)
        if self.expanded > MAX_ALIASED_VALUES:
            raise At(doc.file, self.used_on).error(
                f"the YAML aliases (*name) expand to more than {MAX_ALIASED_VALUES:,} values "
                f"(the value anchored on line {self.anchored_on}, and the aliases inside it); "
                "write the values out, or use fewer aliases of aliases"
            )
        return outermost

    def size(self, node: yaml.Node) -> int:
        """Values in `node` with every alias expanded (memoised: counting must not expand them)."""
        if id(node) not in self.sizes:
            if isinstance(node, yaml.MappingNode):
                total = 1 + sum(self.size(k) + self.size(v) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                total = 1 + sum(self.size(item) for item in node.value)
            else:
                total = 1
            self.sizes[id(node)] = total
        return self.sizes[id(node)]


def _convert(node: yaml.Node, path: Path_, doc: LinedYaml, aliases: _Aliases) -> Any:
    outermost_alias = aliases.visit(node, path, doc)
    try:
        return _convert_node(node, path, doc, aliases)
    finally:
        if outermost_alias:
            aliases.used_on = None


#: Control characters (C0 but tab and line breaks, DEL, C1): YAML writes them as escapes ("\0",
#: "\x1b"), and no label, header, value or condition has a use for them: a NUL makes the SQL of
#: `lifecycle sql` invalid, an escape sequence acts on a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _plain_text(node: yaml.ScalarNode, doc: LinedYaml) -> str:
    found = _CONTROL.search(node.value)
    if found:
        shown = node.value if len(node.value) <= 60 else node.value[:57] + "..."
        raise node_at(doc, node).error(
            f"'{terminal_safe(shown)}' holds a control "
            f"character (\\x{ord(found.group()):02x}); a rules file holds plain text: "
            "remove it"
        )
    return node.value


def _convert_node(node: yaml.Node, path: Path_, doc: LinedYaml, aliases: _Aliases) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise node_at(doc, key_node).error("keys must be plain names")
            key = _plain_text(key_node, doc)
            if key in out:
                raise node_at(doc, key_node).error(f"'{key}' is given twice")
            doc.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, path + (key,), doc, aliases)
            doc.lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), doc, aliases) for i, item in enumerate(node.value)]
    # Scalars stay as written: `yes` in a value list means the text "yes", not True.
    if node.tag == "tag:yaml.org,2002:null" and node.style is None:
        return None
    return _plain_text(node, doc)


def node_at(doc: LinedYaml, node: yaml.Node) -> At:
    return At(doc.file, node.start_mark.line + 1)

"""Read a YAML file into plain Python values while remembering the line of every key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import RulesError

Path_ = tuple[str | int, ...]


@dataclass
class LinedYaml:
    """Plain data (dicts, lists, and every scalar as the text written) plus the line of each path."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """The line of `path`, or of its closest parent that has one."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def where(self, path: Path_) -> str:
        return f"{self.file}:{self.line(path)}"


def load_lined_yaml(path: Path, display: str) -> LinedYaml:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RulesError(f"{display}: rules file not found") from None
    except IsADirectoryError:
        raise RulesError(f"{display}: is a directory, expected a rules YAML file") from None
    except UnicodeDecodeError as exc:
        raise RulesError(f"{display}: not UTF-8 text (byte {exc.start}); save the rules file as UTF-8") from None
    except OSError as exc:
        raise RulesError(f"{display}: cannot read the rules file: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{display}:{mark.line + 1}:{mark.column + 1}" if mark else display
        raise RulesError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"{display}: invalid YAML: {exc}") from None
    doc = LinedYaml(display, None)
    doc.data = _convert(node, (), doc) if node is not None else None
    return doc


def _convert(node: yaml.Node, path: Path_, doc: LinedYaml) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise RulesError(f"{display_line(doc, key_node)}: keys must be plain names")
            key = key_node.value
            if key in out:
                raise RulesError(f"{display_line(doc, key_node)}: '{key}' is given twice")
            doc.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, path + (key,), doc)
            doc.lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), doc) for i, item in enumerate(node.value)]
    # Scalars stay as written: `yes` in a value list means the text "yes", not True.
    if node.tag == "tag:yaml.org,2002:null" and node.style is None:
        return None
    return node.value


def display_line(doc: LinedYaml, node: yaml.Node) -> str:
    return f"{doc.file}:{node.start_mark.line + 1}"

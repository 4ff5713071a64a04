"""`lifecycle rules`: a rules file's stages and rules in order, as text, JSON or Markdown."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..rules.model import Rules
from .sections import CODE, COUNT, Code, Column, Notes, Prose, Report, Table


def rules_hash(path: Path) -> str:
    """A short hash of the rules file's bytes: which version of the rules a report came from."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "unreadable"


def to_dict(rules: Rules, path: Path) -> dict[str, Any]:
    return {
        "command": "rules",
        "rules_file": rules.path,
        "rules_hash": rules_hash(path),
        "stages": [
            {
                "id": s.id,
                "label": s.label,
                "value": s.value,
                "aliases": list(s.aliases),
                "sticky": s.sticky,
                "ranked": s.ranked,
            }
            for s in rules.stages
        ],
        "rules": [
            {
                "order": i + 1,
                "id": r.id,
                "stage": r.stage,
                "description": r.description,
                "when": r.when.sql,
                "overrides_sticky": r.overrides_sticky,
                "sets": {k: c.sql for k, c in r.sets},
                "line": r.line,
            }
            for i, r in enumerate(rules.rules)
        ],
        "policies": {"sticky": rules.sticky_rule_id, "unknown": rules.unknown_rule_id},
    }


def report(view: dict[str, Any]) -> Report:
    """The rules as a listing: the stages, then the rules in order, then the two policies."""
    p = view["policies"]
    return Report(
        title=f"Rules: {view['rules_file']} ({view['rules_hash']})",
        framed=False,
        sections=(
            Table(
                title="Stages, lowest to highest",
                columns=(
                    Column("Stage"),
                    Column("Label"),
                    Column("HubSpot value", CODE),
                    Column("Also accepted"),
                    Column("Sticky"),
                ),
                rows=tuple(
                    (
                        s["id"],
                        s["label"],
                        s["value"],
                        ", ".join(s["aliases"]),
                        ("yes" if s["sticky"] else "")
                        + ("" if s["ranked"] else " (outside the order)"),
                    )
                    for s in view["stages"]
                ),
            ),
            Table(
                title="Rules, in order (the first that is true decides)",
                columns=(
                    Column("#", COUNT, fold=True),
                    Column("Rule", fold=True),
                    Column("Stage", fold=True),
                    Column("Condition", CODE, fold=True),
                    Column("What it means", fold=True),
                ),
                rows=tuple(
                    (
                        r["order"],
                        r["id"],
                        r["stage"] + (" (overrides sticky)" if r["overrides_sticky"] else ""),
                        r["when"],
                        r["description"],
                    )
                    for r in view["rules"]
                ),
            ),
            Notes(
                tone="plain",
                lines=(
                    Prose(
                        (
                            "A contact in a sticky stage keeps it (rule ",
                            Code(p["sticky"]),
                            "); a rule that cannot be decided because a file or column is "
                            "missing keeps a contact already at its stage (rule ",
                            Code(p["unknown"]),
                            ").",
                        )
                    ),
                ),
            ),
        ),
    )


def to_markdown(view: dict[str, Any]) -> str:
    """The rules as Markdown (a pull request, a wiki page): text from the rules file as written."""
    from . import markdown

    return markdown.render(report(view))


def render_rich(view: dict[str, Any], console) -> None:
    """The rules as a terminal table; text from the rules file is never read as Rich markup."""
    from . import terminal

    terminal.render(report(view), console)

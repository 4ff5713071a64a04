"""`lifecycle rules`: a rules file's stages and rules in order, as text, JSON or Markdown."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..base.safe import markdown_code, markdown_safe, rich_safe
from ..rules.model import Rules


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


def to_markdown(view: dict[str, Any]) -> str:
    """The rules as Markdown (a pull request, a wiki page): text from the rules file as written."""
    md, code = markdown_safe, markdown_code
    out = [
        f"## Rules: {md(view['rules_file'])} ({md(view['rules_hash'])})",
        "",
        "### Stages, lowest to highest",
        "",
        "| Stage | Label | HubSpot value | Also accepted | Sticky |",
        "|---|---|---|---|---|",
    ]
    for s in view["stages"]:
        sticky = ("yes" if s["sticky"] else "") + ("" if s["ranked"] else " (outside the order)")
        out.append(
            f"| {md(s['id'])} | {md(s['label'])} | {code(s['value'])} | "
            f"{md(', '.join(s['aliases']))} | {sticky} |"
        )
    out += [
        "",
        "### Rules, in order (the first that is true decides)",
        "",
        "| # | Rule | Stage | Condition | What it means |",
        "|--:|---|---|---|---|",
    ]
    for r in view["rules"]:
        extra = " (overrides sticky)" if r["overrides_sticky"] else ""
        out.append(
            f"| {r['order']} | {md(r['id'])} | {md(r['stage'])}{extra} | "
            f"{code(r['when'])} | {md(r['description'])} |"
        )
    p = view["policies"]
    out += [
        "",
        f"A contact in a sticky stage keeps it (rule {code(p['sticky'])}); a rule that "
        "cannot be decided because a file or column is missing keeps a contact already "
        f"at its stage (rule {code(p['unknown'])}).",
        "",
    ]
    return "\n".join(out)


def render_rich(view: dict[str, Any], console) -> None:
    """The rules as a terminal table; text from the rules file is never read as Rich markup."""
    from rich.table import Table

    safe = rich_safe
    console.print(
        f"[bold]Rules[/bold] {safe(view['rules_file'])} (hash {safe(view['rules_hash'])})"
    )
    stages = Table(title="Stages, lowest to highest", title_justify="left", show_edge=False)
    for name in ("Stage", "Label", "HubSpot value", "Also accepted", "Sticky"):
        stages.add_column(name)
    for s in view["stages"]:
        stages.add_row(
            safe(s["id"]),
            safe(s["label"]),
            safe(s["value"]),
            safe(", ".join(s["aliases"])),
            ("yes" if s["sticky"] else "") + ("" if s["ranked"] else " (outside the order)"),
        )
    console.print(stages)
    rules = Table(
        title="Rules, in order (the first that is true decides)",
        title_justify="left",
        show_edge=False,
    )
    for name in ("#", "Rule", "Stage", "Condition", "What it means"):
        rules.add_column(name, overflow="fold")
    for r in view["rules"]:
        rules.add_row(
            str(r["order"]),
            safe(r["id"]),
            safe(r["stage"]) + (" (overrides sticky)" if r["overrides_sticky"] else ""),
            safe(r["when"]),
            safe(r["description"]),
        )
    console.print(rules)
    p = view["policies"]
    console.print(
        f"A contact in a sticky stage keeps it (rule '{safe(p['sticky'])}'); a rule "
        "that cannot be decided because a file or column is missing keeps a contact "
        f"already at its stage (rule '{safe(p['unknown'])}')."
    )

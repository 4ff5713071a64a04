"""`lifecycle init --from`: a starter rules file whose value lists hold the export's own values.

The preset's text is kept as it is (its comments say where each value was found); each list
the export has values for that the preset does not name gains a `sort_these:` part with those
values and their counts, for the user to move under `in` or `not_in`. `lifecycle validate`
reports such parts until they are empty, and classify treats their values as unknown.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from ..base.errors import OutputError
from ..io.plan import OutputPlan
from ..io.sources import Source
from ..rules.model import Rules
from ..rules.yamlnodes import load_lined_yaml
from .vocabulary import each_found, tested_columns, unknown_values


@dataclass(frozen=True)
class Found:
    """Values of an export that a list does not name yet."""

    list_name: str
    where: str  #: e.g. "contacts.csv, column 'Lead Status'"
    values: tuple[tuple[str, int], ...]  #: (value, count), most frequent first
    advice: str  #: what sorting means for this list


def export_values(
    rules: Rules, contacts: Source, deals: Source | None, consent: Source | None
) -> list[Found]:
    """The values of every column the rules test against an open list, that the list does not
    name."""
    found: list[Found] = []
    tested = tested_columns(rules, consent is not None)
    sources = {"contacts": contacts, "consent": consent}
    frames = unknown_values(sources, rules, tested)
    counted = (
        dict(zip(frames, pl.collect_all(list(frames.values())), strict=True)) if frames else {}
    )
    for t, src, values in each_found(tested, counted, sources):
        found.append(
            Found(
                t.list_name,
                f"{src.display}, column '{src.resolved[t.column]}'",
                tuple(values.iter_rows()),
                f"`in` if it counts for rule(s) {', '.join(t.rules)}, `not_in` if it does not",
            )
        )
    if deals is not None:
        from .facts import unknown_deal_stages

        stages = unknown_deal_stages(deals, rules).collect()
        if stages.height:
            merged = stages.group_by("stage", maintain_order=True).agg(pl.col("count").sum())
            pipelines = sorted({p for p in stages["pipeline"] if p})
            where = f"{deals.display}, column '{deals.resolved['stage']}'"
            if pipelines:
                where += f" (pipelines {', '.join(pipelines)})"
            found.append(
                Found(
                    "open_deal_stages",
                    where,
                    tuple(merged.iter_rows()),
                    "move each under won_deal_stages, lost_deal_stages or open_deal_stages",
                )
            )
    return found


def starter_text(preset_text: str, found: list[Found]) -> str:
    """The preset's text with a `sort_these:` part added to each list in `found`."""
    lines = preset_text.splitlines(keepends=True)
    root = yaml.compose(preset_text)
    values = next(v for k, v in root.value if k.value == "values")
    nodes = {k.value: (k, v) for k, v in values.value}
    by_list: dict[str, list[Found]] = {}
    for f in found:
        by_list.setdefault(f.list_name, []).append(f)
    # Bottom-up, so that the line numbers of the lists still to edit stay right.
    for name in sorted(by_list, key=lambda n: nodes[n][0].start_mark.line, reverse=True):
        key, node = nodes[name]
        indent = " " * (key.start_mark.column + 2)
        end = max(_last_line(node), key.start_mark.line)
        block = _sort_these(by_list[name], indent)
        if isinstance(node, yaml.MappingNode):
            lines[end + 1 : end + 1] = block
            continue
        # A plain list becomes `in:` beside the new part.
        first = lines[key.start_mark.line]
        head, _, rest = first.partition(":")
        body = [f"{indent}in:{rest}" if rest.strip() else f"{indent}in:\n"]
        body += [
            f"  {line}" if line.strip() else line
            for line in lines[key.start_mark.line + 1 : end + 1]
        ]
        lines[key.start_mark.line : end + 1] = [f"{head}:\n", *body, *block]
    return "".join(lines)


def _last_line(node: yaml.Node) -> int:
    """The last line (0-based) a node's own text is on: a block collection ends with its last item
    (its end mark already stands at the next key)."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False) or not node.value:
        return node.end_mark.line if node.end_mark.column else node.end_mark.line - 1
    last = node.value[-1]
    return _last_line(last[1] if isinstance(last, tuple) else last)


def _sort_these(found: list[Found], indent: str) -> list[str]:
    out = []
    for f in found:
        out.append(f"{indent}# Found in {f.where}, not named by this list yet: {f.advice}.\n")
    out.append(f"{indent}# `lifecycle validate` lists these until this part is empty.\n")
    out.append(f"{indent}sort_these:\n")
    seen = set()
    for f in found:
        for value, count in f.values:
            if value.strip().lower() in seen:
                continue
            seen.add(value.strip().lower())
            rows = "row" if count == 1 else "rows"
            out.append(f"{indent}  - {json.dumps(value, ensure_ascii=False)}  # {count:,} {rows}\n")
    return out


def starter_files(preset: Path) -> list[tuple[Path, Path]]:
    """What `lifecycle init` copies: the preset as ./rules.yaml and the test case files its
    `tests: include` entries name, each to the same place relative to the current folder."""
    copies = [(preset, Path("rules.yaml"))]
    doc = load_lined_yaml(preset, f"preset {preset.stem}")
    for item in (doc.data or {}).get("tests") or []:
        if isinstance(item, dict) and set(item) == {"include"}:
            for match in sorted(glob.glob(str(preset.parent / item["include"]))):
                copies.append((Path(match), Path(match).relative_to(preset.parent)))
    return copies


def plan_starter(copies: list[tuple[Path, Path]], force: bool) -> OutputPlan:
    """The starter's files on one plan; files already here are refused unless `force`."""
    existing = [str(target) for _, target in copies if os.path.lexists(target)]
    if existing and not force:
        raise OutputError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''} here; "
            "lifecycle init does not overwrite them (use --force to replace them)"
        )
    plan = OutputPlan()
    for target in sorted({t.parent for _, t in copies if str(t.parent) != "."}):
        plan.folder(str(target), "folder of test cases")
    for _, target in copies:
        what = "starter rules" if target.name == "rules.yaml" else "test cases"
        plan.write(str(target), what, instead="run lifecycle init in another folder")
    plan.check()
    return plan

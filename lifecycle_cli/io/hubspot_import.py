"""Files HubSpot's importer takes as they are, to put a reclassification back into the CRM.

HubSpot moves a lifecycle stage only forward on import: a record going back to an earlier
stage must first have its stage cleared (one import), then set (a second one). So, per object
(contacts, companies), two files keyed by Record ID, holding only the records whose stage
changed, the stage as HubSpot's internal value (safe where a portal renamed its labels):

- `<object>-1-clear-stage.csv`: the records that move backwards, the stage empty;
- `<object>-2-set-stage.csv`: every changed record with its new stage (and Other Type where set);

and a README.txt saying in which order to import them and what to choose in the import dialog.
The README ends with the SHA-256 of every file of the folder: the next run replaces the folder
whole, and stops instead when it finds a file there that lifecycle did not write (`foreign_files`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..base.errors import InputError
from ..rules.model import Rules

#: A HubSpot record id: digits only (HubSpot's importer matches nothing else to a Record ID).
HUBSPOT_ID = r"^[0-9]+$"


@dataclass(frozen=True)
class ImportObject:
    """One object's changes and how the portal names its columns."""

    name: str  #: "contacts" or "companies"
    changes: (
        pl.DataFrame
    )  #: record_id, previous, new, other_type (see classify.Classification.changes)
    id_header: str  #: the Record ID column as the export names it
    stage_header: str  #: the lifecycle stage column as the export names it
    other_header: str | None = None  #: the Other Type column (contacts), None where not written


@dataclass(frozen=True)
class ImportFiles:
    files: dict[str, str]  #: file name in the folder -> its text
    counts: dict[str, tuple[int, int]]  #: object -> (records to clear, records to set)


def file_names(objects: list[str]) -> list[str]:
    """The files `build` writes for these objects, known before the run (the output plan checks
    them)."""
    return [f"{name}-{n}" for name in objects for n in ("1-clear-stage.csv", "2-set-stage.csv")] + [
        "README.txt"
    ]


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def backwards(changes: pl.DataFrame, rules: Rules) -> pl.Series:
    """Which changes move back in HubSpot's stage order: the order of the stages in the rules
    (subscriber, lead, MQL, SQL, opportunity, customer, evangelist, other by default). A record
    that had no stage moves nowhere back."""
    order = {s.id: i for i, s in enumerate(rules.stages)}
    ids, ranks = list(order), list(order.values())
    rank = lambda col: pl.col(col).replace_strict(ids, ranks, default=None, return_dtype=pl.Int32)  # noqa: E731
    return changes.select(
        (rank("new") < rank("previous")).fill_null(False).alias("back")
    ).to_series()


def build(objects: list[ImportObject], rules: Rules, source: str) -> ImportFiles:
    value = {s.id: s.value for s in rules.stages}
    files: dict[str, str] = {}
    counts: dict[str, tuple[int, int]] = {}
    other_written: set[str] = set()
    for obj in objects:
        _check_ids(obj)
        changes = obj.changes.sort("record_id")  # the same file for the same changes, run after run
        back = changes.filter(backwards(changes, rules))
        clear = [[obj.id_header, obj.stage_header]] + [
            [rid, ""] for rid in back["record_id"].to_list()
        ]
        with_other = obj.other_header is not None and changes["other_type"].is_not_null().any()
        header = [obj.id_header, obj.stage_header] + ([obj.other_header] if with_other else [])
        rows = []
        for rid, new, other in changes.select("record_id", "new", "other_type").iter_rows():
            rows.append([rid, value[new]] + ([other or ""] if with_other else []))
        files[f"{obj.name}-1-clear-stage.csv"] = _csv(clear)
        files[f"{obj.name}-2-set-stage.csv"] = _csv([header] + rows)
        counts[obj.name] = (back.height, changes.height)
        if with_other:
            other_written.add(obj.name)
    readme = _readme(objects, counts, other_written, source)
    hashes = {name: _sha256(text.encode("utf-8")) for name, text in files.items()}
    files[README] = readme + _manifest(hashes, _sha256(readme.encode("utf-8")))
    return ImportFiles(files, counts)


def _check_ids(obj: ImportObject) -> None:
    """Ids of another shape (`CONT-0042` from a migration tool, a Salesforce id) update no HubSpot
    record: the import would fail or, worse, create records. Stop before writing anything."""
    ids = obj.changes["record_id"]
    bad = ids.filter(ids.is_null() | ~ids.str.contains(HUBSPOT_ID))
    if not bad.len():
        return
    example = bad.drop_nulls().head(1).to_list()
    shown = f" (for example '{example[0]}')" if example else " (some are empty)"
    raise InputError(
        f"--hubspot-import: column '{obj.id_header}' of the {obj.name} holds {bad.len():,} changed "
        "record ids "
        f"that are not HubSpot record ids{shown}: HubSpot's importer matches a Record ID only by "
        "its digits, so "
        "these records could not be updated; classify an export from HubSpot (its Record ID "
        "column), or leave "
        "--hubspot-import out"
    )


README = "README.txt"
#: How every README.txt lifecycle writes starts.
README_START = "Lifecycle stages to import back into HubSpot"
#: The line that starts the list of the folder's files at the end of README.txt.
MANIFEST_HEAD = (
    "The files of this folder as lifecycle wrote them, with their SHA-256 "
    "(README.txt: of the text above):"
)
_MANIFEST_LINE = re.compile(r"  ([0-9a-f]{64})  (\S+)")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(hashes: dict[str, str], readme_hash: str) -> str:
    """The end of README.txt: each file's SHA-256, this README's of the text above the list."""
    lines = ["", MANIFEST_HEAD]
    lines += [f"  {digest}  {name}" for name, digest in sorted(hashes.items())]
    lines += [
        f"  {readme_hash}  {README}",
        "The next lifecycle run into this folder replaces it whole with that run's files; it stops",
        "instead when a file here was changed or added by hand.",
        "",
    ]
    return "\n".join(lines)


def _listed(readme: Path) -> dict[str, str] | None:
    """The files a README.txt lifecycle wrote lists, name -> SHA-256; None when it is not such a
    README (missing, another text, or changed since)."""
    try:
        text = readme.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    at = text.rfind("\n" + MANIFEST_HEAD + "\n")
    if at < 0:
        return None
    body = text[:at]
    hashes = {}
    for line in text[at:].split("\n"):
        found = _MANIFEST_LINE.fullmatch(line)
        if found:
            hashes[found[2]] = found[1]
    readme_hash = hashes.pop(README, None)
    if readme_hash != _sha256(body.encode("utf-8")):
        return None
    if body + _manifest(hashes, readme_hash) != text:  # the list itself was changed
        return None
    return {**hashes, README: readme_hash}


def foreign_files(folder: Path) -> list[str]:
    """The entries of an existing import folder that lifecycle did not write, or that were changed
    since, each with why; empty when the folder holds only one earlier run's files as written."""
    names = sorted(os.listdir(folder))
    listed = _listed(folder / README) if README in names else None
    foreign = []
    for name in names:
        path = folder / name
        if path.is_symlink() or not path.is_file():
            foreign.append(f"{name} (not a file lifecycle writes)")
        elif listed is None or name not in listed:
            foreign.append(name if name != README else f"{name} ({_whose(path)})")
        elif name != README and not _same_hash(path, listed[name]):
            foreign.append(f"{name} (changed since lifecycle wrote it)")
    return foreign


def _whose(readme: Path) -> str:
    """Why a README.txt is not taken as lifecycle's own, in words."""
    try:
        head = readme.read_bytes()[: len(README_START)].decode("utf-8", "replace")
    except OSError:
        head = ""
    if (
        head == README_START
    ):  # lifecycle's words, but no list of files: written before there was one
        return (
            "an earlier lifecycle version's, which lists no files: remove the folder's files once"
        )
    return "not the one lifecycle wrote, or changed since"


def _same_hash(path: Path, digest: str) -> bool:
    try:
        return _sha256(path.read_bytes()) == digest
    except OSError:
        return False


def _readme(
    objects: list[ImportObject],
    counts: dict[str, tuple[int, int]],
    other_written: set[str],
    source: str,
) -> str:
    lines = [
        f"{README_START}, worked out by `lifecycle classify` from {source}.",
        "",
        "HubSpot moves a lifecycle stage only forward when it imports one. A record that goes back "
        "to an",
        "earlier stage (a Customer who is a Lead again, an MQL who unsubscribed) must first have "
        "its stage",
        "cleared, then set. So import the files below in this order, each as an import of its own, "
        "and wait",
        "for each import to finish before starting the next.",
        "",
        "Each file holds only the records whose stage changed, keyed by Record ID, the stage "
        "written as",
        "HubSpot's internal value (marketingqualifiedlead, ...), which the importer accepts even "
        "where a",
        "portal renamed its stage labels.",
        "",
    ]
    step = 0
    for obj in objects:
        clear, set_ = counts[obj.name]
        kind = obj.name  # contacts / companies
        other = obj.other_header if obj.name in other_written else None
        singular = kind[:-1] if kind == "contacts" else "company"
        for name, n, what, blanks in (
            (
                f"{kind}-1-clear-stage.csv",
                clear,
                f"the {kind} that move back to an earlier stage, with an empty {obj.stage_header}",
                "Turn ON the option to clear existing values with the file's empty cells (HubSpot "
                "calls it "
                '"overwrite existing values with blank values" or similar). Without it HubSpot '
                "skips empty "
                f"cells and no stage is cleared, and the next step cannot move these {kind} back.",
            ),
            (
                f"{kind}-2-set-stage.csv",
                set_,
                f"every {singular} whose stage changed, with its new stage",
                "Leave the option to clear values with empty cells OFF here"
                + (f" (an empty {other} must not clear one set earlier)." if other else "."),
            ),
        ):
            step += 1
            lines.append(
                textwrap.fill(
                    f"{step}. {name}: {n:,} {kind if n != 1 else singular}, {what}.",
                    width=100,
                    subsequent_indent="   ",
                )
            )
            if n == 0:
                lines += ["   Nothing to import in this step: skip it.", ""]
                continue
            lines += [
                f"   In HubSpot: {kind.capitalize()} > Import > Start an import > File from "
                "computer > One file >",
                f"   One object > {kind.capitalize()}; choose to update existing {kind} only, "
                "matched by Record ID.",
                f"   Map '{obj.id_header}' to Record ID and '{obj.stage_header}' to Lifecycle stage"
                + (
                    f", '{other}' to your Other Type property."
                    if other and name.endswith("set-stage.csv")
                    else "."
                ),
                textwrap.fill(blanks, width=100, initial_indent="   ", subsequent_indent="   "),
                "",
            ]
    if other_written:
        lines += [
            textwrap.fill(
                "Other Type is not a standard HubSpot property: create a contact property of that "
                "name (single-line "
                "text or dropdown) before the import and map the column to it, or leave the column "
                "unmapped "
                '("Don\'t import column") to set only the stages.',
                width=100,
            ),
            "",
        ]
    lines += [
        "Check one record of each file in HubSpot after its import (its stage, and the stage "
        "history in",
        "its Lifecycle stage property) before you run the next one.",
        "",
    ]
    return "\n".join(lines)

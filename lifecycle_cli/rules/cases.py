"""`lifecycle test`: the test cases that live with a rules file, run through the real classifier.

A rules file's `tests:` section lists cases, or `include:` entries naming YAML files of cases
(a glob, relative to the rules file). A case:

    - name: a customer without deals stays a customer
      # the contact's row (export headers)
      contact: {Lifecycle Stage: Customer, Email: sara@acme.example}
      # optional: no key = no deals file given; a deal with `link: account` links through
      # the account (else by contact)
      deals: [{Deal Stage: closedlost}]
      consent: [{Subscription type: ..., Status: ..., Timestamp: ...}]  # optional, likewise
      missing: [Last Contacted]               # optional: columns the export lacks
      expect: {stage: Customer, rule: sticky, other_type: Employee}

Each case becomes one contact (and its deals and consent rows) in export files built in
memory with every column the rules know, under the first header the rules accept for it
(or the header the case itself uses). Cases with the same files share one classify run.
"""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .yamlnodes import At, LinedYaml, load_lined_yaml

CASE_KEYS = ("name", "contact", "deals", "consent", "missing", "expect")
EXPECT_KEYS = ("stage", "rule", "other_type")


@dataclass(frozen=True)
class Case:
    name: str
    at: At  #: the case's place in its file
    contact: dict[str, str]
    deals: list[dict[str, str]] | None
    consent: list[dict[str, str]] | None
    missing: tuple[str, ...]
    expect: dict[str, str]

    @property
    def where(self) -> str:
        """file:line of the case."""
        return str(self.at)


def load_cases(path: Path, display: str) -> list[Case]:
    doc = load_lined_yaml(path, display)
    data = doc.data if isinstance(doc.data, dict) else {}
    items = data.get("tests")
    if items is None:
        return []
    if not isinstance(items, list):
        raise doc.at(("tests",)).error(
            "tests must be a list of test cases (or include: FILES entries)"
        )
    cases: list[Case] = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and set(item) == {"include"}:
            pattern = item["include"]
            if not isinstance(pattern, str):
                raise doc.at(("tests", i, "include")).error(
                    "include names a file or a glob, e.g. rule_cases/*.yaml"
                )
            for match in _included(doc, ("tests", i, "include"), pattern, path):
                name = str(Path(display).parent / match.relative)
                included = load_lined_yaml(match.path, name)
                if included.data is None:
                    continue
                if not isinstance(included.data, list):
                    raise included.at(()).error("a file of test cases holds a list of cases")
                cases += [_case(included, (j,), case) for j, case in enumerate(included.data)]
        else:
            cases.append(_case(doc, ("tests", i), item))
    names = {}
    for case in cases:
        if case.name in names:
            raise case.at.error(f"a test case named '{case.name}' is already at {names[case.name]}")
        names[case.name] = case.where
    return cases


@dataclass(frozen=True)
class _Match:
    path: Path
    relative: Path  #: from the rules file's folder


def _included(doc: LinedYaml, at: tuple, pattern: str, rules: Path) -> list[_Match]:
    """The files an `include:` glob names: regular files in the rules file's folder or below it.
    An absolute path, a `..` or a link leading out of it, or a folder, pipe or device is an error
    with the line: a shared rules file must not read other files of the machine, nor hang on a
    pipe."""
    place, folder = doc.at(at), rules.parent
    if Path(pattern).is_absolute() or pattern.startswith("~"):
        what = "names the home folder" if pattern.startswith("~") else "is an absolute path"
        raise place.error(
            f"include '{pattern}' {what}; name the case files relative to "
            f"the folder of {doc.file}, e.g. rule_cases/*.yaml"
        )
    home = os.path.realpath(folder)
    matches = sorted(glob.glob(str(folder / pattern)))
    if not matches:
        raise place.error(f"no file matches '{pattern}' (relative to {folder})")
    found = []
    for match in matches:
        real = os.path.realpath(match)
        relative = os.path.relpath(real, home)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise place.error(
                f"include '{pattern}' reaches {match}, outside the folder of "
                f"{doc.file}; case files must be in that folder or below it"
            )
        try:
            mode = os.stat(real).st_mode
        except OSError as exc:
            raise place.error(f"include '{pattern}': cannot read {match}: {exc.strerror}") from None
        if not stat.S_ISREG(mode):
            kind = (
                "a folder"
                if stat.S_ISDIR(mode)
                else "a named pipe"
                if stat.S_ISFIFO(mode)
                else "a device or socket"
            )
            raise place.error(
                f"include '{pattern}' matches {match}, which is {kind}, not a file of test cases"
            )
        found.append(_Match(Path(real), Path(relative)))
    return found


def text_of(value: Any) -> str:
    return "" if value is None else str(value)


def _row(doc: LinedYaml, path: tuple, value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise doc.at(path).error(f"{what} must map export headers to values")
    return {str(k): text_of(v) for k, v in value.items()}


def _rows(doc: LinedYaml, path: tuple, value: Any, what: str) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise doc.at(path).error(f"{what} must be a list of rows")
    return [_row(doc, path + (i,), v, f"each of {what}") for i, v in enumerate(value)]


def _case(doc: LinedYaml, path: tuple, item: Any) -> Case:
    if not isinstance(item, dict):
        raise doc.at(path).error("a test case is a mapping with name, contact and expect")
    unknown = [k for k in item if k not in CASE_KEYS]
    if unknown:
        raise doc.at(path + (unknown[0],)).error(
            f"unknown key '{unknown[0]}' in a test case (allowed: {', '.join(CASE_KEYS)})"
        )
    for key in ("name", "expect"):
        if key not in item:
            raise doc.at(path).error(f"a test case needs '{key}'")
    expect = item["expect"]
    if not isinstance(expect, dict) or "stage" not in expect:
        raise doc.at(path + ("expect",)).error("expect names at least the stage (and the rule)")
    bad = [k for k in expect if k not in EXPECT_KEYS]
    if bad:
        raise doc.at(path + ("expect", bad[0])).error(
            f"unknown key '{bad[0]}' in expect (allowed: {', '.join(EXPECT_KEYS)})"
        )
    missing = item.get("missing") or []
    if not isinstance(missing, list):
        raise doc.at(path + ("missing",)).error("missing lists the headers the export lacks")
    return Case(
        name=text_of(item["name"]),
        at=doc.at(path),
        contact=_row(doc, path + ("contact",), item.get("contact") or {}, "contact"),
        deals=_rows(doc, path + ("deals",), item["deals"], "deals") if "deals" in item else None,
        consent=_rows(doc, path + ("consent",), item["consent"], "consent")
        if "consent" in item
        else None,
        missing=tuple(text_of(m) for m in missing),
        expect={k: text_of(v) for k, v in expect.items()},
    )


# --------------------------------------------------------------------------- running

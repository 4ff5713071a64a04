"""`lifecycle test`: the test cases that live with a rules file, run through the real classifier.

A rules file's `tests:` section lists cases, or `include:` entries naming YAML files of cases
(a glob, relative to the rules file). A case:

    - name: a customer without deals stays a customer
      contact: {Lifecycle Stage: Customer, Email: sara@acme.example}   # the contact's row (export headers)
      deals: [{Deal Stage: closedlost}]       # optional: no key = no deals file given; a deal with
                                              # `link: account` links through the account (else by contact)
      consent: [{Subscription type: ..., Status: ..., Timestamp: ...}]  # optional, likewise
      missing: [Last Contacted]               # optional: columns the export lacks
      expect: {stage: Customer, rule: sticky, other_type: Employee}

Each case becomes one contact (and its deals and consent rows) in export files built in
memory with every column the rules know, under the first header the rules accept for it
(or the header the case itself uses). Cases with the same files share one classify run.
"""

from __future__ import annotations

import csv
import glob
import io
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from .errors import RulesError
from .rules import Rules
from .safe import terminal_safe
from .sources import normalise_header, read_source
from .yamlnodes import LinedYaml, load_lined_yaml

CASE_KEYS = ("name", "contact", "deals", "consent", "missing", "expect")
EXPECT_KEYS = ("stage", "rule", "other_type")


@dataclass(frozen=True)
class Case:
    name: str
    where: str  #: file:line of the case
    contact: dict[str, str]
    deals: list[dict[str, str]] | None
    consent: list[dict[str, str]] | None
    missing: tuple[str, ...]
    expect: dict[str, str]


@dataclass
class Outcome:
    case: Case
    got: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    #: Every spelling of a stage (lower case) to its id: an expected `Customer` matches a written `customer`.
    stages: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.error is None and not self.differences

    @property
    def differences(self) -> list[tuple[str, str, str]]:
        return [
            (key, want, self.got.get(key, ""))
            for key, want in self.case.expect.items()
            if not self._same(key, want, self.got.get(key, ""))
        ]

    def _same(self, key: str, want: str, got: str) -> bool:
        if key == "stage":
            return self.stages.get(want.strip().lower(), want) == self.stages.get(
                got.strip().lower(), got
            )
        return want == got


# --------------------------------------------------------------------------- loading


def load_cases(path: Path, display: str) -> list[Case]:
    doc = load_lined_yaml(path, display)
    data = doc.data if isinstance(doc.data, dict) else {}
    items = data.get("tests")
    if items is None:
        return []
    if not isinstance(items, list):
        raise RulesError(
            f"{doc.where(('tests',))}: tests must be a list of test cases (or include: FILES entries)"
        )
    cases: list[Case] = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and set(item) == {"include"}:
            pattern = item["include"]
            if not isinstance(pattern, str):
                raise RulesError(
                    f"{doc.where(('tests', i, 'include'))}: include names a file or a glob, e.g. rule_cases/*.yaml"
                )
            for match in _included(doc, ("tests", i, "include"), pattern, path):
                name = str(Path(display).parent / match.relative)
                included = load_lined_yaml(match.path, name)
                if included.data is None:
                    continue
                if not isinstance(included.data, list):
                    raise RulesError(
                        f"{included.where(())}: a file of test cases holds a list of cases"
                    )
                cases += [_case(included, (j,), case) for j, case in enumerate(included.data)]
        else:
            cases.append(_case(doc, ("tests", i), item))
    names = {}
    for case in cases:
        if case.name in names:
            raise RulesError(
                f"{case.where}: a test case named '{case.name}' is already at {names[case.name]}"
            )
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
    where, folder = doc.where(at), rules.parent
    if Path(pattern).is_absolute() or pattern.startswith("~"):
        what = "names the home folder" if pattern.startswith("~") else "is an absolute path"
        raise RulesError(
            f"{where}: include '{pattern}' {what}; name the case files relative to "
            f"the folder of {doc.file}, e.g. rule_cases/*.yaml"
        )
    home = os.path.realpath(folder)
    matches = sorted(glob.glob(str(folder / pattern)))
    if not matches:
        raise RulesError(f"{where}: no file matches '{pattern}' (relative to {folder})")
    found = []
    for match in matches:
        real = os.path.realpath(match)
        relative = os.path.relpath(real, home)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise RulesError(
                f"{where}: include '{pattern}' reaches {match}, outside the folder of "
                f"{doc.file}; case files must be in that folder or below it"
            )
        try:
            mode = os.stat(real).st_mode
        except OSError as exc:
            raise RulesError(
                f"{where}: include '{pattern}': cannot read {match}: {exc.strerror}"
            ) from None
        if not stat.S_ISREG(mode):
            kind = (
                "a folder"
                if stat.S_ISDIR(mode)
                else "a named pipe"
                if stat.S_ISFIFO(mode)
                else "a device or socket"
            )
            raise RulesError(
                f"{where}: include '{pattern}' matches {match}, which is {kind}, "
                "not a file of test cases"
            )
        found.append(_Match(Path(real), Path(relative)))
    return found


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _row(doc: LinedYaml, path: tuple, value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise RulesError(f"{doc.where(path)}: {what} must map export headers to values")
    return {str(k): _text(v) for k, v in value.items()}


def _rows(doc: LinedYaml, path: tuple, value: Any, what: str) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RulesError(f"{doc.where(path)}: {what} must be a list of rows")
    return [_row(doc, path + (i,), v, f"each of {what}") for i, v in enumerate(value)]


def _case(doc: LinedYaml, path: tuple, item: Any) -> Case:
    if not isinstance(item, dict):
        raise RulesError(
            f"{doc.where(path)}: a test case is a mapping with name, contact and expect"
        )
    unknown = [k for k in item if k not in CASE_KEYS]
    if unknown:
        raise RulesError(
            f"{doc.where(path + (unknown[0],))}: unknown key '{unknown[0]}' in a test case "
            f"(allowed: {', '.join(CASE_KEYS)})"
        )
    for key in ("name", "expect"):
        if key not in item:
            raise RulesError(f"{doc.where(path)}: a test case needs '{key}'")
    expect = item["expect"]
    if not isinstance(expect, dict) or "stage" not in expect:
        raise RulesError(
            f"{doc.where(path + ('expect',))}: expect names at least the stage (and the rule)"
        )
    bad = [k for k in expect if k not in EXPECT_KEYS]
    if bad:
        raise RulesError(
            f"{doc.where(path + ('expect', bad[0]))}: unknown key '{bad[0]}' in expect (allowed: {', '.join(EXPECT_KEYS)})"
        )
    missing = item.get("missing") or []
    if not isinstance(missing, list):
        raise RulesError(
            f"{doc.where(path + ('missing',))}: missing lists the headers the export lacks"
        )
    return Case(
        name=_text(item["name"]),
        where=doc.where(path),
        contact=_row(doc, path + ("contact",), item.get("contact") or {}, "contact"),
        deals=_rows(doc, path + ("deals",), item["deals"], "deals") if "deals" in item else None,
        consent=_rows(doc, path + ("consent",), item["consent"], "consent")
        if "consent" in item
        else None,
        missing=tuple(_text(m) for m in missing),
        expect={k: _text(v) for k, v in expect.items()},
    )


# --------------------------------------------------------------------------- running


def run_cases(cases: list[Case], rules: Rules) -> tuple[list[Outcome], float]:
    from .classify import added_stage_column, classify

    lookup = rules.stage_lookup()
    started = time.perf_counter()
    groups: dict[tuple, list[Case]] = {}
    for case in cases:
        key = (
            case.deals is not None,
            case.consent is not None,
            tuple(sorted(normalise_header(m) for m in case.missing)),
        )
        groups.setdefault(key, []).append(case)
    outcomes: dict[str, Outcome] = {}
    for (with_deals, with_consent, _), group in groups.items():
        files = _export_files(group, rules, with_deals, with_consent)
        try:
            contacts = read_source(
                "-", "contacts", rules.columns["contacts"], stdin=files["contacts"]
            )
            deals = (
                read_source("-", "deals", rules.columns["deals"], stdin=files["deals"])
                if with_deals
                else None
            )
            consent = (
                read_source("-", "consent", rules.columns["consent"], stdin=files["consent"])
                if with_consent
                else None
            )
            run = classify(contacts, deals, consent, rules, stage_format="label")
            table = run.output.collect()
        except Exception as exc:  # noqa: BLE001 - a case that cannot run is a failed case, with the reason
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            for i, case in enumerate(group):
                outcomes[case.name] = Outcome(case, error=message)
            continue
        id_header = contacts.resolved["record_id"]
        stage = contacts.resolved.get(
            "stage", added_stage_column(rules)
        )  # added when the export has none
        by_id = {str(r[id_header]): r for r in table.iter_rows(named=True)}
        for i, case in enumerate(group):
            row = by_id.get(_record_id(i), {})
            outcomes[case.name] = Outcome(
                case,
                got={
                    "stage": _text(row.get(stage)),
                    "rule": _text(row.get(rules.rule_column)),
                    "other_type": _text(row.get(rules.other_type_column)),
                },
                stages=lookup,
            )
    return [outcomes[c.name] for c in cases], time.perf_counter() - started


def _record_id(i: int) -> str:
    return str(7_000_100 + i)


def _headers(spec: dict, rows: list[dict[str, str]], missing: set[str]) -> list[str]:
    """Every column the rules know, under the header a case uses for it or else the first accepted one,
    then the cases' other headers; `missing` (normalised) left out."""
    used = list(dict.fromkeys(k for row in rows for k in row))
    headers: list[str] = []
    claimed: set[str] = set()
    for column in spec.values():
        accepted = {normalise_header(h) for h in column.headers}
        own = [h for h in used if normalise_header(h) in accepted]
        header = own[0] if own else column.headers[0]
        claimed |= set(own)
        if (
            not accepted & missing and header not in headers
        ):  # a missing column, however the case spells it
            headers.append(header)
    headers += [
        h
        for h in used
        if h not in claimed and h not in headers and normalise_header(h) not in missing
    ]
    return headers


def _csv(headers: list[str], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=headers, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({h: row.get(h, "") for h in headers} for row in rows)
    return out.getvalue().encode("utf-8")


def _export_files(
    group: list[Case], rules: Rules, with_deals: bool, with_consent: bool
) -> dict[str, bytes]:
    cols = rules.columns
    first = lambda role, name: cols[role][name].headers[0] if name in cols[role] else None  # noqa: E731
    missing = {normalise_header(m) for m in group[0].missing}
    contacts, deals, consent = [], [], []
    email_headers = (
        {normalise_header(h) for h in cols["contacts"]["email"].headers}
        if "email" in cols["contacts"]
        else set()
    )
    for i, case in enumerate(group):
        rid = _record_id(i)
        row = dict(case.contact)
        row[first("contacts", "record_id")] = rid
        email = next((v for k, v in row.items() if normalise_header(k) in email_headers), "")
        linked_from_contact = []
        for j, deal in enumerate(case.deals or []):
            deal = dict(deal)
            link = deal.pop("link", "deal")
            deal_id = f"{rid}{j:02d}"
            deal.setdefault(first("deals", "record_id"), deal_id)
            if link == "account":
                pass  # linked through the account: the case gives the deal's and the contact's account ids
            elif link == "contact" and first("contacts", "deal_ids"):
                linked_from_contact.append(deal_id)
            elif first("deals", "contact_ids"):
                deal[first("deals", "contact_ids")] = rid
            deals.append(deal)
        if linked_from_contact:
            row[first("contacts", "deal_ids")] = ";".join(linked_from_contact)
        for event in case.consent or []:
            event = dict(event)
            by = event.pop("by", "id")
            if by == "email" and first("consent", "email"):
                event.setdefault(first("consent", "email"), email)
            elif first("consent", "contact_id"):
                event[first("consent", "contact_id")] = rid
            consent.append(event)
        contacts.append(row)
    files = {"contacts": _csv(_headers(cols["contacts"], contacts, missing), contacts)}
    if with_deals:
        files["deals"] = _csv(_headers(cols["deals"], deals, set()), deals)
    if with_consent:
        files["consent"] = _csv(_headers(cols["consent"], consent, set()), consent)
    return files


# --------------------------------------------------------------------------- reporting


def report_lines(
    outcomes: list[Outcome], seconds: float, rules_display: str
) -> tuple[list[str], bool]:
    """pytest-like lines: one per case, then the failures with expected and actual, then a summary."""
    lines = [f"lifecycle test: {len(outcomes)} cases from {_one_line(rules_display)}", ""]
    for o in outcomes:
        verdict = "PASSED" if o.passed else "FAILED"
        lines.append(f"{_one_line(o.case.where)} {_one_line(o.case.name)} {verdict}")
    failed = [o for o in outcomes if not o.passed]
    for o in failed:
        lines += ["", f"____ {_one_line(o.case.name)} ____", _one_line(o.case.where)]
        if o.error:
            lines.append(f"  could not classify the case: {_one_line(o.error)}")
            continue
        for key, want, got in o.differences:
            lines.append(f"  {key}: expected {want!r}, got {got!r}")
        shown = {k: v for k, v in o.got.items() if k in o.case.expect}
        lines.append(f"  - expected: {o.case.expect}")
        lines.append(f"  + actual:   {shown}")
    passed = len(outcomes) - len(failed)
    lines += [
        "",
        f"==== {len(failed)} failed, {passed} passed in {seconds:.2f}s ===="
        if failed
        else f"==== {passed} passed in {seconds:.2f}s ====",
    ]
    return lines, not failed


def _one_line(text: str) -> str:
    """A case's name or an error on one line, control characters escaped: a name from the rules
    file cannot fake a PASSED line or act on the terminal."""
    return terminal_safe(str(text)).replace("\n", "\\n")

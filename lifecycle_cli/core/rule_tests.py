"""`lifecycle test`: run a rules file's test cases (rules/cases.py reads them) through the real
classifier, each case one contact in export files built in memory."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field

from ..base.safe import terminal_safe
from ..io.sources import normalise_header, read_source
from ..rules.cases import Case, text_of
from ..rules.model import Rules
from .classify import classify
from .export import added_stage_column


@dataclass
class Outcome:
    case: Case
    got: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    #: Every spelling of a stage (lower case) to its id: an expected `Customer` matches a written
    #: `customer`.
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


def run_cases(cases: list[Case], rules: Rules) -> tuple[list[Outcome], float]:

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
            for case in group:
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
                    "stage": text_of(row.get(stage)),
                    "rule": text_of(row.get(rules.rule_column)),
                    "other_type": text_of(row.get(rules.other_type_column)),
                },
                stages=lookup,
            )
    return [outcomes[c.name] for c in cases], time.perf_counter() - started


def _record_id(i: int) -> str:
    return str(7_000_100 + i)


def _headers(spec: dict, rows: list[dict[str, str]], missing: set[str]) -> list[str]:
    """Every column the rules know, under the header a case uses for it or else the first accepted
    one,
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
                # linked through the account: the case gives the deal's and the contact's account
                # ids
                pass
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
    """pytest-like lines: one per case, then the failures with expected and actual, then a
    summary."""
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

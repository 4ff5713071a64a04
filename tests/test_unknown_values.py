"""Values the rules were never told about, through the real CLI: they never move a contact further.

A test `column IN @list` is true for what the list names, false for its known non-members
(`not_in`) and for an empty value, and unknown for any other value. Unknown keeps a contact
at its stage or catches it falling, and never promotes it. So replacing one known value of
a column the rules read by a value no list names can only make the result stay closer to
the contact's current stage. The JSON report's `vocabulary` names such values, their count
and the rules they left undecided; `--strict` fails on them.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import (
    CONTACT_HEADERS,
    DEAL_HEADERS,
    OK,
    ROOT,
    USAGE,
    read_csv,
    run_cli,
    stage_id,
    write_csv,
)
from hypothesis import given, settings
from hypothesis import strategies as st

RULES_DOC = yaml.safe_load((ROOT / "rules.yaml").read_text(encoding="utf-8"))
#: Ranked stage ids, lowest first (Other is outside the order).
RANK = {s["id"]: n for n, s in enumerate(s for s in RULES_DOC["stages"] if s.get("ranked", True))}
NO_STAGE = -1  #: the rank of an empty stage: any stage is above it


def list_values(name: str) -> set[str]:
    """Every value the default rules.yaml names in a list (members, known non-members, values to
    sort)."""
    raw = (RULES_DOC.get("values") or {}).get(name) or []
    if isinstance(raw, dict):
        raw = [*(raw.get("in") or []), *(raw.get("not_in") or []), *(raw.get("sort_these") or [])]
    return {str(v) for v in raw}


#: Per column the property test changes, every value a list names, in the default rules or in the
#: specification (DOMAIN.md): a generated value must be none of them, in any case.
KNOWN = {
    "Lead Status": list_values("sales_lead_statuses")
    | {
        "Attempted to contact",
        "ATTEMPTED_TO_CONTACT",
        "Connected",
        "CONNECTED",
        "In progress",
        "IN_PROGRESS",
        "Open deal",
        "OPEN_DEAL",
        "New",
        "NEW",
        "Open",
        "OPEN",
        "Unqualified",
        "UNQUALIFIED",
        "Bad timing",
        "BAD_TIMING",
    },
    "Contact type": list_values("other_kinds")
    | {"Employee", "Applicant", "Partner", "Competitor", "Vendor"},
    "Marketing email confirmation status": list_values("double_opt_in_confirmed")
    | {
        "Confirmed",
        "User clicked confirmation",
        "HubSpot Rep. marked confirmed",
        "Customer marked confirmed",
        "Confirmed from previous behavior",
        "Confirmed due to form",
        "Confirmation pending",
        "Confirmation email sent",
        "Awaiting Double Opt In",
    },
    "Deal Stage": list_values("won_deal_stages")
    | list_values("lost_deal_stages")
    | list_values("open_deal_stages")
    | {
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
        "Appointment Scheduled",
        "Qualified To Buy",
        "Presentation Scheduled",
        "Decision Maker Bought-In",
        "Contract Sent",
        "Closed Won",
        "Closed Lost",
    },
}


def folded(value: str) -> set[str]:
    return {value.strip().lower(), value.strip().casefold()}


KNOWN_FOLDED = {column: {f for v in values for f in folded(v)} for column, values in KNOWN.items()}

# --------------------------------------------------------------------------- a small, fully known
# export

LEGIT = "Legitimate interest – prospect/lead"


def contact(
    rid: str,
    first: str,
    last: str,
    email: str,
    stage: str,
    status: str = "",
    contacted: str = "",
    confirmation: str = "",
    unsubscribed: str = "false",
    opted_out: str = "false",
    kind: str = "",
) -> dict:
    return {
        "Record ID": rid,
        "First Name": first,
        "Last Name": last,
        "Email": email,
        "Lifecycle Stage": stage,
        "Lead Status": status,
        "Contact owner": "Rachel Kim",
        "Create Date": "2024-03-04 09:00",
        "Last Activity Date": "2024-10-01 10:00",
        "Last Contacted": contacted,
        "Marketing contact status": "Marketing contact",
        "Unsubscribed from all email": unsubscribed,
        "Opted out of email: Marketing Information": opted_out,
        "Marketing email confirmation status": confirmation,
        "Legal basis for processing contact's data": LEGIT,
        "Contact type": kind,
    }


# Every value here is one a list names (or empty): the original run has nothing unknown.
CONTACTS = [
    contact(
        "51234590001", "Ava", "Thompson", "ava.thompson@thompson-tiles.example", "Lead", "Connected"
    ),
    contact(
        "51234590012",
        "Ben",
        "Okoro",
        "ben.okoro@okoro-farms.example",
        "Marketing Qualified Lead",
        "Attempted to contact",
    ),
    contact(
        "51234590023",
        "Cara",
        "Jensen",
        "cara.jensen@jensen-optics.example",
        "Sales Qualified Lead",
        "In progress",
    ),
    contact(
        "51234590034",
        "Dev",
        "Patel",
        "dev.patel@patel-imports.example",
        "Sales Qualified Lead",
        "New",
        confirmation="Confirmed",
    ),
    contact(
        "51234590045",
        "Elif",
        "Demir",
        "elif.demir@demir-textiles.example",
        "Opportunity",
        "Connected",
    ),
    contact(
        "51234590056", "Finn", "Larsen", "finn.larsen@larsen-marine.example", "Opportunity", "New"
    ),
    contact("51234590067", "Gina", "Russo", "gina.russo@russo-foods.example", "Customer", ""),
    contact(
        "51234590078",
        "Hugo",
        "Berger",
        "hugo.berger@mailbox.example",
        "Lead",
        "New",
        confirmation="Confirmed",
    ),
    contact(
        "51234590089",
        "Ines",
        "Silva",
        "ines.silva@mailbox.example",
        "Marketing Qualified Lead",
        "",
        confirmation="Confirmed",
    ),
    contact(
        "51234590091",
        "Jack",
        "Murphy",
        "jack.murphy@murphy-builders.example",
        "Subscriber",
        "Open",
        contacted="2024-09-30 14:00",
    ),
    contact(
        "51234590102",
        "Kira",
        "Novak",
        "kira.novak@novak-design.example",
        "Lead",
        "Connected",
        kind="Partner",
    ),
    contact("51234590113", "Leo", "Wright", "leo.wright@wright-supply.example", "Other", ""),
    contact(
        "51234590124",
        "Maya",
        "Cohen",
        "maya.cohen@cohen-legal.example",
        "Sales Qualified Lead",
        "Unqualified",
        confirmation="Confirmed",
        unsubscribed="true",
    ),
    contact(
        "51234590135", "Nils", "Eriksson", "nils.eriksson@eriksson-ab.example", "Evangelist", ""
    ),
    contact("51234590146", "Omar", "Haddad", "omar.haddad@haddad-clinic.example", "", "Connected"),
    contact(
        "51234590157",
        "Pia",
        "Keller",
        "pia.keller@mailbox.example",
        "Marketing Qualified Lead",
        "Bad timing",
        confirmation="Confirmation pending",
        opted_out="true",
    ),
    contact(
        "51234590168",
        "Quinn",
        "Adams",
        "quinn.adams@adams-events.example",
        "Lead",
        "",
        confirmation="Confirmed",
        kind="Vendor",
    ),
]


def deal(
    rid: str, name: str, stage: str, won: str, lost: str, closed: str, contact_id: str
) -> dict:
    return {
        "Record ID": rid,
        "Deal Name": name,
        "Deal Stage": stage,
        "Pipeline": "Sales Pipeline",
        "Amount": "9000",
        "Close Date": "2024-12-31",
        "Create Date": "2024-06-01 10:00",
        "Deal owner": "Rachel Kim",
        "Is Closed Won": won,
        "Is closed lost": lost,
        "Is Deal Closed?": closed,
        "Associated Contact IDs": contact_id,
    }


# Every deal carries all three flags, so its outcome never depends on the stage's name.
DEALS = [
    deal(
        "18401390001", "Russo Foods – Licence", "closedwon", "true", "false", "true", "51234590067"
    ),
    deal(
        "18401390002",
        "Larsen Marine – Fleet app",
        "contractsent",
        "false",
        "false",
        "false",
        "51234590056",
    ),
    deal(
        "18401390003",
        "Demir Textiles – Pilot",
        "closedlost",
        "false",
        "true",
        "true",
        "51234590045",
    ),
    deal(
        "18401390004",
        "Cohen Legal – Archive",
        "Closed Lost",
        "false",
        "true",
        "true",
        "51234590124",
    ),
    deal(
        "18401390005",
        "Novak Design – Studio",
        "Presentation Scheduled",
        "false",
        "false",
        "false",
        "51234590102",
    ),
    deal(
        "18401390006", "Eriksson AB – Renewal", "Closed Won", "true", "false", "true", "51234590135"
    ),
    deal(
        "18401390007",
        "Thompson Tiles – Showroom",
        "qualifiedtobuy",
        "false",
        "false",
        "false",
        "51234590001",
    ),
]

#: (file, row index, column): every cell of a column the rules read, whose value is to be replaced.
CELLS = [
    ("contacts", i, c)
    for i in range(len(CONTACTS))
    for c in ("Lead Status", "Contact type", "Marketing email confirmation status")
] + [("deals", i, "Deal Stage") for i in range(len(DEALS))]


def classify(folder: Path, contacts: list[dict], deals: list[dict] | None, *extra: str):
    """Write the exports into `folder`, classify them, and return (run, JSON report or None, output
    rows)."""
    args = [write_csv(folder / "contacts.csv", CONTACT_HEADERS, contacts)]
    if deals is not None:
        args += ["--deals", write_csv(folder / "deals.csv", DEAL_HEADERS, deals)]
    out = folder / "out.csv"
    run = run_cli("classify", *args, "-o", out, "--format", "json", *extra, cwd=folder)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        report = None
    rows = read_csv(out) if out.exists() else []
    return run, report, rows


def moves(rows: list[dict]) -> dict[str, tuple[str, str]]:
    """Record ID -> (stage id before, stage id after), from an output file."""
    return {
        r["Record ID"]: (stage_id(r["Previous Lifecycle Stage"]), stage_id(r["Lifecycle Stage"]))
        for r in rows
    }


def rank(stage: str) -> int | None:
    """The stage's place in the order; NO_STAGE for none; None for a stage outside the order
    (Other)."""
    return NO_STAGE if stage == "" else RANK.get(stage)


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> dict[str, tuple[str, str]]:
    folder = tmp_path_factory.mktemp("original")
    run, report, rows = classify(folder, CONTACTS, DEALS)
    assert run.code == OK, run.stderr[-2000:]
    assert report is not None and report.get("vocabulary") == [], (
        "the original export must hold no unknown value"
    )
    assert not [d for d in report["diagnostics"] if d["severity"] in ("error", "warning")], report[
        "diagnostics"
    ]
    return moves(rows)


def is_unknown(column: str, value: str) -> bool:
    return bool(value.strip()) and not (folded(value) & KNOWN_FOLDED[column])


# Printable text (letters, digits, punctuation, symbols, plain spaces): what a portal admin types.
TEXT = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S"), include_characters=" "),
    min_size=1,
    max_size=24,
)


@st.composite
def replacements(draw):
    """One cell a rule reads, and a value no list names to put there."""
    where = draw(st.sampled_from(CELLS))
    value = draw(TEXT.filter(lambda v: is_unknown(where[2], v)))
    return where, value


@settings(max_examples=10, deadline=None)
@given(replacements())
def test_an_unknown_value_never_moves_a_contact_further(original, replacement) -> None:
    (file, index, column), value = replacement
    contacts = [dict(c) for c in CONTACTS]
    deals = [dict(d) for d in DEALS]
    (contacts if file == "contacts" else deals)[index][column] = value
    with tempfile.TemporaryDirectory() as tmp:
        run, report, rows = classify(Path(tmp), contacts, deals)
    what = f"{column} of {file} row {index + 2} set to {value!r}"
    # An unknown lead status, contact type or confirmation status is no error, and neither is an
    # unknown deal stage on a deal whose flags decide it.
    assert run.code == OK, f"{what}: exit {run.code}\n{run.stderr[-2000:]}"
    assert "Traceback" not in run.stderr
    changed = moves(rows)
    assert set(changed) == set(original), what
    for record_id, (before, after) in changed.items():
        was, then = original[record_id]
        assert before == was, record_id
        why = f"{what}: contact {record_id} at {before or '(none)'}: originally {then}, now {after}"
        if after == "other":  # a value the rules do not know cannot make anyone Other
            assert then == "other", why
        if before == "other":  # Other (sticky) stays Other
            assert after == "other", why
        r_before, r_then, r_after = rank(before), rank(then), rank(after)
        if None in (r_before, r_then, r_after):
            continue  # a move to or from Other is neither a promotion nor a demotion
        assert not (r_after > r_before and r_then <= r_before), (
            f"promoted on an unknown value: {why}"
        )
        assert abs(r_after - r_before) <= abs(r_then - r_before), (
            f"moved further than the known facts: {why}"
        )
    if file == "deals":
        # The deal's flags decide its outcome: its stage's name changes nothing at all.
        assert changed == original, what
    if file == "contacts":
        # The vocabulary names the value: every column changed here is tested against an open list.
        named = {(e["header"], v["value"]) for e in report["vocabulary"] for v in e["values"]}
        assert (column, value.strip()) in named, (
            f"{what}: not in the vocabulary {report['vocabulary']}"
        )


# --------------------------------------------------------------------------- the vocabulary and
# --strict


def exports_with(
    status: str, kind: str = "", confirmation: str = "Confirmation pending"
) -> list[dict]:
    """Five contacts, three of them with Lead Status `status` (and no Last Contacted, so the status
    alone decides the sales rule), one with Contact type `kind`, one with confirmation
    `confirmation`."""
    return [
        contact("51234591001", "Alma", "Reyes", "alma.reyes@reyes-bikes.example", "Lead", status),
        contact(
            "51234591012",
            "Bruno",
            "Costa",
            "bruno.costa@costa-wines.example",
            "Sales Qualified Lead",
            status,
        ),
        contact(
            "51234591023",
            "Clara",
            "Weiss",
            "clara.weiss@weiss-labs.example",
            "Marketing Qualified Lead",
            status,
            confirmation="Confirmed",
        ),
        contact(
            "51234591034",
            "Dario",
            "Ferri",
            "dario.ferri@ferri-print.example",
            "Lead",
            "New",
            kind=kind,
        ),
        contact(
            "51234591045",
            "Edda",
            "Holm",
            "edda.holm@mailbox.example",
            "Marketing Qualified Lead",
            "",
            confirmation=confirmation,
        ),
    ]


def entry(report: dict, column: str) -> dict:
    found = [e for e in report.get("vocabulary", []) if e.get("column") == column]
    assert len(found) == 1, (
        f"one vocabulary entry for {column} expected: {report.get('vocabulary')}"
    )
    return found[0]


def test_the_vocabulary_names_value_count_and_rule(tmp_path: Path) -> None:
    contacts = exports_with("Working", kind="Reseller", confirmation="Pending review")
    run, report, rows = classify(tmp_path, contacts, None)
    assert run.code == OK, run.stderr[-2000:]
    status = entry(report, "lead_status")
    assert status["source"] == "contacts" and status["header"] == "Lead Status"
    assert status["values"] == [{"value": "Working", "count": 3}]
    assert status["rules"] == ["sales_lead"]
    kind = entry(report, "contact_type")
    assert kind["header"] == "Contact type" and kind["values"] == [
        {"value": "Reseller", "count": 1}
    ]
    assert kind["rules"] == ["other"]
    confirmation = entry(report, "confirmation_status")
    assert confirmation["header"] == "Marketing email confirmation status"
    assert confirmation["values"] == [{"value": "Pending review", "count": 1}]
    assert confirmation["rules"] == ["marketing_lead"]
    assert len(report["vocabulary"]) == 3
    warned = [d for d in report["diagnostics"] if d["severity"] == "warning"]
    assert {d["column"] for d in warned} >= {
        "Lead Status",
        "Contact type",
        "Marketing email confirmation status",
    }
    assert any("Working" in d["message"] and "sales_lead" in d["message"] for d in warned), warned
    # What the unknown status did: nobody promoted, the Sales Lead kept at its own stage.
    got = {r["Record ID"]: (r["Lifecycle Stage"], r["Lifecycle Rule"]) for r in rows}
    assert got["51234591001"] == ("Lead", "lead")  # Lead, Working: not promoted
    assert got["51234591012"] == ("Sales Qualified Lead", "kept-unknown")  # SQL, Working: kept
    assert got["51234591023"] == (
        "Marketing Qualified Lead",
        "marketing_lead",
    )  # decided by the next rule
    assert got["51234591034"] == ("Lead", "lead")  # Reseller: not Other, and not kept as anything
    assert got["51234591045"] == (
        "Marketing Qualified Lead",
        "kept-unknown",
    )  # Pending review: kept


@pytest.mark.parametrize(
    ("status", "kind", "confirmation", "named"),
    [
        ("Working", "", "Confirmation pending", "Working"),
        ("Connected", "Reseller", "Confirmation pending", "Reseller"),
        ("Connected", "", "Pending review", "Pending review"),
    ],
)
def test_strict_fails_on_an_unknown_value(
    tmp_path: Path, status: str, kind: str, confirmation: str, named: str
) -> None:
    run, _, _ = classify(
        tmp_path, exports_with(status, kind=kind, confirmation=confirmation), None, "--strict"
    )
    assert run.code == USAGE, f"exit {run.code}\n{run.stderr[-2000:]}"
    assert "lifecycle: error:" in run.stderr and "Traceback" not in run.stderr
    assert named in run.stderr, run.stderr[-2000:]
    assert not (tmp_path / "out.csv").exists(), "--strict failed, yet the output was written"


def test_strict_passes_when_every_value_is_named(tmp_path: Path) -> None:
    run, report, rows = classify(tmp_path, exports_with("Connected"), None, "--strict")
    assert run.code == OK, f"exit {run.code}\n{run.stderr[-2000:]}"
    assert report["vocabulary"] == []
    assert len(rows) == 5


def rules_with_statuses(folder: Path, statuses: dict) -> Path:
    """The default rules.yaml with values.sales_lead_statuses replaced (its test cases left out)."""
    doc = yaml.safe_load((ROOT / "rules.yaml").read_text(encoding="utf-8"))
    doc["values"]["sales_lead_statuses"] = statuses
    doc.pop("tests", None)
    path = folder / "my-rules.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


IN = ["Attempted to contact", "Connected", "In progress", "Open deal"]
NOT_IN = ["New", "Open", "Unqualified", "Bad timing"]


@pytest.mark.parametrize(
    ("statuses", "sales_lead", "lead"),
    [
        # Closed: every value the list does not name is a no. The SQL with Working falls through the
        # rules below (not double-opted-in: Lead); the Lead stays a Lead by rule.
        ({"in": IN, "not_in": NOT_IN, "closed": True}, ("Lead", "lead"), ("Lead", "lead")),
        # Working sorted as a known no: the same.
        ({"in": IN, "not_in": [*NOT_IN, "Working"]}, ("Lead", "lead"), ("Lead", "lead")),
        # Working sorted as a sales status: both are Sales Leads by rule.
        (
            {"in": [*IN, "Working"], "not_in": NOT_IN},
            ("Sales Qualified Lead", "sales_lead"),
            ("Sales Qualified Lead", "sales_lead"),
        ),
    ],
)
def test_a_sorted_or_closed_list_decides_and_leaves_nothing_unknown(
    tmp_path: Path, statuses: dict, sales_lead: tuple, lead: tuple
) -> None:
    rules = rules_with_statuses(tmp_path, statuses)
    contacts = exports_with("Working")  # the Sales Lead with Working is not double-opted-in
    run, report, rows = classify(tmp_path, contacts, None, "--rules", rules, "--strict")
    assert run.code == OK, f"exit {run.code}\n{run.stderr[-2000:]}"
    assert report["vocabulary"] == []
    got = {r["Record ID"]: (r["Lifecycle Stage"], r["Lifecycle Rule"]) for r in rows}
    assert got["51234591012"] == sales_lead
    assert got["51234591001"] == lead

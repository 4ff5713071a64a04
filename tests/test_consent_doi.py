"""Double opt-in belongs to the current consent: consent_facts and the SQL against a plain
reference.

A confirmation on a marketing consent event counts only when no lapse (any status that is
not a subscribed status) of the same subscription type came after it, in event order:
timestamp (none first), then file row. The reference below walks the events one by one.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import CONSENT_HEADERS, CONTACT_HEADERS, ROOT, read_csv, run_cli, write_csv

from lifecycle_cli.core.columns import KEY
from lifecycle_cli.core.facts import consent_facts, read_contact_ids
from lifecycle_cli.core.sql import build_query
from lifecycle_cli.io.sources import read_source
from lifecycle_cli.rules.model import load_rules

MARKETING = ["Marketing Information", "Product Updates"]
TYPES = [*MARKETING, " marketing information ", "One to One"]
STATUSES = [
    "Subscribed",
    "SUBSCRIBED",
    " subscribed ",
    "Opted out",
    "Not subscribed",
    "UNSUBSCRIBED",
    "NOT_SUBSCRIBED",
    "",
]
DOUBLE_OPT_INS = [
    "true",
    "false",
    "Confirmed",
    "User clicked confirmation",
    "Confirmation pending",
    "Yes",
    "",
]


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory) -> Path:
    """The default rules with a second marketing subscription type."""
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    default = "marketing_subscription_types:\n    in: [Marketing Information]"
    assert default in text
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(
        text.replace(default, f"marketing_subscription_types:\n    in: [{', '.join(MARKETING)}]"),
        encoding="utf-8",
    )
    return path


def exports(seed: int, contacts: int, unique_times: bool) -> tuple[list[dict], list[dict]]:
    """Contacts (every one a plain lead) and their consent events, shuffled.

    With `unique_times` every event has its own timestamp; otherwise few timestamps (ties, and
    empty ones) so that the file order decides often.
    """
    rng = random.Random(seed)
    people = [
        {"Record ID": str(500 + i), "Email": f"p{i}@example.com", "Lifecycle Stage": "lead"}
        for i in range(contacts)
    ]
    events = []
    for n, person in enumerate(people):
        for k in range(rng.randrange(0, 7)):
            if unique_times:
                hour, minute = rng.randrange(24), rng.randrange(60)
                stamp = f"2024-{1 + k:02d}-{1 + n % 28:02d}T{hour:02d}:{minute:02d}:00Z"
            else:
                stamp = rng.choice(
                    [
                        "",
                        "2023-05-01T10:00:00Z",
                        "2024-01-15T10:00:00Z",
                        "2024-01-15T10:00:00Z",
                        "2024-09-01 08:30",
                    ]
                )
            events.append(
                {
                    "Contact ID": person["Record ID"],
                    "Subscription type": rng.choice(TYPES),
                    "Status": rng.choice(STATUSES),
                    "Double opt-in": rng.choice(DOUBLE_OPT_INS),
                    "Timestamp": stamp,
                }
            )
    rng.shuffle(events)
    return people, events


def reference(events: list[dict], rules) -> dict[str, tuple[bool, bool]]:
    """Record ID -> (marketing consent, double opt-in from consent), event by event."""
    v = rules.values
    norm = lambda s: s.strip().lower()  # noqa: E731
    marketing = {norm(t) for t in v["marketing_subscription_types"]}
    subscribed = {norm(s) for s in v["subscribed_statuses"]}
    confirms = {norm(s) for s in (*v["double_opt_in_confirmed"], *v["true_values"])}
    by_type: dict[tuple[str, str], list[tuple]] = {}
    for row, e in enumerate(events):
        if norm(e["Subscription type"]) in marketing:
            stamp = e["Timestamp"].replace(" ", "T") + (":00Z" if " " in e["Timestamp"] else "")
            by_type.setdefault((e["Contact ID"], norm(e["Subscription type"])), []).append(
                (stamp != "", stamp, row, e)
            )
    out: dict[str, tuple[bool, bool]] = {}
    for (cid, _), found in by_type.items():
        found.sort(key=lambda x: x[:3])
        lapses = [i for i, (*_, e) in enumerate(found) if norm(e["Status"]) not in subscribed]
        current = found[lapses[-1] + 1 :] if lapses else found
        consent = norm(found[-1][-1]["Status"]) in subscribed
        doi = any(norm(e["Double opt-in"]) in confirms for *_, e in current)
        before = out.get(cid, (False, False))
        out[cid] = (before[0] or consent, before[1] or doi)
    return out


def write(folder: Path, people: list[dict], events: list[dict]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return write_csv(folder / "contacts.csv", CONTACT_HEADERS, people), write_csv(
        folder / "consent.csv", CONSENT_HEADERS, events
    )


@pytest.mark.parametrize("seed", range(5))
def test_consent_facts_match_the_reference(tmp_path: Path, rules_file: Path, seed: int) -> None:
    rules = load_rules(rules_file)
    people, events = exports(seed, 300, unique_times=False)
    contacts_path, consent_path = write(tmp_path, people, events)
    contacts = read_source(str(contacts_path), "contacts", rules.columns["contacts"])
    consent = read_source(str(consent_path), "consent", rules.columns["consent"])
    facts, _, _, _ = consent_facts(
        consent, read_contact_ids(contacts, email=True, deal_ids=False), rules
    )
    got = {
        str(r[KEY]): (r["consent_marketing"], r["consent_double_opt_in"])
        for r in facts.collect().iter_rows(named=True)
    }
    expected = reference(events, rules)
    assert got == expected
    # The data has what the rule is about: confirmations cancelled by a later lapse.
    everything = reference([{**e, "Status": "Subscribed"} for e in events], rules)
    assert sum(doi for _, doi in expected.values()) < sum(doi for _, doi in everything.values())


def test_sql_matches_classify_and_the_reference(tmp_path: Path, rules_file: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    rules = load_rules(rules_file)
    # Few timestamps, many ties: SQL, like classify, lets the later row of the file win.
    people, events = exports(7, 400, unique_times=False)
    contacts_path, consent_path = write(tmp_path, people, events)
    out = tmp_path / "out.csv"
    run = run_cli(
        "classify",
        contacts_path,
        "--consent",
        consent_path,
        "--rules",
        rules_file,
        "-o",
        out,
        "--stage-values",
        "label",
        "-q",
    )
    assert run.code in (0, 1), run.stderr
    classified = {r["Record ID"]: r["Lifecycle Rule"] for r in read_csv(out)}

    con = duckdb.connect()
    for name, path in (("contacts", contacts_path), ("consent", consent_path)):
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM "
            f"read_csv('{path}', all_varchar = true, header = true)"
        )
    query = build_query(
        rules,
        dialect="duckdb",
        deals=None,
        consent="consent",
        headers={"contacts": CONTACT_HEADERS, "consent": CONSENT_HEADERS},
    )
    cursor = con.execute(query)
    columns = [d[0] for d in cursor.description]
    at = columns.index("Record ID"), columns.index("Lifecycle Rule")
    sql = {row[at[0]]: row[at[1]] for row in cursor.fetchall()}

    facts = reference(events, rules)
    expected = {
        p["Record ID"]: "marketing_lead"
        if all(facts.get(p["Record ID"], (False, False)))
        else "lead"
        for p in people
    }
    assert classified == expected
    assert sql == expected
    assert 0 < sum(s == "marketing_lead" for s in expected.values()) < len(expected)

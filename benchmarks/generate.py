"""Generate HubSpot-style contacts, deals and consent exports of any size for benchmarks.

    python benchmarks/generate.py --contacts 1000000 --out DIR [--seed 42]

writes DIR/contacts.csv, DIR/deals.csv and DIR/consent.csv with the columns and value
mixes of real exports (see examples/README.md). The same seed and size give
byte-identical files. Everything is vectorised with numpy and polars: values are drawn
as indices into small vocabularies and gathered, never built in a Python loop per row.
numpy is a benchmark-only dependency.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

CONTACT_COLUMNS = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Lifecycle Stage",
    "Lead Status",
    "Contact owner",
    "Create Date",
    "Last Activity Date",
    "Last Contacted",
    "Marketing contact status",
    "Unsubscribed from all email",
    "Opted out of email: Marketing Information",
    "Marketing email confirmation status",
    "Legal basis for processing contact's data",
    "Contact type",
    "Associated Company IDs",
    "Associated Deal IDs",
    "Number of Associated Deals",
    "Became a Lead Date",
]
DEAL_COLUMNS = [
    "Record ID",
    "Deal Name",
    "Deal Stage",
    "Pipeline",
    "Amount",
    "Close Date",
    "Create Date",
    "Deal owner",
    "Is Closed Won",
    "Is closed lost",
    "Is Deal Closed?",
    "Associated Contact IDs",
    "Associated Company IDs",
]
CONSENT_COLUMNS = [
    "Contact ID",
    "Email",
    "Subscription type",
    "Status",
    "Legal basis",
    "Double opt-in",
    "Timestamp",
]

#: Contacts per chunk. Bounds memory; the output depends on it, so it is not an option.
CHUNK = 1_000_000
DEALS_PER_CONTACT = 0.4
CONTACT_ID_BASE = 51_000_000_000
DEAL_ID_BASE = 18_000_000_000
COMPANY_ID_BASE = 20_000_000_000
#: Contact ids below the contact range: deal links and consent events for unknown contacts.
ORPHAN_ID_BASE = 49_000_000_000
INTERNAL_DOMAIN = "lifecycle-demo.com"

# (display, ascii for the email) pairs; a few non-ASCII names, a quote and a comma.
FIRST_NAMES = [
    ("Anna", "anna"),
    ("Ben", "ben"),
    ("Clara", "clara"),
    ("David", "david"),
    ("Emma", "emma"),
    ("Felix", "felix"),
    ("Grace", "grace"),
    ("Hannah", "hannah"),
    ("Isaac", "isaac"),
    ("Julia", "julia"),
    ("Karl", "karl"),
    ("Lena", "lena"),
    ("Marco", "marco"),
    ("Nina", "nina"),
    ("Oliver", "oliver"),
    ("Paula", "paula"),
    ("Quinn", "quinn"),
    ("Rosa", "rosa"),
    ("Sam", "sam"),
    ("Tom", "tom"),
    ("Uma", "uma"),
    ("Victor", "victor"),
    ("Wen", "wen"),
    ("Yasmin", "yasmin"),
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Søren", "soren"),
    ("Jürgen", "juergen"),
    ("François", "francois"),
    ("Łukasz", "lukasz"),
    ("Chloé", "chloe"),
    ("Aiko", "aiko"),
    ('Robert "Bob"', "robert"),
    ("Priya", "priya"),
    ("Kofi", "kofi"),
    ("Mateo", "mateo"),
]
LAST_NAMES = [
    ("Schmidt", "schmidt"),
    ("Müller", "mueller"),
    ("Becker", "becker"),
    ("Carter", "carter"),
    ("Fischer", "fischer"),
    ("García", "garcia"),
    ("Hoang", "hoang"),
    ("Jensen", "jensen"),
    ("Kowalski", "kowalski"),
    ("Laurent", "laurent"),
    ("Miller", "miller"),
    ("Nowak", "nowak"),
    ("O'Brien", "obrien"),
    ("Petrova", "petrova"),
    ("Rossi", "rossi"),
    ("Sato", "sato"),
    ("Tanaka", "tanaka"),
    ("Walsh, Jr.", "walsh"),
    ("Weber", "weber"),
    ("Zhang", "zhang"),
    ("Nguyễn", "nguyen"),
    ("Dubois", "dubois"),
    ("Lindqvist", "lindqvist"),
    ("Okafor", "okafor"),
    ("Fernández", "fernandez"),
    ("Haddad", "haddad"),
    ("Kovács", "kovacs"),
    ("Brown", "brown"),
]
# value: weight. None is an empty cell.
DOMAINS = {
    "acme-industries.example": 10,
    "globex.example": 8,
    "initech.example": 8,
    "nordwind-logistik.example": 6,
    "brightpath.example": 6,
    "umbrella-health.example": 5,
    "soylent-foods.example": 5,
    "hooli.example": 5,
    "mueller-bau.example": 4,
    "example.com": 12,
    "example.org": 8,
    "mailbox.example": 10,
    "Example.com": 1,
    INTERNAL_DOMAIN: 1.5,
}
LIFECYCLE_STAGES = {
    "Lead": 14,
    "lead": 10,
    "LEAD": 0.5,
    "Subscriber": 4,
    "subscriber": 3,
    "Marketing Qualified Lead": 6,
    "marketingqualifiedlead": 4,
    "MQL": 1.5,
    "Sales Qualified Lead": 4,
    "salesqualifiedlead": 3,
    "SQL": 1,
    "Opportunity": 4,
    "opportunity": 3,
    "Customer": 6,
    "customer": 4,
    "CUSTOMER": 0.5,
    "Evangelist": 0.7,
    "evangelist": 0.3,
    "Other": 1,
    "other": 0.5,
    None: 8,
}
LEAD_STATUSES = {
    None: 45,
    "New": 8,
    "NEW": 5,
    "Open": 5,
    "OPEN": 3,
    "In progress": 4,
    "IN_PROGRESS": 3,
    "Open deal": 2,
    "OPEN_DEAL": 2,
    "Unqualified": 4,
    "UNQUALIFIED": 2,
    "Attempted to contact": 4,
    "ATTEMPTED_TO_CONTACT": 3,
    "Connected": 3,
    "CONNECTED": 2,
    "Bad timing": 2,
    "BAD_TIMING": 1,
}
OWNERS = {
    None: 20,
    "Sarah Lindqvist": 20,
    "Tobias Maier": 20,
    "Priya Natarajan": 15,
    "Owen Gallagher": 15,
    "Chloé Martin": 10,
}
MARKETING_CONTACT_STATUSES = {"Marketing contact": 60, "Non-marketing contact": 30, None: 10}
#: Mostly true/false, some empty, a few Yes/No and 1/0.
UNSUBSCRIBED = {"false": 80, "true": 5, None: 8, "No": 2, "Yes": 1, "0": 1.5, "1": 0.5}
OPTED_OUT = {"false": 78, "true": 7, None: 8, "No": 2, "Yes": 1, "0": 1.5, "1": 0.5}
CONFIRMED = [
    "Confirmed",
    "User clicked confirmation",
    "HubSpot Rep. marked confirmed",
    "Customer marked confirmed",
    "Confirmed from previous behavior",
    "Confirmed due to form",
]
NOT_CONFIRMED = ["Confirmation pending", "Confirmation email sent", "Awaiting Double Opt In"]
CONFIRMATION_STATUSES = {
    None: 40,
    "Confirmed": 15,
    "User clicked confirmation": 8,
    "HubSpot Rep. marked confirmed": 3,
    "Customer marked confirmed": 3,
    "Confirmed from previous behavior": 6,
    "Confirmed due to form": 5,
    "Confirmation pending": 8,
    "Confirmation email sent": 7,
    "Awaiting Double Opt In": 5,
}
LEGAL_BASES = {
    None: 35,
    "Freely given consent from contact": 25,
    "Legitimate interest – existing customer": 15,
    "Legitimate interest - existing customer": 5,
    "Legitimate interest – prospect/lead": 8,
    "Legitimate interest - other": 7,
    "Performance of a contract": 5,
}
CONTACT_TYPES = {
    None: 70,
    "Customer contact": 10,
    "Prospect": 12,
    "Employee": 1.5,
    "employee": 0.3,
    "Applicant": 0.5,
    "Partner": 1,
    "PARTNER": 0.2,
    "Competitor": 0.4,
    "Vendor": 0.8,
    "vendor": 0.3,
}
COMPANY_NAMES = [
    "Acme Industries",
    "Globex, Inc.",
    "Initech",
    "Nordwind Logistik",
    "Brightpath",
    "Umbrella Health",
    "Soylent Foods",
    "Hooli",
    "Müller Bau GmbH",
    "Vandelay Import",
    'The "Best" Bakery',
    "Miller & Sons",
    "Sato Works",
    "Holm AB",
    "Ruiz Distribución",
    "Kovács Consulting",
    "Mensah Trading",
    "Stark Components",
    "Wayne Logistics",
    "Tyrell Systems",
]
PRODUCTS = [
    "Platform licence",
    "Support renewal",
    "Data migration",
    "Team expansion",
    "Pilot",
    "Compliance audit",
    "Fleet add-on",
    "Annual plan",
    "Upgrade",
    "Starter plan",
    "Consulting",
    "Renewal 2025",
]
OPEN_STAGES = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
]
OPEN_STAGE_LABELS = [
    "Appointment Scheduled",
    "Qualified To Buy",
    "Presentation Scheduled",
    "Decision Maker Bought-In",
    "Contract Sent",
]
#: Deal Stage vocabulary, indexed by deal_stage_index().
DEAL_STAGES = (
    OPEN_STAGES
    + OPEN_STAGE_LABELS
    + [
        "closedwon",
        "Closed Won",
        "closedlost",
        "Closed Lost",
        # custom pipeline with numeric stage ids: 3 open, won, lost
        "1234568",
        "1234569",
        "1234570",
        "1234567",
        "7654321",
    ]
)
#: Boolean spellings: index 2 * spelling + value.
BOOLEANS = ["false", "true", "No", "Yes", "0", "1"]
SUBSCRIPTION_TYPES = {
    "Marketing Information": 88,
    "Customer Service Communication": 6,
    "One to One": 6,
}
CONSENT_STATUSES = {
    "Subscribed": 40,
    "Not subscribed": 8,
    "Opted out": 12,
    "SUBSCRIBED": 25,
    "NOT_SUBSCRIBED": 5,
    "UNSUBSCRIBED": 10,
}
DOUBLE_OPT_INS = {
    "true": 35,
    "false": 30,
    None: 5,
    **{c: 3 for c in CONFIRMED},
    **{c: 4 for c in NOT_CONFIRMED},
}

FIRST_DISPLAY = pl.Series([d for d, _ in FIRST_NAMES])
LAST_DISPLAY = pl.Series([d for d, _ in LAST_NAMES])
#: Email local-part prefixes: "anna." (first.last) then "a" (initial + last).
EMAIL_PREFIXES = pl.Series([a + "." for _, a in FIRST_NAMES] + [a[0] for _, a in FIRST_NAMES])
EMAIL_LASTS = pl.Series([a for _, a in LAST_NAMES])
DEAL_NAMES = pl.Series([f"{c} – {p}" for c in COMPANY_NAMES for p in PRODUCTS])


#: Resolution of the weights in pick(): values are drawn through a lookup table this long.
PICK_TABLE = 10_000


@cache
def _vocabulary(items: tuple[tuple[str | None, float], ...]) -> tuple[pl.Series, np.ndarray]:
    vocab = pl.Series([value for value, _ in items], dtype=pl.String)
    weights = np.array([weight for _, weight in items])
    bounds = np.round(np.cumsum(weights) / weights.sum() * PICK_TABLE).astype(np.int64)
    table = np.repeat(np.arange(len(items), dtype=np.uint32), np.diff(bounds, prepend=0))
    return vocab, table


def pick(rng: np.random.Generator, n: int, weights: dict[str | None, float]) -> pl.Series:
    """Draw n values from a weighted vocabulary (None = empty cell)."""
    vocab, table = _vocabulary(tuple(weights.items()))
    return vocab.gather(table[rng.integers(0, PICK_TABLE, n)])


def where(
    mask: np.ndarray, values: pl.Series | str, otherwise: pl.Series | None = None
) -> pl.Series:
    """values where mask is true, else otherwise (or empty)."""
    alt = pl.lit(None, dtype=pl.String) if otherwise is None else otherwise
    then = pl.lit(values) if isinstance(values, str) else values
    return pl.select(pl.when(pl.Series(mask)).then(then).otherwise(alt)).to_series()


def restyle(
    values: pl.Series, mask: np.ndarray, change: Callable[[pl.Series], pl.Series]
) -> pl.Series:
    """values with change() applied to the rows in mask only (cheap for a small share)."""
    rows = np.flatnonzero(mask)
    return values.clone().scatter(rows, change(values.gather(rows)))


def concat(*parts: pl.Series | str) -> pl.Series:
    """Row-wise concatenation of series and literal strings."""
    return pl.select(
        pl.concat_str([p if isinstance(p, pl.Series) else pl.lit(p) for p in parts])
    ).to_series()


def ids(base: int, index: np.ndarray, jitter: np.ndarray) -> pl.Series:
    """Increasing, non-contiguous HubSpot-like record ids as strings."""
    return pl.Series(base + index * 16 + jitter, dtype=pl.Int64).cast(pl.String)


@cache
def day_vocabulary(first: date, days: int) -> pl.Series:
    """Each day in the three export formats: ISO date twice (plain and ISO 8601), then US."""
    all_days = [first + timedelta(d) for d in range(days)]
    iso = [d.isoformat() for d in all_days]
    us = [f"{d.month}/{d.day}/{d.year}" for d in all_days]
    return pl.Series(iso + iso + us)


@cache
def minute_vocabulary() -> pl.Series:
    """Each minute of a day with its separator: ' 09:14', 'T09:14:00Z', ' 9:14 AM'."""
    plain = [f" {h:02d}:{m:02d}" for h in range(24) for m in range(60)]
    iso = [f"T{h:02d}:{m:02d}:00Z" for h in range(24) for m in range(60)]
    us = [
        f" {(h % 12) or 12}:{m:02d} {'AM' if h < 12 else 'PM'}"
        for h in range(24)
        for m in range(60)
    ]
    return pl.Series(plain + iso + us)


@cache
def second_vocabulary() -> pl.Series:
    """Each second of a day as the time part of an ISO 8601 UTC timestamp: 'T08:15:00Z'."""
    return pl.Series([f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(86_400)])


def dates(
    rng: np.random.Generator,
    n: int,
    first: date,
    last: date,
    present: float,
    formats: tuple[float, float, float] = (0.5, 0.3, 0.2),
) -> pl.Series:
    """Date-times as exports mix them: '2024-03-12 09:14', ISO 8601, '3/15/2024 2:30 PM'."""
    days = (last - first).days + 1
    fmt = rng.choice(3, size=n, p=formats)
    day = fmt * days + rng.integers(0, days, n)
    minute = fmt * 1440 + rng.integers(0, 1440, n)
    stamp = concat(day_vocabulary(first, days).gather(day), minute_vocabulary().gather(minute))
    return where(rng.random(n) < present, stamp)


def timestamps(rng: np.random.Generator, n: int, first: date, last: date) -> pl.Series:
    """ISO 8601 UTC timestamps with seconds, as consent events carry them."""
    days = (last - first).days + 1
    day = day_vocabulary(first, days).gather(rng.integers(0, days, n))
    return concat(day, second_vocabulary().gather(rng.integers(0, 86_400, n)))


def empty(size: int) -> pl.Series:
    return pl.repeat(None, size, dtype=pl.String, eager=True)


def join_per_key(keys: np.ndarray, values: pl.Series, size: int) -> tuple[pl.Series, np.ndarray]:
    """';'-joined values per key 0..size-1 (in input order; empty where none), and counts."""
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values.gather(order)
    row = np.arange(len(keys))
    run_start = np.maximum.accumulate(np.where(np.r_[True, keys[1:] != keys[:-1]], row, 0))
    position = row - run_start  # 0 for a key's first value, 1 for its second, ...
    columns = [
        empty(size).scatter(keys[at], values.filter(pl.Series(at)))
        for at in (position == p for p in range(int(position.max(initial=-1)) + 1))
    ]
    counts = np.bincount(keys, minlength=size)
    if not columns:
        return empty(size), counts
    joined = pl.select(pl.concat_str(columns, separator=";", ignore_nulls=True)).to_series()
    return where(counts > 0, joined), counts


def booleans(rng: np.random.Generator, value: np.ndarray) -> pl.Series:
    """true/false mostly, some Yes/No and 1/0."""
    spelling = rng.choice(3, size=len(value), p=[0.95, 0.03, 0.02])
    return pl.Series(BOOLEANS).gather(spelling * 2 + value.astype(np.int64))


def deal_stage_index(
    rng: np.random.Generator, outcome: np.ndarray, custom: np.ndarray
) -> np.ndarray:
    """Index into DEAL_STAGES for outcome 0 open / 1 won / 2 lost, default or custom pipeline."""
    n = len(outcome)
    label = rng.random(n) < 0.2
    open_default = rng.integers(0, 5, n) + np.where(label, 5, 0)
    won_default = np.where(label, 11, 10)
    lost_default = np.where(label, 13, 12)
    default = np.choose(outcome, [open_default, won_default, lost_default])
    custom_stage = np.choose(outcome, [14 + rng.integers(0, 3, n), np.full(n, 17), np.full(n, 18)])
    return np.where(custom, custom_stage, default)


def chunk(
    seed: int, number: int, start: int, stop: int, total: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Contacts start..stop-1 with their deals and consent events, as three DataFrames."""
    rng = np.random.default_rng([seed, number])
    n = stop - start
    index = np.arange(start, stop, dtype=np.int64)
    contact_ids = ids(CONTACT_ID_BASE, index, rng.integers(0, 16, n))
    companies = max(total // 5, 50)

    # Contacts
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    initial_style = (rng.random(n) < 0.2).astype(np.int64)
    email = concat(
        EMAIL_PREFIXES.gather(first + initial_style * len(FIRST_NAMES)),
        EMAIL_LASTS.gather(last),
        pl.Series(index).cast(pl.String),
        "@",
        pick(rng, n, DOMAINS),
    )
    email = restyle(email, rng.random(n) < 0.03, lambda e: e.str.to_titlecase())
    email = where(rng.random(n) < 0.98, email)  # some contacts have no email
    create = dates(rng, n, date(2019, 1, 1), date(2024, 12, 31), present=1.0)
    company = ids(COMPANY_ID_BASE, rng.integers(0, companies, n), 0)
    second_company = ids(COMPANY_ID_BASE, rng.integers(0, companies, n), 0)
    two = rng.random(n) < 0.03
    company = restyle(company, two, lambda c: concat(c, ";", second_company.filter(pl.Series(two))))
    contacts = {
        "Record ID": contact_ids,
        "First Name": FIRST_DISPLAY.gather(first),
        "Last Name": LAST_DISPLAY.gather(last),
        "Email": email,
        "Lifecycle Stage": pick(rng, n, LIFECYCLE_STAGES),
        "Lead Status": pick(rng, n, LEAD_STATUSES),
        "Contact owner": pick(rng, n, OWNERS),
        "Create Date": create,
        "Last Activity Date": dates(rng, n, date(2023, 1, 1), date(2025, 6, 30), present=0.65),
        "Last Contacted": dates(rng, n, date(2023, 1, 1), date(2025, 6, 30), present=0.25),
        "Marketing contact status": pick(rng, n, MARKETING_CONTACT_STATUSES),
        "Unsubscribed from all email": pick(rng, n, UNSUBSCRIBED),
        "Opted out of email: Marketing Information": pick(rng, n, OPTED_OUT),
        "Marketing email confirmation status": pick(rng, n, CONFIRMATION_STATUSES),
        "Legal basis for processing contact's data": pick(rng, n, LEGAL_BASES),
        "Contact type": pick(rng, n, CONTACT_TYPES),
        "Associated Company IDs": where(rng.random(n) < 0.7, company),
        "Became a Lead Date": where(rng.random(n) < 0.6, create),
    }

    # Deals: deal numbering follows the contacts, so chunks line up at any size.
    deal_start = round(start * DEALS_PER_CONTACT)
    nd = round(stop * DEALS_PER_CONTACT) - deal_start
    deal_index = np.arange(deal_start, deal_start + nd, dtype=np.int64)
    deal_ids = ids(DEAL_ID_BASE, deal_index, rng.integers(0, 16, nd))
    outcome = rng.choice(3, size=nd, p=[0.55, 0.25, 0.20])  # open, won, lost
    custom = rng.random(nd) < 0.12
    flags_blank = ~custom & (rng.random(nd) < 0.03)  # stage alone tells; booleans left empty
    won, lost = outcome == 1, outcome == 2
    amount = pl.Series(rng.integers(5, 2_000, nd) * 100).cast(pl.String)
    amount = where(rng.random(nd) < 0.15, concat(amount, ".50"), amount)
    deals = {
        "Record ID": deal_ids,
        "Deal Name": DEAL_NAMES.gather(rng.integers(0, len(DEAL_NAMES), nd)),
        "Deal Stage": pl.Series(DEAL_STAGES).gather(deal_stage_index(rng, outcome, custom)),
        "Pipeline": where(
            custom, "Partner pipeline", pick(rng, nd, {"Sales Pipeline": 80, "default": 20})
        ),
        "Amount": where(rng.random(nd) < 0.9, amount),
        "Close Date": dates(
            rng, nd, date(2021, 1, 1), date(2025, 12, 31), present=0.9, formats=(0.7, 0.2, 0.1)
        ),
        "Create Date": dates(rng, nd, date(2020, 6, 1), date(2025, 6, 30), present=1.0),
        "Deal owner": pick(rng, nd, {k: v for k, v in OWNERS.items() if k}),
        "Is Closed Won": where(~flags_blank, booleans(rng, won)),
        "Is closed lost": where(~flags_blank, booleans(rng, lost)),
        "Is Deal Closed?": where(~flags_blank, booleans(rng, won | lost)),
    }

    # Deal-contact links: ~15% of deals have 2-3 contacts; each link shows on both sides,
    # or only on the deal (Associated Contact IDs) or only on the contact (Associated Deal IDs).
    per_deal = rng.choice([1, 2, 3], size=nd, p=[0.85, 0.10, 0.05])
    link_deal = np.repeat(np.arange(nd), per_deal)
    links = len(link_deal)
    link_contact = rng.integers(0, n, links)
    orphan = rng.random(links) < 0.005
    side = rng.choice(3, size=links, p=[0.94, 0.03, 0.03])  # both, deal only, contact only
    side[orphan] = 1
    link_contact_id = where(
        orphan,
        ids(ORPHAN_ID_BASE, rng.integers(0, 10_000_000, links), 0),
        contact_ids.gather(link_contact),
    )
    # a contact drawn twice for the same deal is linked once
    unique = pl.Series(link_deal * n + link_contact).is_first_distinct().to_numpy() | orphan
    on_deal = unique & (side != 2)
    on_contact = unique & (side != 1) & ~orphan
    deals["Associated Contact IDs"], _ = join_per_key(
        link_deal[on_deal], link_contact_id.filter(pl.Series(on_deal)), nd
    )
    deals["Associated Company IDs"] = where(
        rng.random(nd) < 0.75, ids(COMPANY_ID_BASE, rng.integers(0, companies, nd), 0)
    )
    deal_list, deal_count = join_per_key(
        link_contact[on_contact], deal_ids.gather(link_deal[on_contact]), n
    )
    contacts["Associated Deal IDs"] = deal_list
    count = pl.Series(deal_count).cast(pl.String)
    contacts["Number of Associated Deals"] = where((deal_count > 0) | (rng.random(n) < 0.5), count)

    # Consent events: 0-3 per contact (1.5 on average), keyed by id, email or both.
    per_contact = rng.choice(4, size=n, p=[0.2, 0.3, 0.3, 0.2])
    event_contact = np.repeat(np.arange(n), per_contact)
    ne = len(event_contact)
    event_email = email.gather(event_contact)
    has_email = event_email.is_not_null().to_numpy()
    key = np.where(has_email, rng.choice(3, size=ne, p=[0.65, 0.25, 0.10]), 0)  # id, email, both
    style = rng.choice(3, size=ne, p=[0.7, 0.15, 0.15])  # as is, upper case, stray spaces
    styled = restyle(event_email, style == 1, lambda e: e.str.to_uppercase())
    styled = restyle(styled, style == 2, lambda e: concat(" ", e, " "))
    event_id = where(key != 1, contact_ids.gather(event_contact))
    event_email = where(key != 0, styled)
    orphan = rng.random(ne) < 0.003  # events of people not among the contacts
    orphan_by_email = orphan & (rng.random(ne) < 0.5)
    orphan_ids = ids(ORPHAN_ID_BASE, rng.integers(0, 10_000_000, ne), 0)
    event_id = where(orphan & ~orphan_by_email, orphan_ids, where(~orphan, event_id))
    gone = np.flatnonzero(orphan_by_email)
    event_email = where(~orphan, event_email).scatter(
        gone, concat("former.contact", pl.Series(start + gone).cast(pl.String), "@gone.example")
    )
    consent = pl.DataFrame(
        {
            "Contact ID": event_id,
            "Email": event_email,
            "Subscription type": pick(rng, ne, SUBSCRIPTION_TYPES),
            "Status": pick(rng, ne, CONSENT_STATUSES),
            "Legal basis": pick(rng, ne, LEGAL_BASES),
            "Double opt-in": pick(rng, ne, DOUBLE_OPT_INS),
            "Timestamp": timestamps(rng, ne, date(2019, 1, 1), date(2025, 6, 30)),
        }
    )[rng.permutation(ne)]  # a consent log is not sorted by contact or time

    return (
        pl.DataFrame({c: contacts[c] for c in CONTACT_COLUMNS}),
        pl.DataFrame({c: deals[c] for c in DEAL_COLUMNS}),
        consent,
    )


def generate(contacts: int, out: Path, seed: int = 42) -> dict[str, int]:
    """Write the three exports to out; return the row count per file."""
    out.mkdir(parents=True, exist_ok=True)
    names = ("contacts.csv", "deals.csv", "consent.csv")
    rows = dict.fromkeys(names, 0)
    with ExitStack() as stack:
        files = [stack.enter_context(open(out / name, "wb")) for name in names]
        # One writer thread: chunk k is written while chunk k+1 is generated, in order.
        writer = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        pending = None

        def write(frames: tuple[pl.DataFrame, ...], header: bool) -> None:
            for name, fh, frame in zip(names, files, frames, strict=True):
                frame.write_csv(fh, include_header=header)
                rows[name] += frame.height

        for number, start in enumerate(range(0, contacts, CHUNK)):
            frames = chunk(seed, number, start, min(start + CHUNK, contacts), contacts)
            if pending is not None:
                pending.result()
            pending = writer.submit(write, frames, number == 0)
        if pending is not None:
            pending.result()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, required=True, help="number of contacts")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args(argv)
    if args.contacts < 1:
        parser.error("--contacts must be at least 1")
    began = time.perf_counter()
    rows = generate(args.contacts, args.out, args.seed)
    elapsed = time.perf_counter() - began
    for name, count in rows.items():
        size = (args.out / name).stat().st_size
        print(f"{args.out / name}: {count:,} rows, {size / 1e6:,.1f} MB")
    print(f"generated in {elapsed:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

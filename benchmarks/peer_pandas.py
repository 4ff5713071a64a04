"""Peer implementation for the benchmark: the default rules.yaml classification, hand-written in
pandas.

    python benchmarks/peer_pandas.py CONTACTS DEALS CONSENT OUT

Does the job `lifecycle classify` does: writes OUT as the whole contacts file (every
column, in order, values untouched) with `Lifecycle Stage` updated and, right after it,
`Previous Lifecycle Stage` (the stage as the file had it), `Lifecycle Rule` (the id of
the rule or policy that decided) and `Other Type` (contacts decided by rule `other`).
A changed stage is written as the HubSpot internal value or the label, whichever the
first 1,000 stages of the file mostly use (lifecycle's `--stage-values auto`); an
unchanged stage keeps the file's spelling. Written as a competent pandas user would:
every column read as text, vectorised string operations, merges and group-bys; no
per-row Python code. The value lists are the defaults of rules.yaml, hard-coded. Only
HubSpot's default headers are read (no header aliases, no dialect sniffing, no input
checks).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from peer_vocabulary import (  # noqa: E402  (the default rules, shared by both peers)
    DOUBLE_OPT_IN_CONFIRMED,
    FORM_SAMPLE,
    INTERNAL_DOMAINS,
    LABEL,
    LABEL_ONLY,
    LOST_DEAL_STAGES,
    MARKETING_SUBSCRIPTION_TYPES,
    OTHER_KINDS,
    SALES_LEAD_STATUSES,
    STAGES,
    SUBSCRIBED_STATUSES,
    TRUE_VALUES,
    VALUE,
    VALUE_ONLY,
    WON_DEAL_STAGES,
)

STICKY = ["customer", "evangelist", "other"]
STAGE_LOOKUP: dict[str, str] = {}
for _id, _spellings in STAGES.items():
    for _s in _spellings:
        STAGE_LOOKUP.setdefault(_s.strip().lower(), _id)

READ = dict(dtype=str, keep_default_na=False)


def norm(values: list[str]) -> list[str]:
    return [v.strip().lower() for v in values]


def low(s: pd.Series) -> pd.Series:
    return s.str.strip().str.lower()


def is_in(s: pd.Series, values: list[str]) -> pd.Series:
    """`x IN @list`: membership ignoring case and surrounding spaces (empty never matches)."""
    return low(s).isin(norm(values))


def split_ids(s: pd.Series) -> pd.Series:
    """`;`-joined id lists (commas tolerated), one trimmed, non-empty id per row; index kept."""
    parts = s.str.replace(",", ";", regex=False).str.split(";").explode().str.strip()
    return parts[parts.notna() & (parts != "")]


def deal_facts(deals_path: str, contacts: pd.DataFrame) -> pd.DataFrame:
    """won_deals and open_deals per contact key."""
    d = pd.read_csv(
        deals_path,
        usecols=[
            "Record ID",
            "Deal Stage",
            "Is Closed Won",
            "Is closed lost",
            "Is Deal Closed?",
            "Associated Contact IDs",
        ],
        **READ,
    )
    stage = low(d["Deal Stage"])
    won = stage.isin(norm(WON_DEAL_STAGES)) | is_in(d["Is Closed Won"], TRUE_VALUES)
    lost = ~won & (
        stage.isin(norm(LOST_DEAL_STAGES))
        | is_in(d["Is closed lost"], TRUE_VALUES)
        | is_in(d["Is Deal Closed?"], TRUE_VALUES)
    )
    flags = pd.DataFrame(
        {"won": won.to_numpy(), "open": (~won & ~lost).to_numpy()}
    )  # index = deal row

    # Links from the deal side: Associated Contact IDs that are known contacts.
    by_deal = split_ids(d["Associated Contact IDs"])
    by_deal = pd.DataFrame({"row": by_deal.index.to_numpy(), "key": by_deal.to_numpy()})
    by_deal = by_deal[by_deal["key"].isin(contacts["key"])]
    # Links from the contact side: the contact's Associated Deal IDs that exist in the deals file.
    by_contact = split_ids(contacts["Associated Deal IDs"])
    by_contact = pd.DataFrame(
        {
            "key": contacts["key"].to_numpy()[by_contact.index.to_numpy()],
            "deal_id": by_contact.to_numpy(),
        }
    )
    deal_ids = d["Record ID"].str.strip()
    deal_rows = pd.DataFrame({"deal_id": deal_ids.to_numpy(), "row": np.arange(len(d))})[
        deal_ids.to_numpy() != ""
    ]
    by_contact = by_contact[by_contact["key"] != ""].merge(deal_rows, on="deal_id")[["row", "key"]]

    links = pd.concat([by_deal, by_contact], ignore_index=True).drop_duplicates()
    links = links.join(flags, on="row")
    return (
        links.groupby("key", sort=False)[["won", "open"]]
        .sum()
        .rename(columns={"won": "won_deals", "open": "open_deals"})
    )


def consent_facts(consent_path: str, contacts: pd.DataFrame) -> pd.DataFrame:
    """consent_marketing and consent_doi per contact key."""
    e = pd.read_csv(
        consent_path,
        usecols=[
            "Contact ID",
            "Email",
            "Subscription type",
            "Status",
            "Double opt-in",
            "Timestamp",
        ],
        **READ,
    )
    e["row"] = np.arange(len(e))
    e["type"] = low(e["Subscription type"])
    e = e[e["type"].isin(norm(MARKETING_SUBSCRIPTION_TYPES))]  # only marketing events make facts
    events = pd.DataFrame(
        {
            "row": e["row"],
            "cid": e["Contact ID"].str.strip(),
            "email": low(e["Email"]),
            "type": e["type"],
            "subscribed": is_in(e["Status"], SUBSCRIBED_STATUSES),
            "doi": is_in(e["Double opt-in"], DOUBLE_OPT_IN_CONFIRMED + TRUE_VALUES),
            "ts": pd.to_datetime(
                e["Timestamp"].str.strip(), format="ISO8601", utc=True, errors="coerce"
            ),
        }
    )
    del e
    # A known Contact ID decides; otherwise the event belongs to every contact with that email.
    known = events["cid"].isin(contacts["key"])
    by_id = events[known].rename(columns={"cid": "key"}).drop(columns="email")
    emails = contacts.loc[contacts["email"] != "", ["key", "email"]]
    by_email = (
        events[~known & (events["email"] != "")]
        .drop(columns="cid")
        .merge(emails, on="email")
        .drop(columns="email")
    )
    matched = pd.concat([by_id, by_email], ignore_index=True).drop_duplicates(["row", "key"])

    # Events in order (ties: the later row); no timestamp sorts first.
    ordered = matched.sort_values(["ts", "row"], na_position="first")
    # Latest event per contact and subscription type.
    latest = ordered.drop_duplicates(["key", "type"], keep="last")
    consent = latest.groupby("key", sort=False)["subscribed"].any().rename("consent_marketing")
    # Double opt-in belongs to the current consent: a confirmation counts only after the
    # type's last lapse (any status not subscribed).
    position = np.arange(len(ordered))
    marks = pd.DataFrame(
        {
            "key": ordered["key"].to_numpy(),
            "type": ordered["type"].to_numpy(),
            "lapse": np.where(ordered["subscribed"].to_numpy(), -1, position),
            "confirmed": np.where(ordered["doi"].to_numpy(), position, -1),
        }
    )
    by_type = marks.groupby(["key", "type"], sort=False)[["lapse", "confirmed"]].max()
    doi = (
        (by_type["confirmed"] > by_type["lapse"])
        .groupby(level="key", sort=False)
        .any()
        .rename("consent_doi")
    )
    return pd.concat([consent, doi], axis=1)


def stage_form(stage: pd.Series) -> dict[str, str]:
    """Values when most of the first stages are HubSpot internal values, else labels."""
    head = low(stage.head(FORM_SAMPLE))
    return VALUE if head.isin(norm(VALUE_ONLY)).sum() > head.isin(norm(LABEL_ONLY)).sum() else LABEL


def main(contacts_path: str, deals_path: str, consent_path: str, out: str) -> None:
    c = pd.read_csv(contacts_path, **READ)  # the whole file: it is written back out
    ids = pd.DataFrame(
        {
            "key": c["Record ID"].str.strip(),
            "email": low(c["Email"]),
            "Associated Deal IDs": c["Associated Deal IDs"],
        }
    )

    facts = (
        ids[["key"]]
        .join(deal_facts(deals_path, ids), on="key")
        .join(consent_facts(consent_path, ids), on="key")
    )
    won = facts["won_deals"].fillna(0).to_numpy() > 0
    open_ = facts["open_deals"].fillna(0).to_numpy() > 0
    consent = facts["consent_marketing"].fillna(False).astype(bool).to_numpy()
    doi = (
        is_in(c["Marketing email confirmation status"], DOUBLE_OPT_IN_CONFIRMED).to_numpy()
        | facts["consent_doi"].fillna(False).astype(bool).to_numpy()
    )

    has_at = ids["email"].str.contains("@", regex=False)
    domain = ids["email"].str.rsplit("@", n=1).str[-1].where(has_at, "")
    other_kind = is_in(c["Contact type"], OTHER_KINDS).to_numpy()
    other = other_kind | is_in(domain, INTERNAL_DOMAINS).to_numpy()
    sales = (
        is_in(c["Lead Status"], SALES_LEAD_STATUSES) | (c["Last Contacted"].str.strip() != "")
    ).to_numpy()
    unsubscribed = is_in(c["Unsubscribed from all email"], TRUE_VALUES).to_numpy()
    marketing = doi & consent & ~unsubscribed
    del ids, facts

    # The first rule that matches decides (rule ids are the stage ids).
    derived = np.select(
        [other, won, open_, sales, marketing],
        ["other", "customer", "opportunity", "sales_lead", "marketing_lead"],
        default="lead",
    )
    previous = c["Lifecycle Stage"]
    current = low(previous).map(STAGE_LOOKUP).to_numpy(dtype=object)
    current_known = pd.notna(current)
    keep = (derived != "other") & (derived != current) & current_known & np.isin(current, STICKY)
    stage = np.where(keep, current, derived)
    rule = np.where(keep, "sticky", derived)

    # Changed stages in the file's form; unchanged ones keep the file's spelling.
    changed = stage != current  # an unknown current stage (NaN) always differs
    written = pd.Series(stage, index=c.index).map(stage_form(previous))
    other_type = np.where(
        rule == "other", np.where(other_kind, c["Contact type"].str.strip(), "Employee"), ""
    )

    at = c.columns.get_loc("Lifecycle Stage") + 1
    c.insert(at, "Previous Lifecycle Stage", previous)
    c.insert(at + 1, "Lifecycle Rule", rule)
    c.insert(at + 2, "Other Type", other_type)
    c["Lifecycle Stage"] = previous.where(~changed, written)
    c.to_csv(out, index=False)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(f"usage: {sys.argv[0]} CONTACTS DEALS CONSENT OUT")
    main(*sys.argv[1:])

"""Peer for the benchmark: the default rules as a hand-written Polars lazy pipeline.

    python benchmarks/peer_polars_plain.py CONTACTS DEALS CONSENT OUT

The Polars twin of peer_duckdb_plain.py (read its docstring): written for the exports
generate.py makes, whose vocabulary is known, without lifecycle's normalisation layers
(header aliases, every boolean spelling, input checks, unknown columns, reports). Scan
the three files as text (`infer_schema=False`), group the deals and the consent events
per contact, join both onto the contacts, one `when/then` chain, `sink_csv` the whole
contacts table with the new stage, `Previous Lifecycle Stage`, `Lifecycle Rule` and
`Other Type`, rows in file order. It gives every contact of the generated data the stage
and rule lifecycle gives it; the same differences as the DuckDB one where the generated
data never goes (an event whose id is not a contact is not matched by email; events of
one contact at the same second are not ordered by file row; ISO 8601 timestamps only).
"""

from __future__ import annotations

import sys

import polars as pl

TRUE = ["true", "yes", "1"]  # the spellings the generated booleans use (lower-cased)
CONFIRMED = [
    "Confirmed",
    "User clicked confirmation",
    "HubSpot Rep. marked confirmed",
    "Customer marked confirmed",
    "Confirmed from previous behavior",
    "Confirmed due to form",
]
SALES_STATUSES = [
    "attempted to contact",
    "attempted_to_contact",
    "connected",
    "in progress",
    "in_progress",
    "open deal",
    "open_deal",
]
OTHER_KINDS = ["employee", "applicant", "partner", "competitor", "vendor"]
#: The file's spellings (lower-cased) to the HubSpot default label it mostly uses.
CURRENT = {
    "lead": "Lead",
    "subscriber": "Subscriber",
    "marketing qualified lead": "Marketing Qualified Lead",
    "marketingqualifiedlead": "Marketing Qualified Lead",
    "mql": "Marketing Qualified Lead",
    "sales qualified lead": "Sales Qualified Lead",
    "salesqualifiedlead": "Sales Qualified Lead",
    "sql": "Sales Qualified Lead",
    "opportunity": "Opportunity",
    "customer": "Customer",
    "evangelist": "Evangelist",
    "other": "Other",
}
#: Rule id -> the stage it writes.
WRITTEN = {
    "other": "Other",
    "customer": "Customer",
    "opportunity": "Opportunity",
    "sales_lead": "Sales Qualified Lead",
    "marketing_lead": "Marketing Qualified Lead",
    "lead": "Lead",
}


def main(contacts_path: str, deals_path: str, consent_path: str, out: str) -> None:
    contacts = pl.scan_csv(contacts_path, infer_schema=False)
    deals = pl.scan_csv(deals_path, infer_schema=False).select(
        pl.col("Record ID").alias("deal_id"),
        pl.col("Associated Contact IDs").alias("contact_ids"),
        won := (
            pl.col("Deal Stage").str.to_lowercase().is_in(["closedwon", "closed won"])
            | pl.col("Is Closed Won").str.to_lowercase().is_in(TRUE)
        )
        .fill_null(False)
        .alias("won"),
        (
            ~won
            & ~(
                pl.col("Deal Stage").str.to_lowercase().is_in(["closedlost", "closed lost"])
                | pl.col("Is closed lost").str.to_lowercase().is_in(TRUE)
                | pl.col("Is Deal Closed?").str.to_lowercase().is_in(TRUE)
            ).fill_null(False)
        ).alias("open"),
    )
    # (contact, deal) pairs from both sides, each once.
    links = pl.concat(
        [
            deals.select(
                pl.col("contact_ids").str.split(";").alias("contact_id"), "deal_id"
            ).explode("contact_id"),
            contacts.select(
                pl.col("Record ID").alias("contact_id"),
                pl.col("Associated Deal IDs").str.split(";").alias("deal_id"),
            ).explode("deal_id"),
        ]
    ).unique()
    deal_facts = (
        links.join(deals.select("deal_id", "won", "open"), on="deal_id")
        .group_by("contact_id")
        .agg(pl.col("won").any(), pl.col("open").any())
    )

    # Marketing consent events, by Contact ID or else by email.
    emails = contacts.select(
        pl.col("Email").str.to_lowercase().alias("email"), pl.col("Record ID").alias("by_email")
    )
    events = (
        pl.scan_csv(consent_path, infer_schema=False)
        .filter(pl.col("Subscription type") == "Marketing Information")
        .with_columns(
            pl.when(pl.col("Contact ID").is_null())
            .then(pl.col("Email").str.strip_chars().str.to_lowercase())
            .alias("email")
        )
        .join(emails.drop_nulls(), on="email", how="left")
        .select(
            pl.coalesce("Contact ID", "by_email").alias("contact_id"),
            pl.col("Status").is_in(["Subscribed", "SUBSCRIBED"]).alias("subscribed"),
            pl.col("Double opt-in").is_in(["true", *CONFIRMED]).fill_null(False).alias("doi"),
            pl.col("Timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%SZ").alias("ts"),
        )
    )
    # Latest event decides consent; double opt-in counts when confirmed after the last lapse.
    consent = events.group_by("contact_id").agg(
        pl.col("subscribed").max_by("ts").alias("subscribed"),
        (pl.col("ts").filter("doi").max() > pl.col("ts").filter(~pl.col("subscribed")).max())
        .fill_null(pl.col("doi").any())
        .alias("consent_doi"),
    )

    current = pl.col("Lifecycle Stage").str.to_lowercase().replace_strict(CURRENT, default=None)
    other_kind = pl.col("Contact type").str.to_lowercase().is_in(OTHER_KINDS).fill_null(False)
    rule = (
        pl.when(
            other_kind | pl.col("Email").str.to_lowercase().str.ends_with("@lifecycle-demo.com")
        )
        .then(pl.lit("other"))
        .when(
            current.is_in(["Evangelist", "Other"])
            | ((current == "Customer") & ~pl.col("won").fill_null(False))
        )
        .then(pl.lit("sticky"))
        .when(pl.col("won"))
        .then(pl.lit("customer"))
        .when(pl.col("open"))
        .then(pl.lit("opportunity"))
        .when(
            pl.col("Lead Status").str.to_lowercase().is_in(SALES_STATUSES)
            | pl.col("Last Contacted").is_not_null()
        )
        .then(pl.lit("sales_lead"))
        .when(
            (pl.col("Marketing email confirmation status").is_in(CONFIRMED) | pl.col("consent_doi"))
            & pl.col("subscribed")
            & ~pl.col("Unsubscribed from all email").str.to_lowercase().is_in(TRUE).fill_null(False)
        )
        .then(pl.lit("marketing_lead"))
        .otherwise(pl.lit("lead"))
    )
    new = pl.col("Lifecycle Rule").replace_strict(WRITTEN, default=None)
    header = contacts.collect_schema().names()
    at = header.index("Lifecycle Stage") + 1
    (
        contacts.join(
            deal_facts,
            left_on="Record ID",
            right_on="contact_id",
            how="left",
            maintain_order="left",
        )
        .join(
            consent, left_on="Record ID", right_on="contact_id", how="left", maintain_order="left"
        )
        .with_columns(
            current.alias("current"), rule.alias("Lifecycle Rule"), other_kind.alias("other_kind")
        )
        .with_columns(
            pl.when(
                (pl.col("Lifecycle Rule") == "sticky") | (new == pl.col("current")).fill_null(False)
            )
            .then(pl.col("Lifecycle Stage"))
            .otherwise(new)
            .alias("Lifecycle Stage"),
            pl.col("Lifecycle Stage").alias("Previous Lifecycle Stage"),
            pl.when(pl.col("Lifecycle Rule") == "other")
            .then(pl.when("other_kind").then(pl.col("Contact type")).otherwise(pl.lit("Employee")))
            .alias("Other Type"),
        )
        .select(
            *header[:at], "Previous Lifecycle Stage", "Lifecycle Rule", "Other Type", *header[at:]
        )
        .sink_csv(out)
    )


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(f"usage: {sys.argv[0]} CONTACTS DEALS CONSENT OUT")
    main(*sys.argv[1:])

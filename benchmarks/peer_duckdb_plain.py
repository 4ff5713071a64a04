"""Peer for the benchmark: the DuckDB query a user would write by hand for the default rules.

    python benchmarks/peer_duckdb_plain.py CONTACTS DEALS CONSENT OUT

peer_duckdb.py implements every normalisation lifecycle does (any case and stray spaces
in every value, every true/false spelling, ids joined as read, events without a known id
matched by email, ties broken by file row, the stage form worked out from the file). This
one does not: it is written for the exports generate.py makes, whose vocabulary is known,
as a competent user who has looked at their files would write it. lower() and trim() only
where the data needs them (titlecased emails, stray spaces around consent emails, Lead
Status and Contact type in two cases, Yes/No and 1/0 beside true/false). It still gives
every contact of the generated data the stage and rule lifecycle gives it:

- the three files read with all_varchar (empty cells are NULL);
- deals per contact: the deal's `Associated Contact IDs` and the contact's `Associated
  Deal IDs`, unnested and UNIONed, joined to the deal's won/lost flags, one GROUP BY;
- consent per contact: the marketing events (`Marketing Information`), by `Contact ID`, or
  by email when the event has no id; latest event decides consent (arg_max by timestamp);
  double opt-in counts when the last confirmation came after the last lapse (DOMAIN.md:
  a confirmation on a consent that lapsed later does not count);
- one CASE (rules in order, the sticky policy folded in) and a COPY of the whole contacts
  table with the new stage, `Previous Lifecycle Stage`, `Lifecycle Rule`, `Other Type`.

A changed stage is written the way the generated file mostly spells it (HubSpot's default
labels: `Marketing Qualified Lead`, ...), as lifecycle does; an unchanged one as the file
has it. The output columns are listed by hand (the generated export's header). Rows come
out in the file's order, as lifecycle writes them: the joins shuffle them, so the query
numbers the rows and ends with ORDER BY, which costs time and memory; `--any-order` leaves
that out (the query exactly as a user might write it when row order does not matter).

Differences from lifecycle that the generated data never exercises: an event with an id
that is not a contact is not matched by its email; events of one contact at the same
second are not ordered by file row; timestamps other than ISO 8601 are not read.
"""

from __future__ import annotations

import os
import sys

import duckdb

TRUE = "('true', 'yes', '1')"  # the spellings the generated booleans use (lower-cased)


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def query(contacts: str, deals: str, consent: str, out: str, ordered: bool = True) -> str:
    sql = f"""
COPY (
WITH
contacts AS (
    SELECT row_number() OVER () AS file_row, *
    FROM read_csv({lit(contacts)}, header = true, all_varchar = true)
),
deals AS (
    SELECT "Record ID" AS deal_id,
           "Associated Contact IDs" AS contact_ids,
           coalesce(lower("Deal Stage") IN ('closedwon', 'closed won')
                    OR lower("Is Closed Won") IN {TRUE}, false) AS won,
           coalesce(lower("Deal Stage") IN ('closedlost', 'closed lost')
                    OR lower("Is closed lost") IN {TRUE}
                    OR lower("Is Deal Closed?") IN {TRUE}, false) AS lost
    FROM read_csv({lit(deals)}, header = true, all_varchar = true)
),
links AS (  -- (contact, deal) pairs from both sides, each once
    SELECT unnest(string_split(contact_ids, ';')) AS contact_id, deal_id FROM deals
    UNION
    SELECT "Record ID", unnest(string_split("Associated Deal IDs", ';')) FROM contacts
),
deal_facts AS (
    SELECT contact_id, bool_or(won) AS won, bool_or(NOT won AND NOT lost) AS open
    FROM links JOIN deals USING (deal_id)
    GROUP BY contact_id
),
events AS (  -- marketing consent events, by Contact ID or else by email
    SELECT coalesce(e."Contact ID", c."Record ID") AS contact_id,
           e."Status" IN ('Subscribed', 'SUBSCRIBED') AS subscribed,
           coalesce(e."Double opt-in" IN ('true', 'Confirmed', 'User clicked confirmation',
                    'HubSpot Rep. marked confirmed', 'Customer marked confirmed',
                    'Confirmed from previous behavior', 'Confirmed due to form'), false) AS doi,
           e."Timestamp"::TIMESTAMP AS ts
    FROM read_csv({lit(consent)}, header = true, all_varchar = true) e
    LEFT JOIN (SELECT "Record ID", lower("Email") AS email
               FROM contacts WHERE "Email" IS NOT NULL) c
        ON e."Contact ID" IS NULL AND lower(trim(e."Email")) = c.email
    WHERE e."Subscription type" = 'Marketing Information'
),
consent AS (
    SELECT contact_id,
           arg_max(subscribed, ts) AS subscribed,
           coalesce(max(ts) FILTER (WHERE doi) > max(ts) FILTER (WHERE NOT subscribed),
                    bool_or(doi)) AS doi
    FROM events
    GROUP BY contact_id
),
decided AS (
    SELECT c.*,
        CASE lower(c."Lifecycle Stage")
            WHEN 'lead' THEN 'Lead' WHEN 'subscriber' THEN 'Subscriber'
            WHEN 'marketing qualified lead' THEN 'Marketing Qualified Lead'
            WHEN 'marketingqualifiedlead' THEN 'Marketing Qualified Lead'
            WHEN 'mql' THEN 'Marketing Qualified Lead'
            WHEN 'sales qualified lead' THEN 'Sales Qualified Lead'
            WHEN 'salesqualifiedlead' THEN 'Sales Qualified Lead'
            WHEN 'sql' THEN 'Sales Qualified Lead'
            WHEN 'opportunity' THEN 'Opportunity' WHEN 'customer' THEN 'Customer'
            WHEN 'evangelist' THEN 'Evangelist' WHEN 'other' THEN 'Other'
        END AS current_stage,
        lower(c."Contact type") IN ('employee', 'applicant', 'partner', 'competitor', 'vendor')
            AS other_kind,
        CASE
            WHEN other_kind OR lower(c."Email") LIKE '%@lifecycle-demo.com' THEN 'other'
            WHEN current_stage IN ('Evangelist', 'Other')
                 OR (current_stage = 'Customer' AND d.won IS NOT TRUE) THEN 'sticky'
            WHEN d.won THEN 'customer'
            WHEN d.open THEN 'opportunity'
            WHEN lower(c."Lead Status") IN ('attempted to contact', 'attempted_to_contact',
                                            'connected', 'in progress', 'in_progress',
                                            'open deal', 'open_deal')
                 OR c."Last Contacted" IS NOT NULL THEN 'sales_lead'
            WHEN (c."Marketing email confirmation status" IN ('Confirmed',
                      'User clicked confirmation', 'HubSpot Rep. marked confirmed',
                      'Customer marked confirmed', 'Confirmed from previous behavior',
                      'Confirmed due to form') OR f.doi)
                 AND f.subscribed
                 AND lower(coalesce(c."Unsubscribed from all email", '')) NOT IN {TRUE}
                 THEN 'marketing_lead'
            ELSE 'lead'
        END AS rule,
        CASE rule
            WHEN 'other' THEN 'Other' WHEN 'customer' THEN 'Customer'
            WHEN 'opportunity' THEN 'Opportunity'
            WHEN 'sales_lead' THEN 'Sales Qualified Lead'
            WHEN 'marketing_lead' THEN 'Marketing Qualified Lead'
            WHEN 'lead' THEN 'Lead'
        END AS new_stage
    FROM contacts c
    LEFT JOIN deal_facts d ON d.contact_id = c."Record ID"
    LEFT JOIN consent f ON f.contact_id = c."Record ID"
)
SELECT "Record ID", "First Name", "Last Name", "Email",
       CASE WHEN rule = 'sticky' OR new_stage = current_stage THEN "Lifecycle Stage"
            ELSE new_stage END AS "Lifecycle Stage",
       "Lifecycle Stage" AS "Previous Lifecycle Stage",
       rule AS "Lifecycle Rule",
       CASE WHEN rule = 'other' THEN CASE WHEN other_kind THEN "Contact type" ELSE 'Employee' END
            END AS "Other Type",
       "Lead Status", "Contact owner", "Create Date", "Last Activity Date", "Last Contacted",
       "Marketing contact status", "Unsubscribed from all email",
       "Opted out of email: Marketing Information",
       "Marketing email confirmation status", "Legal basis for processing contact's data",
       "Contact type",
       "Associated Company IDs", "Associated Deal IDs", "Number of Associated Deals",
       "Became a Lead Date"
FROM decided
ORDER BY file_row  -- the joins shuffle the rows: back to the file's order, as lifecycle writes them
) TO {lit(out)} (HEADER, DELIMITER ',')
"""
    if not ordered:  # rows in whatever order the joins leave them
        sql = sql.replace("row_number() OVER () AS file_row, ", "").replace(
            "ORDER BY file_row", "--"
        )
    return sql


def main(contacts: str, deals: str, consent: str, out: str, ordered: bool = True) -> None:
    con = duckdb.connect()
    limit = os.environ.get(
        "DUCKDB_MEMORY_LIMIT"
    )  # as peer_duckdb.py: bench_classify --duckdb-memory-limit
    if limit:
        con.execute(f"SET memory_limit = {lit(limit)}")
    con.execute(query(contacts, deals, consent, out, ordered))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--any-order"]
    if len(args) != 4:
        sys.exit(f"usage: {sys.argv[0]} CONTACTS DEALS CONSENT OUT [--any-order]")
    main(*args, ordered="--any-order" not in sys.argv[1:])

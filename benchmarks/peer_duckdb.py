"""Peer implementation for the benchmark: the default rules.yaml classification as one DuckDB query.

    python benchmarks/peer_duckdb.py CONTACTS DEALS CONSENT OUT

Does the job `lifecycle classify` does, like peer_pandas.py: writes OUT as the whole
contacts file (every column, in order, values untouched, rows in file order) with
`Lifecycle Stage` updated and, right after it, `Previous Lifecycle Stage`, `Lifecycle
Rule` (the id of the rule or policy that decided) and `Other Type`. A changed stage is
written as the HubSpot internal value or the label, whichever the first 1,000 stages of
the file mostly use; an unchanged stage keeps the file's spelling. Every file is read
with all_varchar=true; the value lists are the defaults of rules.yaml, hard-coded. One
`COPY (query) TO` statement; only the contacts' header line is read beforehand (with
Python's csv module) to list the output columns in order. Timestamps are cast to
TIMESTAMPTZ (without the ICU extension DuckDB reads zone-less times as UTC, as lifecycle
does).
"""

from __future__ import annotations

import csv
import os
import sys

import duckdb
import peer_vocabulary as vocab


def sql_list(values: list[str]) -> str:
    """A SQL IN list of the values trimmed and lower-cased (compare with lower(trim(x)))."""
    return "(" + ", ".join("'" + v.strip().lower().replace("'", "''") + "'" for v in values) + ")"


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


OTHER_KINDS = sql_list(vocab.OTHER_KINDS)
INTERNAL_DOMAINS = sql_list(vocab.INTERNAL_DOMAINS)
WON_DEAL_STAGES = sql_list(vocab.WON_DEAL_STAGES)
LOST_DEAL_STAGES = sql_list(vocab.LOST_DEAL_STAGES)
SALES_LEAD_STATUSES = sql_list(vocab.SALES_LEAD_STATUSES)
CONFIRMED = vocab.DOUBLE_OPT_IN_CONFIRMED
DOUBLE_OPT_IN_CONFIRMED = sql_list(CONFIRMED)
MARKETING_SUBSCRIPTION_TYPES = sql_list(vocab.MARKETING_SUBSCRIPTION_TYPES)
SUBSCRIBED_STATUSES = sql_list(vocab.SUBSCRIBED_STATUSES)
TRUE_VALUES = vocab.TRUE_VALUES
DOI_EVENT = sql_list(CONFIRMED + TRUE_VALUES)
TRUE = sql_list(TRUE_VALUES)
STAGES = vocab.STAGES
CURRENT_STAGE = (
    "CASE "
    + " ".join(
        f"WHEN lower(trim(\"Lifecycle Stage\")) IN {sql_list(spellings)} THEN '{stage}'"
        for stage, spellings in STAGES.items()
    )
    + " END"
)

LABEL, VALUE, FORM_SAMPLE = vocab.LABEL, vocab.VALUE, vocab.FORM_SAMPLE
VALUE_ONLY = sql_list(vocab.VALUE_ONLY)
LABEL_ONLY = sql_list(vocab.LABEL_ONLY)


def written(form: dict[str, str]) -> str:
    """The stage id in column `stage` as the file would spell it in that form."""
    return "CASE stage " + " ".join(f"WHEN '{i}' THEN {lit(w)}" for i, w in form.items()) + " END"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def output_columns(header: list[str]) -> str:
    """The file's columns in order, the stage replaced and the three new columns after it."""
    columns = []
    for name in header:
        if name == "Lifecycle Stage":
            columns += [
                f'CASE WHEN stage IS NOT DISTINCT FROM current_stage THEN f."Lifecycle Stage"'
                f" WHEN (SELECT as_value FROM form) THEN {written(VALUE)} ELSE {written(LABEL)} "
                'END AS "Lifecycle Stage"',
                'f."Lifecycle Stage" AS "Previous Lifecycle Stage"',
                'rule AS "Lifecycle Rule"',
                "CASE WHEN rule = 'other' THEN CASE WHEN other_kind THEN trim(f.\"Contact type\") "
                "ELSE 'Employee' END END"
                ' AS "Other Type"',
            ]
        else:
            columns.append(f"f.{ident(name)}")
    return ",\n       ".join(columns)


CSV = "header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"'"


def query(contacts: str, deals: str, consent: str, out: str, header: list[str]) -> str:
    return f"""
COPY (
WITH
file AS (SELECT row_number() OVER () AS lc_row, * FROM read_csv({lit(contacts)}, {CSV})),
form AS (  -- values or labels: what most of the first stages of the file are
    SELECT count(*) FILTER (WHERE s IN {VALUE_ONLY})
           > count(*) FILTER (WHERE s IN {LABEL_ONLY}) AS as_value
    FROM (SELECT lower(trim("Lifecycle Stage")) AS s FROM file WHERE lc_row <= {FORM_SAMPLE})
),
contacts AS (
    SELECT
        lc_row,
        nullif(trim("Record ID"), '') AS key,
        nullif(lower(trim("Email")), '') AS email,
        {CURRENT_STAGE} AS current_stage,
        lower(trim("Contact type")) IN {OTHER_KINDS} AS other_kind,
        lower(trim("Lead Status")) IN {SALES_LEAD_STATUSES} AS sales_status,
        nullif(trim("Last Contacted"), '') IS NOT NULL AS contacted,
        coalesce(lower(trim("Unsubscribed from all email")) IN {TRUE}, false) AS unsubscribed,
        coalesce(lower(trim("Marketing email confirmation status")) IN {DOUBLE_OPT_IN_CONFIRMED},
                 false) AS contact_doi,
        "Associated Deal IDs" AS deal_ids
    FROM file
),
known AS (SELECT DISTINCT key FROM contacts WHERE key IS NOT NULL),
deals AS (
    SELECT
        row_number() OVER () AS row,
        nullif(trim("Record ID"), '') AS deal_id,
        coalesce(lower(trim("Deal Stage")) IN {WON_DEAL_STAGES}, false)
            OR coalesce(lower(trim("Is Closed Won")) IN {TRUE}, false) AS won,
        coalesce(lower(trim("Deal Stage")) IN {LOST_DEAL_STAGES}, false)
            OR coalesce(lower(trim("Is closed lost")) IN {TRUE}, false)
            OR coalesce(lower(trim("Is Deal Closed?")) IN {TRUE}, false) AS lost_flag,
        "Associated Contact IDs" AS contact_ids
    FROM read_csv({lit(deals)}, {CSV})
),
links AS (
    SELECT row, key FROM (
        SELECT row, trim(unnest(string_split(replace(contact_ids, ',', ';'), ';'))) AS key
        FROM deals
    ) JOIN known USING (key)
    UNION  -- distinct (deal, contact) pairs
    SELECT d.row, l.key FROM (
        SELECT key, trim(unnest(string_split(replace(deal_ids, ',', ';'), ';'))) AS deal_id
        FROM contacts WHERE key IS NOT NULL
    ) l JOIN deals d ON d.deal_id = l.deal_id
),
deal_facts AS (
    SELECT key,
           count(*) FILTER (WHERE d.won) AS won_deals,
           count(*) FILTER (WHERE NOT d.won AND NOT d.lost_flag) AS open_deals
    FROM links JOIN deals d USING (row)
    GROUP BY key
),
events AS (
    SELECT
        row_number() OVER () AS row,
        nullif(trim("Contact ID"), '') AS cid,
        nullif(lower(trim("Email")), '') AS email,
        lower(trim("Subscription type")) AS type,
        coalesce(lower(trim("Status")) IN {SUBSCRIBED_STATUSES}, false) AS subscribed,
        coalesce(lower(trim("Double opt-in")) IN {DOI_EVENT}, false) AS doi,
        try_cast(trim("Timestamp") AS TIMESTAMPTZ) AS ts
    FROM read_csv({lit(consent)}, {CSV})
),
matched AS (  -- a known Contact ID decides; else every contact with that email
    SELECT DISTINCT e.row, coalesce(k.key, c.key) AS key, e.type, e.subscribed, e.doi, e.ts
    FROM events e
    LEFT JOIN known k ON k.key = e.cid
    LEFT JOIN (SELECT key, email FROM contacts WHERE key IS NOT NULL AND email IS NOT NULL) c
        ON k.key IS NULL AND c.email = e.email
    WHERE e.type IN {MARKETING_SUBSCRIPTION_TYPES} AND coalesce(k.key, c.key) IS NOT NULL
),
ordered AS (  -- events in order: timestamp (none first), then the later row
    SELECT key, type, subscribed, doi,
           {{'t': coalesce(ts, '-infinity'::TIMESTAMPTZ), 'r': row}} AS place
    FROM matched
),
latest AS (  -- latest event per contact and subscription type;
             -- double opt-in only after the last lapse
    SELECT key,
           arg_max(subscribed, place) AS subscribed,
           coalesce(max(place) FILTER (WHERE doi) > max(place) FILTER (WHERE NOT subscribed),
                    max(place) FILTER (WHERE doi) IS NOT NULL) AS doi
    FROM ordered GROUP BY key, type
),
consent_facts AS (
    SELECT key, bool_or(subscribed) AS consent_marketing, bool_or(doi) AS consent_doi
    FROM latest GROUP BY key
),
decided AS (
    SELECT c.lc_row, c.current_stage, c.other_kind,
        CASE
            WHEN c.other_kind
                 OR coalesce(trim(split_part(c.email, '@', -1)) IN {INTERNAL_DOMAINS}
                             AND c.email LIKE '%@%', false)
                THEN 'other'
            WHEN coalesce(d.won_deals, 0) > 0 THEN 'customer'
            WHEN coalesce(d.open_deals, 0) > 0 THEN 'opportunity'
            WHEN c.sales_status OR c.contacted THEN 'sales_lead'
            WHEN (c.contact_doi OR coalesce(f.consent_doi, false))
                 AND coalesce(f.consent_marketing, false)
                 AND NOT c.unsubscribed THEN 'marketing_lead'
            ELSE 'lead'
        END AS derived
    FROM contacts c
    LEFT JOIN deal_facts d USING (key)
    LEFT JOIN consent_facts f USING (key)
),
kept AS (
    SELECT lc_row, current_stage, other_kind,
           CASE WHEN sticky THEN current_stage ELSE derived END AS stage,
           CASE WHEN sticky THEN 'sticky' ELSE derived END AS rule
    FROM (
        SELECT *, derived <> 'other' AND derived IS DISTINCT FROM current_stage
                  AND coalesce(current_stage IN ('customer', 'evangelist', 'other'), false)
                  AS sticky
        FROM decided
    )
)
SELECT {output_columns(header)}
FROM file f JOIN kept USING (lc_row)
ORDER BY lc_row
) TO {lit(out)} (HEADER, DELIMITER ',')
"""


def main(contacts: str, deals: str, consent: str, out: str) -> None:
    with open(contacts, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f))
    con = duckdb.connect()
    limit = os.environ.get("DUCKDB_MEMORY_LIMIT")
    if limit:  # by default DuckDB may use 80% of the machine's memory
        con.execute(f"SET memory_limit = {lit(limit)}")
    con.execute(query(contacts, deals, consent, out, header))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(f"usage: {sys.argv[0]} CONTACTS DEALS CONSENT OUT")
    main(*sys.argv[1:])

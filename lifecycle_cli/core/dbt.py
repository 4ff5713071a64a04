"""`lifecycle dbt`: the classify query as dbt models, with its tests and sources, for a warehouse.

The classify model is `build_query` written over placeholder table names, each then swapped for a
`{{ source(...) }}` (the export tables) or a `{{ ref(...) }}` (the staging models that turn
Fivetran's HubSpot connector tables into export-shaped views). The staging SQL is written once,
in DuckDB's dialect, and transpiled by sqlglot like the classify query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..io.sources import resolve_columns
from ..rules.model import Rules
from .sql import STAR_REPLACE_DIALECTS, build_query, transpile

#: Where the inputs come from: tables loaded from the CSV exports, or Fivetran's HubSpot connector.
SOURCES = ("export", "fivetran-hubspot")
#: The classify model; the file is MODEL + ".sql".
MODEL = "lifecycle_contacts"
#: dbt source names (the `source('...', ...)` first argument) of the two kinds of input.
EXPORT_SOURCE = "lifecycle_export"
FIVETRAN_SOURCE = "lifecycle_hubspot"
#: Staging models of the fivetran-hubspot source (contacts and deals shaped as the exports).
STAGING = {"contacts": "stg_lifecycle__contacts", "deals": "stg_lifecycle__deals"}
#: A table name no warehouse query would use, written into the query and then swapped for Jinja.
_PLACEHOLDER = "lifecycle_dbt_input_{}"

#: A connector column name, written unquoted in the staging models.
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Fivetran contact properties (`property_<name>`) -> the export header the rules know them by.
CONTACT_PROPERTIES = {
    "email": "Email",
    "firstname": "First Name",
    "lastname": "Last Name",
    "lifecyclestage": "Lifecycle Stage",
    "hs_lead_status": "Lead Status",
    "notes_last_contacted": "Last Contacted",
    "contact_type": "Contact type",
    "hs_email_optout": "Unsubscribed from all email",
    "hs_emailconfirmationstatus": "Marketing email confirmation status",
    "associatedcompanyid": "Associated Company IDs",
    "hubspot_owner_id": "Contact owner",
    "createdate": "Create Date",
}
#: The connector's columns assumed when no header file names them: HubSpot's standard
#: properties the rules read (a custom `property_contact_type` must be named by a header file).
FIVETRAN_DEFAULT_HEADERS = {
    "contacts": [
        "id",
        "_fivetran_deleted",
        *(
            f"property_{name}"
            for name in (
                "email",
                "firstname",
                "lastname",
                "lifecyclestage",
                "hs_lead_status",
                "notes_last_contacted",
                "hs_email_optout",
                "hs_emailconfirmationstatus",
            )
        ),
    ],
    "deals": ["deal_id", "is_deleted", "deal_pipeline_id", "deal_pipeline_stage_id"],
}
#: The connector tables the staging models read, as named in the sources block.
FIVETRAN_TABLES = ("contact", "deal", "deal_contact", "deal_pipeline_stage")


@dataclass(frozen=True)
class DbtModels:
    """The files of a `lifecycle dbt` run: name -> text, and what the tests check."""

    files: dict[str, str]
    record_id: str
    stage: str
    rule: str
    stage_values: tuple[str, ...]


def build_models(
    rules: Rules,
    *,
    source: str,
    dialect: str,
    headers: dict[str, list[str]] | None = None,
    deals: bool = True,
    consent: bool = True,
    stage_values: str = "label",
) -> DbtModels:
    """The dbt models, tests and sources that classify every contact in the warehouse.

    `source="export"`: `headers[role]` lists the export table's columns (as in `lifecycle sql`);
    `deals`/`consent` False: that table does not exist. `source="fivetran-hubspot"`:
    `headers["contacts"]`/`headers["deals"]` list the connector's `contact`/`deal` columns
    (FIVETRAN_DEFAULT_HEADERS when not given); consent comes from the contacts' own columns.
    Raises ValueError for a source, dialect or header that cannot be written.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    headers = dict(headers or {})
    files: dict[str, str] = {}
    if source == "export":
        roles = ["contacts"] + (["deals"] if deals else []) + (["consent"] if consent else [])
        inputs = {role: f"{{{{ source('{EXPORT_SOURCE}', '{role}') }}}}" for role in roles}
        files["lifecycle_sources.yml"] = _export_sources(roles)
    else:
        staged = _fivetran_staging(rules, dialect, headers)
        headers = {role: columns for role, (_, columns) in staged.items()}
        for role, (sql, _) in staged.items():
            files[f"{STAGING[role]}.sql"] = sql
        roles = ["contacts", "deals"]
        inputs = {role: f"{{{{ ref('{STAGING[role]}') }}}}" for role in roles}
        files["lifecycle_sources.yml"] = _fivetran_sources()
    if dialect not in STAR_REPLACE_DIALECTS and "contacts" not in headers:
        raise ValueError(
            f"--dialect {dialect} needs --contacts-header FILE: an export whose header row lists "
            "the contacts table's columns, so the query can name every output column"
        )
    query = build_query(
        rules,
        dialect=dialect,
        contacts=_PLACEHOLDER.format("contacts"),
        deals=_PLACEHOLDER.format("deals") if "deals" in roles else None,
        consent=_PLACEHOLDER.format("consent") if "consent" in roles else None,
        headers=headers,
        stage_values=stage_values,
    )
    files[f"{MODEL}.sql"] = _model(query, inputs, materialized="table")
    record_id, stage = _output_columns(rules, headers.get("contacts"))
    stages = tuple(s.value if stage_values == "value" else s.label for s in rules.stages)
    files["schema.yml"] = _schema(record_id, stage, rules.rule_column, stages)
    return DbtModels(files, record_id, stage, rules.rule_column, stages)


def _output_columns(rules: Rules, contacts: list[str] | None) -> tuple[str, str]:
    """The record id and stage columns of the classify model, as the query names them."""
    specs = rules.columns["contacts"]
    if contacts is None:
        return specs["record_id"].headers[0], specs["stage"].headers[0]
    resolved = resolve_columns("the contacts table", "contacts", tuple(contacts), specs)
    return resolved["record_id"], resolved.get("stage", specs["stage"].headers[0])


def _model(query: str, inputs: dict[str, str], *, materialized: str) -> str:
    """The query with each placeholder table swapped for its Jinja call; the SQL between them is
    `{% raw %}`, so a `{{` in a value list stays text."""
    names = sorted((_PLACEHOLDER.format(role) for role in inputs), key=len, reverse=True)
    alternatives = "|".join(names)
    pattern = re.compile(rf"""([`"]?)({alternatives})\1(?!\w)""", re.IGNORECASE)
    pieces, last, seen = [], 0, set()
    for match in pattern.finditer(query):
        role = match.group(2).lower().removeprefix(_PLACEHOLDER.format(""))
        seen.add(role)
        pieces += [_raw(query[last : match.start()]), inputs[role]]
        last = match.end()
    pieces.append(_raw(query[last:]))
    if seen != set(inputs):  # the query must read every input it was given, by its placeholder
        raise ValueError(f"the query does not read {', '.join(sorted(set(inputs) - seen))}")
    config = f"{{{{ config(materialized='{materialized}') }}}}\n"
    return config + "".join(pieces) + "\n"


def _raw(sql: str) -> str:
    if not sql:
        return ""
    if "endraw" in sql:
        raise ValueError("the rules hold the text 'endraw', which a dbt model cannot quote")
    return "{% raw %}" + sql + "{% endraw %}"


def _yaml_text(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    import json

    return json.dumps(text, ensure_ascii=False)


def _schema(record_id: str, stage: str, rule: str, stages: tuple[str, ...]) -> str:
    values = "\n".join(f"                  - {_yaml_text(v)}" for v in stages)
    return f"""version: 2

# Written by `lifecycle dbt`; regenerate (with --force) when the rules or the columns change.
# Generic test arguments under `arguments:` need dbt-core 1.10.5 or later (or dbt Fusion).
models:
  - name: {MODEL}
    description: >
      Every contact with its lifecycle stage reclassified by the lifecycle rules (as
      `lifecycle classify` does), the previous stage and the rule that decided.
    columns:
      - name: {_yaml_text(record_id)}
        quote: true
        data_tests:
          - unique
          - not_null
      - name: {_yaml_text(stage)}
        quote: true
        data_tests:
          - accepted_values:
              arguments:
                values:
{values}
      - name: {_yaml_text(rule)}
        quote: true
        data_tests:
          - not_null
"""


def _export_sources(roles: list[str]) -> str:
    what = {
        "contacts": "The contacts export (HubSpot or Salesforce), every column as text.",
        "deals": "The deals export, every column as text.",
        "consent": "The consent records (one row per event), every column as text.",
    }
    tables = "\n".join(
        f"      - name: {role}\n        description: {_yaml_text(what[role])}" for role in roles
    )
    return f"""version: 2

# The exports loaded as tables whose columns are the CSV headers, all text (e.g. DuckDB's
# read_csv(..., all_varchar = true)). Set `identifier:` on a table whose name differs.
sources:
  - name: {EXPORT_SOURCE}
    schema: "{{{{ var('lifecycle_export_schema', target.schema) }}}}"
    tables:
{tables}
"""


def _fivetran_sources() -> str:
    tables = "\n".join(f"      - name: {table}" for table in FIVETRAN_TABLES)
    return f"""version: 2

# Fivetran's HubSpot connector tables (the schema Fivetran writes to; `hubspot` unless set).
sources:
  - name: {FIVETRAN_SOURCE}
    schema: "{{{{ var('hubspot_schema', 'hubspot') }}}}"
    loader: Fivetran
    tables:
{tables}
"""


def _fivetran_staging(
    rules: Rules, dialect: str, headers: dict[str, list[str]]
) -> dict[str, tuple[str, list[str]]]:
    """Role -> (staging model, its output columns) for the connector's tables."""
    contact = headers.get("contacts") or FIVETRAN_DEFAULT_HEADERS["contacts"]
    deal = headers.get("deals") or FIVETRAN_DEFAULT_HEADERS["deals"]
    for table, columns, needed in (
        ("contact", contact, ("id",)),
        ("deal", deal, ("deal_id", "deal_pipeline_id", "deal_pipeline_stage_id")),
    ):
        lacking = [name for name in needed if name not in columns]
        if lacking:
            raise ValueError(
                f"the Fivetran {table} table has no column {', '.join(map(repr, lacking))} "
                f"(its header file lists {', '.join(columns[:12])}"
                f"{', ...' if len(columns) > 12 else ''})"
            )
    select, names = _contact_columns(rules, contact)
    where = " WHERE NOT COALESCE(CAST(c._fivetran_deleted AS BOOLEAN), FALSE)"
    contacts_sql = f"SELECT {', '.join(select)} FROM {_PLACEHOLDER.format('contact')} AS c" + (
        where if "_fivetran_deleted" in contact else ""
    )
    deals_sql, deal_names = _deals_sql(deal)
    inputs = {
        table: f"{{{{ source('{FIVETRAN_SOURCE}', '{table}') }}}}" for table in FIVETRAN_TABLES
    }
    staged = {}
    for role, sql, columns, reads in (
        ("contacts", contacts_sql, names, ("contact",)),
        ("deals", deals_sql, deal_names, ("deal", "deal_contact", "deal_pipeline_stage")),
    ):
        text = transpile(sql, dialect, pretty=True)
        staged[role] = (
            _model(text, {t: inputs[t] for t in reads}, materialized="view"),
            columns,
        )
    return staged


def _contact_columns(rules: Rules, columns: list[str]) -> tuple[list[str], list[str]]:
    """The contact staging model's select list and output names: `id` as Record ID, each known
    property as its export header, and any other `property_<name>` the rules know by `<name>`."""
    known = {
        re.sub(r"[\W_]+", "", h.casefold())
        for spec in rules.columns["contacts"].values()
        for h in spec.headers
    }
    select, names = ['CAST(c.id AS TEXT) AS "Record ID"'], ["Record ID"]
    for column in columns:
        name = column.removeprefix("property_")
        if name == column:
            continue
        header = CONTACT_PROPERTIES.get(name.lower())
        if header is None and re.sub(r"[\W_]+", "", name.casefold()) in known:
            header = name
        if header is None or header in names:
            continue
        if not _COLUMN.fullmatch(
            column
        ):  # written unquoted: the warehouse folds it as Fivetran did
            raise ValueError(f"the Fivetran contact column '{column}' is not a plain column name")
        select.append(f'CAST(c.{column} AS TEXT) AS "{header}"')
        names.append(header)
    return select, names


def _deals_sql(columns: list[str]) -> tuple[str, list[str]]:
    """The deals staging query: each deal not deleted, its stage's label and won/closed flags
    (from the pipeline stage), and its contacts' ids joined by `;` (from deal_contact)."""
    has = set(columns)
    name = (
        ['CAST(d.property_dealname AS TEXT) AS "Deal Name"'] if "property_dealname" in has else []
    )
    deleted = [
        f"NOT COALESCE(CAST(d.{flag} AS BOOLEAN), FALSE)"
        for flag in ("is_deleted", "_fivetran_deleted")
        if flag in has
    ]
    stage_id = "CAST(d.deal_pipeline_stage_id AS TEXT)"
    pipeline_id = "CAST(d.deal_pipeline_id AS TEXT)"
    sql = f"""
WITH links AS (
  SELECT CAST(deal_id AS TEXT) AS deal_id,
    ARRAY_TO_STRING(ARRAY_AGG(CAST(contact_id AS TEXT)), ';') AS ids
  FROM {_PLACEHOLDER.format("deal_contact")}
  WHERE contact_id IS NOT NULL
  GROUP BY CAST(deal_id AS TEXT)
), stages AS (
  SELECT CAST(stage_id AS TEXT) AS stage_id, CAST(pipeline_id AS TEXT) AS pipeline_id,
    CAST(label AS TEXT) AS label, CAST(closed_won AS BOOLEAN) AS won,
    COALESCE(CAST(is_closed AS BOOLEAN), CAST(closed_won AS BOOLEAN)) AS closed
  FROM {_PLACEHOLDER.format("deal_pipeline_stage")}
  WHERE NOT COALESCE(CAST(_fivetran_deleted AS BOOLEAN), FALSE)
)
SELECT CAST(d.deal_id AS TEXT) AS "Record ID", {"".join(n + ", " for n in name)}
  COALESCE(s.label, {stage_id}) AS "Deal Stage",
  {pipeline_id} AS "Pipeline",
  CASE WHEN s.won THEN 'true' WHEN NOT s.won THEN 'false' END AS "Is Closed Won",
  CASE WHEN s.closed THEN 'true' WHEN NOT s.closed THEN 'false' END AS "Is Deal Closed?",
  l.ids AS "Associated Contact IDs"
FROM {_PLACEHOLDER.format("deal")} AS d
LEFT JOIN stages AS s ON s.stage_id = {stage_id} AND s.pipeline_id = {pipeline_id}
LEFT JOIN links AS l ON l.deal_id = CAST(d.deal_id AS TEXT)
{"WHERE " + " AND ".join(deleted) if deleted else ""}
"""
    names = ["Record ID", *(["Deal Name"] if name else []), "Deal Stage", "Pipeline"]
    names += ["Is Closed Won", "Is Deal Closed?", "Associated Contact IDs"]
    return sql, names

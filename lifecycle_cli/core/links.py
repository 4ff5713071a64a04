"""Do the deals and consent files link to the contacts? A file that links nothing is a wrong link
column, not a fact."""

from __future__ import annotations

import polars as pl

from ..base.diagnostics import Diagnostics, quantity
from ..io.sources import Source
from ..rules.model import ColumnSpec
from .columns import KEY
from .facts import ContactIds, lowered, split_ids

#: (total rows, rows linked) in the link counts, and the link columns tried, per role.
COUNTS = {
    "deals": ("deal_rows", "deals_linked"),
    "consent": ("consent_rows", "consent_rows_matched"),
}
#: The link columns per role: (by contact id, by contact email).
LINK_COLUMNS = {"deals": ("contact_ids", "contact_email"), "consent": ("contact_id", "email")}


def check_links(
    found: Diagnostics,
    src: Source,
    links: dict[str, int],
    ids: ContactIds,
    contacts: Source,
    specs: dict[str, ColumnSpec],
    by_account_columns: tuple[str, str] | None = None,
) -> None:
    """An error when no row of `src` links to a contact, a warning when fewer than half do.

    Deals linked through their account (`by_account_columns`: rules.deals_by_account) count as
    linked."""
    total_key, linked_key = COUNTS[src.role]
    total, linked = links.get(total_key, 0), links.get(linked_key, 0)
    if total == 0 or linked * 2 >= total:
        return
    own = [
        src.resolved[name] for name in LINK_COLUMNS[src.role] if src.has(name)
    ]  # this file's link headers
    column = own[0] if own else None
    tried = [f"'{header}'" for header in own]
    if src.role == "deals" and contacts.has("deal_ids"):
        tried.append(f"the contacts' '{contacts.resolved['deal_ids']}'")
    by_account = account_link(src, contacts, by_account_columns)
    if by_account:
        tried.append(by_account)
    tried_text = ", ".join(tried) if tried else "no link column found"
    refs = (
        links.get("deals_with_refs", 0)
        + links.get("contact_deal_ids_not_in_deals", 0)
        + links.get("deals_with_accounts", 0)
    )
    if src.role == "deals" and not linked and own and not refs:
        # The link column is there but empty: deals without contacts, not a wrong column.
        found.warn(
            "weak-link",
            f"{src.display}: none of its {quantity(total, 'row')} names a contact ({tried_text} "
            "are empty), "
            "so no deal counts for any contact",
            file=src.display,
            column=column,
        )
        return
    if linked:
        found.warn(
            "weak-link",
            f"{src.display}: only {linked:,} of {total:,} rows link to a contact in "
            f"{contacts.display} (through {tried_text}); the others are left out",
            file=src.display,
            column=column,
            hint="check that both files come from the same portal and export",
        )
        return
    best = suggest_link(src, ids)
    hint = None
    if best is not None:
        header, matched, kind = best
        name = LINK_COLUMNS[src.role][kind == "email"]
        hint = (
            f"column '{header}' holds contact {'emails' if kind == 'email' else 'ids'} that match "
            f"{quantity(matched, 'row')}: add '{header}' to columns.{src.role}.{name} in your "
            "rules file"
        )
    accepted = [h for name in LINK_COLUMNS[src.role] if name in specs for h in specs[name].headers]
    if src.role == "deals" and by_account_columns and by_account_columns[0] in specs:
        accepted += specs[by_account_columns[0]].headers
    found.error(
        "no-link",
        f"{src.display}: none of its {quantity(total, 'row')} links to a contact in "
        f"{contacts.display}; "
        f"link columns tried: {tried_text} (headers looked for: "
        f"{', '.join(repr(h) for h in accepted)})",
        file=src.display,
        column=column,
        hint=hint,
    )


def account_link(src: Source, contacts: Source, columns: tuple[str, str] | None) -> str | None:
    """How deals link through their account, in words, when the rules ask for it and both files
    can."""
    if src.role != "deals" or columns is None:
        return None
    deal_column, contact_column = columns
    for source, name in ((src, deal_column), (contacts, contact_column)):
        if not source.has(name):
            return (
                f"no link by account ({source.display} has no column for {name}, "
                f"see columns.{source.role}.{name})"
            )
    deal_header, contact_header = src.resolved[deal_column], contacts.resolved[contact_column]
    return f"'{deal_header}' to the contacts' '{contact_header}' (by account)"


def suggest_link(src: Source, ids: ContactIds) -> tuple[str, int, str] | None:
    """The header of `src` whose values match the most contacts' ids or emails: (header, rows,
    "id"/"email")."""
    keys = ids.frame.select(pl.col(KEY).cast(pl.String).alias("ref")).drop_nulls().unique()
    emails = (
        ids.frame.select(pl.col("email").alias("ref")).drop_nulls().unique()
        if "email" in ids.frame.columns
        else None
    )
    best: tuple[str, int, str] | None = None
    for header in src.headers:
        refs = (
            src.frame.with_row_index("__row")
            .select("__row", split_ids(pl.col(header).cast(pl.String)).alias("ref"))
            .explode("ref")
            .with_columns(pl.col("ref").str.strip_chars())
        )
        for kind, table, ref in (
            ("id", keys, pl.col("ref")),
            ("email", emails, lowered(pl.col("ref"))),
        ):
            if table is None:
                continue
            rows = (
                refs.with_columns(ref.alias("ref"))
                .join(table.lazy(), on="ref", how="semi")
                .select(pl.col("__row").n_unique())
                .collect()
                .item()
            )
            if rows and (best is None or rows > best[1]):
                best = (header, rows, kind)
    return best

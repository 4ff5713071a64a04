"""Per-contact facts from the deals and consent exports, computed by joins and aggregations."""

from __future__ import annotations

import polars as pl

from .rules import Rules
from .sources import Source

KEY = "__lc_key"  #: the contact's Record ID, trimmed: the join key everywhere
ROW = "__lc_row"  #: 0-based data row of a file, for error messages

_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
    "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%Y-%m-%d",
)
_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")


def lowered(expr: pl.Expr) -> pl.Expr:
    return expr.str.strip_chars().str.to_lowercase()


def in_values(expr: pl.Expr, values: tuple[str, ...]) -> pl.Expr:
    """Membership ignoring case and surrounding spaces, as `IN @list` does in conditions."""
    return lowered(expr).is_in([v.strip().lower() for v in values])


def parse_bool(expr: pl.Expr, rules: Rules) -> pl.Expr:
    """true/false from the spellings in rules.yaml; empty and unrecognised values give null."""
    return (
        pl.when(in_values(expr, rules.values["true_values"])).then(True)
        .when(in_values(expr, rules.values["false_values"])).then(False)
        .otherwise(None)
    )


def bad_bool(expr: pl.Expr, rules: Rules) -> pl.Expr:
    return expr.is_not_null() & parse_bool(expr, rules).is_null()


def parse_datetime(expr: pl.Expr, sample: pl.Series | None = None) -> pl.Expr:
    """ISO 8601 (with or without offset), `2024-03-12 09:14`, or `3/15/2024 2:30 PM`, as naive UTC.

    Every format tried costs a full parse of the column, so with a `sample` of the
    column's values only the formats that read some of them are tried.
    """
    aware, naive = _AWARE_FORMATS, _NAIVE_FORMATS
    if sample is not None and len(sample):
        frame = pl.DataFrame({"v": sample.cast(pl.String).str.strip_chars()})
        fits = lambda fmt, **kw: frame.select(pl.col("v").str.to_datetime(fmt, strict=False, **kw).is_not_null().any()).item()  # noqa: E731
        aware = tuple(f for f in _AWARE_FORMATS if fits(f, time_zone="UTC"))
        naive = tuple(f for f in _NAIVE_FORMATS if fits(f, time_unit="us"))
        if not aware and not naive:
            aware, naive = _AWARE_FORMATS, _NAIVE_FORMATS
    parsed = [
        expr.str.to_datetime(f, strict=False, time_zone="UTC").dt.replace_time_zone(None).cast(pl.Datetime("us"))
        for f in aware
    ] + [expr.str.to_datetime(f, strict=False, time_unit="us") for f in naive]
    return parsed[0] if len(parsed) == 1 else pl.coalesce(parsed)


def column_sample(source: Source, name: str, n: int = 10_000) -> pl.Series | None:
    """The first `n` non-empty values of a logical column (one short read of the file's head)."""
    if not source.has(name):
        return None
    return source.frame.select(source.text(name).alias("v")).head(n * 2).collect()["v"].drop_nulls().head(n)


def split_ids(expr: pl.Expr) -> pl.Expr:
    """`;`-joined id lists (HubSpot), tolerating commas and spaces."""
    return expr.str.replace_all(",", ";").str.split(";")


def unreadable_values(source: Source, rules: Rules, names: tuple[str, ...]) -> pl.LazyFrame | None:
    """Values of boolean and date columns that do not read as one: column, value, count, first row."""
    parts = []
    for name in names:
        if not source.has(name):
            continue
        kind = rules.columns[source.role][name].type
        text = source.text(name)
        parsed = parse_bool(text, rules) if kind == "bool" else parse_datetime(text, column_sample(source, name))
        parts.append(
            source.frame.with_row_index(ROW)
            .select(ROW, text.alias("value"), parsed.is_null().alias("bad"))
            .filter(pl.col("value").is_not_null() & pl.col("bad"))
            .group_by("value")
            .agg(pl.len().alias("count"), (pl.col(ROW).min() + 2).alias("first_row"))
            .select(pl.lit(source.resolved[name]).alias("column"), pl.lit(kind).alias("kind"), "value", "count", "first_row")
        )
    return pl.concat(parts) if parts else None


def contact_keys(contacts: Source) -> pl.LazyFrame:
    return contacts.frame.select(contacts.text("record_id").alias(KEY)).drop_nulls().unique()


def deal_facts(deals: Source, contacts: Source, rules: Rules) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(facts per contact key: deals, won_deals, open_deals, lost_deals; one row of link counts)."""
    v = rules.values
    stage = deals.text("stage")
    won = (in_values(stage, v["won_deal_stages"]) | parse_bool(deals.text("is_won"), rules)).fill_null(False)
    lost = ~won & (
        in_values(stage, v["lost_deal_stages"])
        | parse_bool(deals.text("is_lost"), rules)
        | parse_bool(deals.text("is_closed"), rules)
    ).fill_null(False)
    flags = deals.frame.with_row_index(ROW).select(
        ROW,
        deals.text("record_id").alias("deal_id"),
        won.alias("won"),
        lost.alias("lost"),
        deals.text("contact_ids").alias("contact_ids"),
    )
    keys = contact_keys(contacts).with_columns(pl.lit(True).alias("known"))
    by_deal = (
        flags.select(ROW, split_ids(pl.col("contact_ids")).alias(KEY))
        .explode(KEY)
        .with_columns(pl.col(KEY).str.strip_chars())
        .filter(pl.col(KEY).is_not_null() & (pl.col(KEY) != ""))
        .join(keys, on=KEY, how="left")
    )
    pairs = [by_deal.filter(pl.col("known")).select(ROW, KEY)]
    from_contacts = None
    if contacts.has("deal_ids") and deals.has("record_id"):
        from_contacts = (
            contacts.frame.select(contacts.text("record_id").alias(KEY), split_ids(contacts.text("deal_ids")).alias("deal_id"))
            .explode("deal_id")
            .with_columns(pl.col("deal_id").str.strip_chars())
            .filter(pl.col("deal_id").is_not_null() & (pl.col("deal_id") != "") & pl.col(KEY).is_not_null())
            .join(flags.select(ROW, "deal_id"), on="deal_id", how="left")
        )
        pairs.append(from_contacts.filter(pl.col(ROW).is_not_null()).select(ROW, KEY))
    linked = pl.concat(pairs).unique()
    facts = (
        linked.join(flags.select(ROW, "won", "lost"), on=ROW, how="inner")
        .group_by(KEY)
        .agg(
            pl.len().cast(pl.Int64).alias("deals"),
            pl.col("won").sum().cast(pl.Int64).alias("won_deals"),
            (~pl.col("won") & ~pl.col("lost")).sum().cast(pl.Int64).alias("open_deals"),
            pl.col("lost").sum().cast(pl.Int64).alias("lost_deals"),
        )
    )
    counts = [
        flags.select(pl.len().alias("deal_rows")),
        linked.select(pl.col(ROW).n_unique().alias("deals_linked")),
        by_deal.filter(pl.col("known").is_null()).select(
            pl.len().alias("unknown_contact_refs"), pl.col(ROW).n_unique().alias("deals_with_unknown_contacts")
        ),
    ]
    if from_contacts is not None:
        counts.append(from_contacts.select(pl.col(ROW).is_null().sum().alias("contact_deal_ids_not_in_deals")))
    return facts, pl.concat(counts, how="horizontal")


def consent_facts(consent: Source, contacts: Source, rules: Rules) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(facts per contact key: marketing_consent, consent_double_opt_in; one row of link counts)."""
    v = rules.values
    events = consent.frame.with_row_index(ROW).select(
        ROW,
        consent.text("contact_id").alias("contact_id"),
        lowered(consent.text("email")).alias("email"),
        in_values(consent.text("subscription_type"), v["marketing_subscription_types"]).alias("marketing"),
        lowered(consent.text("subscription_type")).alias("subscription_type"),
        in_values(consent.text("status"), v["subscribed_statuses"]).alias("subscribed"),
        (
            in_values(consent.text("double_opt_in"), v["double_opt_in_confirmed"])
            | in_values(consent.text("double_opt_in"), v["true_values"])
        ).fill_null(False).alias("doi"),
        parse_datetime(consent.text("timestamp"), column_sample(consent, "timestamp")).alias("ts"),
    )
    known_ids = contact_keys(contacts).select(pl.col(KEY).alias("contact_id"), pl.lit(True).alias("id_known"))
    emails = contacts.frame.select(contacts.text("record_id").alias("email_key"), lowered(contacts.text("email")).alias("email")).drop_nulls()
    # One pass over the events: a known Contact ID decides, else every contact with that email.
    # (Materialised once: facts and counts both read it, and re-parsing timestamps is the costly part.)
    matched = (
        events.join(known_ids, on="contact_id", how="left")
        .join(emails, on="email", how="left")
        .with_columns(pl.when(pl.col("id_known")).then(pl.col("contact_id")).otherwise(pl.col("email_key")).alias(KEY))
        .select(ROW, KEY, "marketing", "subscription_type", "subscribed", "doi", "ts")
        .collect()
    )
    total = matched[ROW].n_unique()
    matched = matched.lazy().filter(pl.col(KEY).is_not_null()).unique(subset=[ROW, KEY])
    latest = matched.filter(pl.col("marketing")).group_by(KEY, "subscription_type").agg(
        pl.col("subscribed").sort_by("ts", ROW, nulls_last=False).last().alias("subscribed"),
        pl.col("doi").any().alias("doi"),
    )
    facts = latest.group_by(KEY).agg(
        pl.col("subscribed").any().alias("consent_marketing"),
        pl.col("doi").any().alias("consent_double_opt_in"),
    )
    counts = matched.select(
        pl.lit(total).alias("consent_rows"),
        pl.col(ROW).n_unique().alias("consent_rows_matched"),
        (pl.lit(total) - pl.col(ROW).n_unique()).alias("consent_rows_unknown_contact"),
    )
    return facts, counts

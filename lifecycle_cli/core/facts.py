"""Per-contact facts from the deals and consent exports, computed by joins and aggregations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import polars as pl

from ..io.sources import Source
from ..rules import definitions as d
from ..rules.definitions import LOST, WON
from ..rules.definitions import OPEN as OPEN  # read from here by companies
from ..rules.logic import DEAL_FACTS
from ..rules.model import Rules, one_of
from .columns import ACCOUNT, KEY, ROW

lowered = d.lowered_polars
split_ids = d.split_ids_polars
not_null_id = d.not_null_id_polars
account_key = d.account_key_polars


def stage_id(raw: pl.Expr, rules: Rules) -> pl.Expr:
    """A stage as the file spells it (label, HubSpot value or alias, any case) to its id; null if
    unknown."""
    return d.stage_id_polars(raw, rules.stage_lookup())


def unknown_spelling(raw: pl.Expr, stage: pl.Expr) -> pl.Expr:
    """The stage as the file writes it where the rules do not know it (null elsewhere, blanks
    included)."""
    return pl.when(stage.is_null() & raw.str.contains(r"\S")).then(raw)


def in_values(expr: pl.Expr, values: tuple[str, ...]) -> pl.Expr:
    """Membership ignoring case and surrounding spaces, as `IN @list` does in conditions."""
    return one_of(expr, values)


def parse_bool(expr: pl.Expr, rules: Rules) -> pl.Expr:
    """true/false from the spellings in rules.yaml; empty and unrecognised values give null."""
    return d.BOOLEAN.polars({"value": expr}, d.bool_values(rules.values))


def parse_datetime(expr: pl.Expr, sample: pl.Series | None = None) -> pl.Expr:
    """ISO 8601 (with or without offset), `2024-03-12 09:14`, or `3/15/2024 2:30 PM`, as naive UTC.

    Every format tried costs a full parse of the column, so with a `sample` of the
    column's values only the fewest formats that read every sampled value are tried.
    A value outside the sample in yet another format then reads as null: callers that
    pass a sample read such nulls again without one (see `reread_datetimes`).
    """
    formats = d.DATETIME_FORMATS
    if sample is not None and len(sample):
        left = pl.DataFrame({"v": sample.cast(pl.String).str.strip_chars()})
        chosen = []
        for fmt in d.DATETIME_FORMATS:
            read = left.select(d.datetime_polars(pl.col("v"), fmt).is_not_null()).to_series()
            if read.any():
                chosen.append(fmt)
                left = left.filter(~read)
            if not left.height:
                break
        formats = tuple(chosen) or d.DATETIME_FORMATS
    parsed = [d.datetime_polars(expr, fmt) for fmt in formats]
    return parsed[0] if len(parsed) == 1 else pl.coalesce(parsed)


def reread_datetimes(frame: pl.DataFrame, column: str, unread: str) -> pl.DataFrame:
    """Read the `unread` texts (where `column`, parsed with a sample's formats, is null) with every
    format.

    `unread` keeps only the texts that still do not read as a date: the unreadable values.
    """
    if frame[unread].null_count() == frame.height:
        return frame
    return frame.with_columns(
        pl.coalesce(column, parse_datetime(pl.col(unread))).alias(column)
    ).with_columns(pl.when(pl.col(column).is_null()).then(pl.col(unread)).alias(unread))


def column_sample(source: Source, name: str, n: int = 10_000) -> pl.Series | None:
    """The first `n` non-empty values of a logical column (one short read of the file's head)."""
    if not source.has(name):
        return None
    return (
        source.frame.select(source.text(name).alias("v"))
        .head(n * 2)
        .collect()["v"]
        .drop_nulls()
        .head(n)
    )


BAD_VALUE = "bad:"  #: prefix of columns holding a value that does not read as its type (else null)
ALL_FIELDS = (
    "__lc_fields"  #: a per-row value that needs every field parsed (so broken rows fail here)
)


def bad_value(source: Source, name: str, parsed: pl.Expr, text: pl.Expr | None = None) -> pl.Expr:
    """The trimmed text where `parsed` could not read it (null where it could or the cell is
    blank). `text`: that trimmed text worked out already (a column), else it is worked out here."""
    if text is None:
        text = source.text(name)
    return pl.when(text.is_not_null() & parsed.is_null()).then(text).alias(BAD_VALUE + name)


def every_field(source: Source, used: tuple[str, ...]) -> list[pl.Expr]:
    """Facts read a few columns; Polars then skips the others and would not notice a row with
    more fields than the header. Reading the other columns too (a cheap null test each) makes
    the scan parse every field, so broken rows fail here."""
    read = {source.resolved[name] for name in used if name in source.resolved}
    rest = [h for h in source.headers if h not in read]
    return [pl.any_horizontal(pl.col(h).is_null() for h in rest).alias(ALL_FIELDS)] if rest else []


def unreadable_values(frame: pl.LazyFrame, source: Source, rules: Rules) -> pl.LazyFrame | None:
    """From a frame with BAD_VALUE columns: column, kind, value, count, first row."""
    parts = []
    for name in [
        c[len(BAD_VALUE) :] for c in frame.collect_schema().names() if c.startswith(BAD_VALUE)
    ]:
        parts.append(
            frame.filter(pl.col(BAD_VALUE + name).is_not_null())
            .group_by(pl.col(BAD_VALUE + name).alias("value"))
            .agg(pl.len().alias("count"), (pl.col(ROW).min() + 2).alias("first_row"))
            .select(
                pl.lit(source.resolved[name]).alias("column"),
                pl.lit(rules.columns[source.role][name].type).alias("kind"),
                "value",
                pl.col("count").cast(pl.UInt32),
                pl.col("first_row").cast(pl.Int64),
            )
        )
    return pl.concat(parts) if parts else None


#: A HubSpot/Salesforce-style numeric id without leading zeros: such ids are joined as integers.
CANONICAL_ID = r"^[1-9][0-9]{0,17}$"


def plain_number(text: pl.Expr, parsed: pl.Expr | None = None) -> pl.Expr:
    """An id as an integer where it is written as CANONICAL_ID says (digits only, no leading zero,
    at most 18 of them), else null. On a column as read, parsing and looking at the first character
    is cheaper than the regex (on an expression, which it evaluates three times, it is not).
    `parsed`: `text.str.to_integer(strict=False)` worked out already (a column); else it is
    worked out here."""
    if parsed is None:
        parsed = text.str.to_integer(strict=False)
    return pl.when(
        (parsed > 0) & (parsed < 10**18) & ~text.str.starts_with("0") & ~text.str.starts_with("+")
    ).then(parsed)


def all_canonical(keys: pl.Series) -> bool:
    """True when every id (ignoring blanks) is a plain number, so it can be joined as an integer."""
    keys = keys.drop_nulls()
    return bool(len(keys)) and bool(keys.str.contains(CANONICAL_ID).all())


@dataclass(frozen=True)
class ContactIds:
    """The contacts' record ids, read once: row number, key (and email, deal ids when joins need
    them).

    When every id is a plain number the keys are integers (joins and groupings on them are
    several times cheaper than on text); otherwise they stay text, exactly as written.
    """

    frame: pl.DataFrame  # ROW, KEY, and optionally "email", "deal_ids", ACCOUNT
    integer: bool

    def key(self, text: pl.Expr) -> pl.Expr:
        """An id read elsewhere (a deal's contact ids, a consent row) as a key comparable to KEY."""
        if not self.integer:
            return text
        return pl.when(text.str.contains(CANONICAL_ID)).then(text.str.to_integer(strict=False))

    @cached_property
    def _known(self) -> pl.Series:
        return self.frame[KEY].drop_nulls().implode()

    def is_known(self, key: pl.Expr) -> pl.Expr:
        """Whether a key (from `key`) is one of the contacts' record ids; false for null."""
        return key.is_in(self._known).fill_null(False)


def read_contact_ids(
    contacts: Source, *, email: bool, deal_ids: bool, account: str | None = None
) -> ContactIds:
    """`account`: the contacts' account column to read as well (for deals linked by account)."""
    extra = []
    if account is not None and contacts.has(account):
        extra.append(account_key(contacts.text(account)).alias(ACCOUNT))
    if email:
        extra.append(lowered(contacts.text("email")).alias("email"))
    if deal_ids and contacts.has("deal_ids"):
        extra.append(contacts.text("deal_ids").alias("deal_ids"))
    # Ids are read as plain numbers first, as HubSpot's are: no id is then held as text. Any other
    # id (text, spaces around it, a leading zero) and the ids are read again, as text.
    raw = pl.col(contacts.resolved["record_id"]).cast(pl.String)
    number = plain_number(raw, pl.col("__lc_parsed"))
    frame = (
        contacts.frame.with_row_index(ROW)
        .with_columns(raw.str.to_integer(strict=False).alias("__lc_parsed"))  # once, not thrice
        .select(
            ROW,
            number.alias(KEY),
            (raw.is_not_null() & number.is_null()).alias("__lc_other_id"),
            *extra,
        )
        .collect()
    )
    other = frame["__lc_other_id"].any()
    frame = frame.drop("__lc_other_id")
    if not other and frame[KEY].null_count() < frame.height:
        return ContactIds(frame, True)
    text = contacts.frame.select(contacts.text("record_id").alias(KEY)).collect().to_series()
    integer = all_canonical(text)
    frame = frame.with_columns(text.str.to_integer() if integer else text)
    return ContactIds(frame, integer)


_counts = d.deal_counts_polars


def account_facts(
    flags: pl.LazyFrame, linked: pl.DataFrame, ids: ContactIds
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """For the deals that link to no contact: (facts per contact key from its account's deals, the
    rows of those deals whose account has contacts in the file: ROW, ACCOUNT).

    A deal counts as linked by contact when any of its rows is (a contact-role export has one row
    per role), so an opportunity with a contact role never reaches its account's other contacts.
    Counted per account first, then given to the account's contacts: an account with thousands
    of contacts and opportunities costs one row per contact, not one per (contact, opportunity).
    """
    by_contact = linked.lazy().select(ROW).unique()
    deals_by_contact = (
        flags.join(by_contact, on=ROW, how="semi").select("deal_id").drop_nulls().unique()
    )
    accounts = (
        ids.frame.lazy().select(KEY, ACCOUNT).drop_nulls().unique()
    )  # a repeated record id counts once
    rows = (
        flags.filter(pl.col(ACCOUNT).is_not_null())
        .join(by_contact, on=ROW, how="anti")
        .join(
            deals_by_contact, on="deal_id", how="anti"
        )  # a null deal id matches nothing: the row stays
        .join(accounts.select(ACCOUNT).unique(), on=ACCOUNT, how="semi")
        .select(ROW, ACCOUNT, "won", "lost")
    )
    per_account = rows.group_by(ACCOUNT).agg(_counts(pl.col("won"), pl.col("lost")))
    facts = accounts.join(per_account, on=ACCOUNT, how="inner").drop(ACCOUNT)
    found, used = pl.collect_all([facts, rows.select(ROW, ACCOUNT)])
    return found, used


#: The inputs of a deal's outcome, worked out once per row as columns (each is read several times):
#: the parsed won, lost and closed flags, and the stage's list (WON, LOST, OPEN or null).
_FLAGS = {"is_won": "__lc_won_flag", "is_lost": "__lc_lost_flag", "is_closed": "__lc_closed"}
_LISTED = "__lc_listed"
#: DEAL_OUTCOME's flag inputs, as those columns.
_OUTCOME_FLAGS = {
    "won_flag": _FLAGS["is_won"],
    "lost_flag": _FLAGS["is_lost"],
    "closed": _FLAGS["is_closed"],
}


def outcome_inputs(deals: Source, rules: Rules) -> list[pl.Expr]:
    """The columns `with_outcome` reads, from the deals file's own columns (one pass)."""
    kinds: dict[str, int] = {}
    for kind, listed_in in d.STAGE_LISTS.values():  # the later list wins a clash
        kinds.update({value.strip().lower(): kind for value in rules.values[listed_in]})
    listed = lowered(deals.raw("stage")).replace_strict(
        list(kinds), list(kinds.values()), default=None, return_dtype=pl.Int8
    )
    return [
        *(parse_bool(deals.raw(n), rules).alias(c) for n, c in _FLAGS.items()),
        listed.alias(_LISTED),
        *(deals.text(n).is_null().alias(c + "_empty") for n, c in _FLAGS.items() if deals.has(n)),
    ]


def with_outcome(frame: pl.DataFrame | pl.LazyFrame, name: str = "outcome"):
    """`frame` (with the `outcome_inputs` columns, which are dropped) with the column `name`: WON,
    LOST or OPEN (definitions.DEAL_OUTCOME), null where neither the deal's flags nor its stage say.
    In a `1`/empty column an empty cell reads as false (definitions.FLAG)."""
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    empty = [c for c in _FLAGS.values() if c + "_empty" in names]
    if empty:
        frame = frame.with_columns(
            d.FLAG.polars(
                {
                    "value": pl.col(c),
                    "empty": pl.col(c + "_empty"),
                    "only_true": d.only_true_polars(pl.col(c)),
                }
            ).alias(c)
            for c in empty
        )
    inputs = {name: pl.col(c) for name, c in _OUTCOME_FLAGS.items()}
    for stage, (kind, _) in d.STAGE_LISTS.items():
        inputs[stage] = pl.col(_LISTED).eq(kind).fill_null(False)
    outcome = d.DEAL_OUTCOME.polars(inputs).cast(pl.Int8)
    return frame.with_columns(outcome.alias(name)).drop(
        *_FLAGS.values(), _LISTED, *(c + "_empty" for c in empty)
    )


def deal_rows(deals: Source, rules: Rules) -> pl.LazyFrame:
    """The deals file's rows that are evidence (IsDeleted ones left out), with ROW and `outcome`."""
    return with_outcome(
        deals.frame.with_row_index(ROW)
        .with_columns(outcome_inputs(deals, rules))
        .filter(~deleted(deals, rules))
    )


def deleted(source: Source, rules: Rules) -> pl.Expr:
    """Rows a Salesforce Data Export marks IsDeleted: no evidence of anything (empty: not
    deleted)."""
    if "is_deleted" not in source.resolved:
        return pl.lit(False)
    return parse_bool(source.raw("is_deleted"), rules).fill_null(False)


def unknown_deal_stages(deals: Source, rules: Rules) -> pl.LazyFrame:
    """The deal stages whose outcome neither the flags nor the value lists decide: stage (as
    written, trimmed), pipeline, count and first row (1-based, with the header), deleted rows left
    out."""
    return count_stages(
        deal_rows(deals, rules)
        .filter(pl.col("outcome").is_null())
        .select(ROW, *_stage_and_pipeline(deals))
    )


def _stage_and_pipeline(deals: Source) -> list[pl.Expr]:
    return [
        deals.text("stage").fill_null("(empty)").alias("stage"),
        deals.text("pipeline").alias("pipeline"),
    ]


def count_stages(rows):
    """Deal rows (ROW, stage, pipeline) counted per stage and pipeline, with the first row (1-based,
    with the header), most frequent first."""
    return (
        rows.group_by("stage", "pipeline")
        .agg(pl.len().alias("count"), (pl.col(ROW).min() + 2).alias("first_row"))
        .sort(["count", "stage"], descending=[True, False])
    )


@dataclass(frozen=True)
class DealLinks:
    """How the deal rows link to the contacts, worked out once: facts, link counts and explain read
    it."""

    flags: (
        pl.LazyFrame
    )  #: one row per deal row: ROW, deal_id, won, lost, contact_ids, contact_emails (ACCOUNT)
    by_deal: pl.DataFrame  #: (ROW, KEY, known) for every contact id a deal names
    linked: (
        pl.DataFrame
    )  #: (ROW, KEY) linked by contact: its id, its email, or the contact's deal ids
    from_contacts: pl.DataFrame | None  #: (ROW or null, KEY) from the contacts' deal ids
    #: With the account link: facts per contact from its account's deals, and those deals' (ROW,
    #: ACCOUNT).
    from_accounts: pl.DataFrame | None = None
    through_account: pl.DataFrame | None = None
    #: Every row of the file, and those marked deleted (IsDeleted): no evidence, left out of
    #: `flags`.
    rows: int = 0
    deleted: int = 0
    #: Deals whose outcome neither flags nor stage lists decide: stage, pipeline, count, first_row.
    unknown_stages: pl.DataFrame | None = None


def deal_links(deals: Source, ids: ContactIds, rules: Rules) -> DealLinks:
    # Deals link by account only when the rules say so and both files have their account column.
    by_account = (
        rules.deals_by_account[0]
        if rules.deals_by_account and ACCOUNT in ids.frame.columns
        else None
    )
    by_account = by_account if by_account and deals.has(by_account) else None
    # Deals are read once into a compact table: every link and count below reads it. The outcome's
    # inputs are worked out first, once: the unreadable flags read them too (Polars does not
    # share a repeated subexpression).
    inputs = outcome_inputs(deals, rules)
    table = (
        deals.frame.with_row_index(ROW)
        .with_columns(inputs)
        .select(
            ROW,
            deals.text("record_id").alias("deal_id"),
            *(pl.col(e.meta.output_name()) for e in inputs),
            deleted(deals, rules).alias("deleted"),
            deals.text("contact_ids").alias("contact_ids"),
            deals.text("contact_email").alias("contact_emails"),
            *([account_key(deals.text(by_account)).alias(ACCOUNT)] if by_account else []),
            *[
                bad_value(deals, name, pl.col(_FLAGS[name]))  # parse_bool of the column
                for name in ("is_won", "is_lost", "is_closed")
                if deals.has(name)
            ],
            *every_field(
                deals,
                (
                    "record_id",
                    "stage",
                    "is_won",
                    "is_lost",
                    "is_closed",
                    "contact_ids",
                    "contact_email",
                    *([by_account] if by_account else []),
                ),
            ),
        )
        .collect()
    )
    kept = with_outcome(table.filter(~pl.col("deleted")))
    unknown_rows = kept.filter(pl.col("outcome").is_null())[ROW]
    # Rare: the stages and pipelines of the undecided deals are read again for those rows only.
    unknown_stages = count_stages(
        deals.rows_at(unknown_rows.to_list(), *_stage_and_pipeline(deals), index=ROW)
    )
    flags = kept.select(
        pl.exclude("outcome", "deleted"),
        pl.col("outcome").eq(WON).fill_null(False).alias("won"),
        pl.col("outcome").eq(LOST).fill_null(False).alias("lost"),
    ).lazy()
    extra = {
        "rows": table.height,
        "deleted": table.height - kept.height,
        "unknown_stages": unknown_stages,
    }
    del table, kept
    # The (deal row, contact) links, worked out once: facts and link counts both read them.
    by_deal = (
        flags.select(ROW, split_ids(pl.col("contact_ids")).alias("ref"))
        .explode("ref")
        .with_columns(not_null_id(pl.col("ref").str.strip_chars()))
        .filter(pl.col("ref").is_not_null() & (pl.col("ref") != ""))
        .select(ROW, (key := ids.key(pl.col("ref"))).alias(KEY), ids.is_known(key).alias("known"))
        .collect()
    )
    pairs = [by_deal.filter(pl.col("known")).select(ROW, KEY)]
    if deals.has("contact_email") and "email" in ids.frame.columns:
        # Deals exported with the contact's email instead of its id (any case, trimmed).
        pairs.append(
            flags.select(ROW, split_ids(pl.col("contact_emails")).alias("ref"))
            .explode("ref")
            .select(ROW, lowered(pl.col("ref")).alias("email"))
            .filter(pl.col("email").is_not_null() & (pl.col("email") != ""))
            .join(ids.frame.lazy().select(KEY, "email").drop_nulls(), on="email", how="inner")
            .select(ROW, KEY)
            .collect()
        )
    from_contacts = None
    if "deal_ids" in ids.frame.columns and deals.has("record_id"):
        from_contacts = (
            ids.frame.lazy()
            .select(KEY, split_ids(pl.col("deal_ids")).alias("deal_id"))
            .explode("deal_id")
            .with_columns(pl.col("deal_id").str.strip_chars())
            .filter(
                pl.col("deal_id").is_not_null()
                & (pl.col("deal_id") != "")
                & pl.col(KEY).is_not_null()
            )
            .join(flags.select(ROW, "deal_id"), on="deal_id", how="left")
            .select(ROW, KEY)
            .collect()
        )
        pairs.append(from_contacts.filter(pl.col(ROW).is_not_null()))
    linked = pl.concat(pairs).unique()
    if not by_account:
        return DealLinks(flags, by_deal, linked, from_contacts, **extra)
    # Deals no contact links count for every contact of their account.
    return DealLinks(
        flags, by_deal, linked, from_contacts, *account_facts(flags, linked, ids), **extra
    )


def deal_facts(
    deals: Source, ids: ContactIds, rules: Rules
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame | None, pl.DataFrame]:
    """(facts per contact key: deals, won_deals, open_deals, lost_deals; one row of link counts;
    unreadable values; the deal stages no list sorts and no flag decides, see
    `unknown_deal_stages`)."""
    links = deal_links(deals, ids, rules)
    flags, linked, from_contacts, through_account = (
        links.flags,
        links.linked,
        links.from_contacts,
        links.through_account,
    )
    facts = (
        linked.lazy()
        .join(flags.select(ROW, "won", "lost"), on=ROW, how="inner")
        .group_by(KEY)
        .agg(_counts(pl.col("won"), pl.col("lost")))
    )
    if links.from_accounts is not None:
        # An account's deals are added to each of its contacts' own.
        facts = (
            pl.concat([facts, links.from_accounts.lazy()])
            .group_by(KEY)
            .agg(pl.col(DEAL_FACTS).sum())
        )
    unknown = links.by_deal.filter(~pl.col("known"))
    counts = [
        # Every row of the file (the short-row check compares with it); deleted ones counted apart.
        pl.LazyFrame(
            {
                "deal_rows": [links.rows],
                **(
                    {"deleted_deal_rows": [links.deleted]} if "is_deleted" in deals.resolved else {}
                ),
            }
        ),
        flags.select(
            (pl.col("contact_ids").is_not_null() | pl.col("contact_emails").is_not_null())
            .sum()
            .alias("deals_with_refs")
        ),
        pl.concat(
            [
                linked.select(ROW),
                *([through_account.select(ROW)] if through_account is not None else []),
            ]
        )
        .lazy()
        .select(pl.col(ROW).n_unique().alias("deals_linked")),
        unknown.lazy().select(
            pl.len().alias("unknown_contact_refs"),
            pl.col(ROW).n_unique().alias("deals_with_unknown_contacts"),
        ),
    ]
    if from_contacts is not None:
        counts.append(
            from_contacts.lazy().select(
                pl.col(ROW).is_null().sum().alias("contact_deal_ids_not_in_deals")
            )
        )
    if through_account is not None:
        counts += [
            flags.select(pl.col(ACCOUNT).is_not_null().sum().alias("deals_with_accounts")),
            through_account.lazy().select(pl.len().alias("deals_linked_by_account")),
            links.from_accounts.lazy().select(pl.len().alias("contacts_linked_by_account")),
        ]
    return (
        facts,
        pl.concat(counts, how="horizontal"),
        unreadable_values(flags, deals, rules),
        links.unknown_stages,
    )


#: Columns of consent_facts' counts that are not link counts: events dated in the future, and
#: the first FUTURE_LISTED of their 0-based rows.
FUTURE_EVENTS, FUTURE_ROWS, FUTURE_LISTED = "future_events", "future_event_rows", 10


def consent_facts(
    consent: Source, ids: ContactIds, rules: Rules
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame | None, pl.DataFrame]:
    """(facts per contact key: marketing_consent, consent_double_opt_in, consent_unknown; one row of
    link counts; unreadable values; the statuses no list names, with counts: value, count)."""
    v = rules.values
    # The marketing type as its position in the list (null: not a marketing type).
    subscription = consent.raw("subscription_type")
    kind = None
    for i, name in enumerate(dict.fromkeys(v["marketing_subscription_types"])):
        hit = in_values(subscription, (name,))
        kind = (
            pl.when(hit).then(pl.lit(i, dtype=pl.Int16))
            if kind is None
            else kind.when(hit).then(pl.lit(i, dtype=pl.Int16))
        )
    # The event's facts read its columns as written (`IN @list` ignores surrounding spaces).
    event_facts, values = d.consent_event(rules)
    inputs = {"status": consent.raw("status"), "double_opt_in": consent.raw("double_opt_in")}
    # Read twice below, so worked out once each first: Polars does not share a repeated
    # subexpression (the timestamps would be parsed twice).
    texts = {"__lc_cid": consent.text("contact_id"), "__lc_ts_text": consent.text("timestamp")}
    contact_id, ts_text = (pl.col(name) for name in texts)
    once = {
        "__lc_unknown": event_facts["unknown"].polars(inputs, values),
        "__lc_ts": parse_datetime(ts_text, column_sample(consent, "timestamp")),
    }
    unknown, ts = (pl.col(name) for name in once)
    # A known Contact ID decides; otherwise every contact with that email (trimmed, any case).
    # The email is kept only for the rows that need it, so the events table stays small.
    events = (
        consent.frame.with_row_index(ROW)
        .with_columns(**texts)
        .with_columns(**once)
        .select(
            ROW,
            ids.key(contact_id).alias("cid"),
            consent.raw("email").alias("email"),
            (kind.otherwise(None) if kind is not None else pl.lit(None, dtype=pl.Int16)).alias(
                "type"
            ),
            *(event_facts[n].polars(inputs, values).alias(n) for n in ("subscribed", "doi")),
            unknown.alias("unknown"),
            pl.when(unknown).then(consent.raw("status")).alias("unknown_status"),
            ts.alias("ts"),
            *([bad_value(consent, "timestamp", ts, ts_text)] if consent.has("timestamp") else []),
            *every_field(
                consent,
                (
                    "contact_id",
                    "email",
                    "subscription_type",
                    "status",
                    "double_opt_in",
                    "timestamp",
                ),
            ),
        )
        .with_columns(ids.is_known(pl.col("cid")).alias("id_known"))
        .with_columns(pl.when(~pl.col("id_known")).then(pl.col("email")).alias("email"))
        .collect()
    )
    if consent.has("timestamp"):
        # Timestamps in a format the sample did not show are read again with every format.
        events = reread_datetimes(events, "ts", BAD_VALUE + "timestamp")
    bad = unreadable_values(events.lazy(), consent, rules)
    statuses = (
        events.filter(pl.col("unknown_status").is_not_null())
        .group_by(pl.col("unknown_status").str.strip_chars().alias("value"))
        .agg(pl.len().alias("count"))
        .sort(["count", "value"], descending=[True, False])
    )
    bad = bad.collect().lazy() if bad is not None else None
    emails = ids.frame.lazy().select(pl.col(KEY).alias("email_key"), "email").drop_nulls()
    cols = ("type", "subscribed", "doi", "ts", "unknown")
    by_id = events.lazy().filter(pl.col("id_known")).select(ROW, pl.col("cid").alias(KEY), *cols)
    # Two contacts may share an email: the event then counts for both (and once for each).
    by_email = (
        events.lazy()
        .filter(~pl.col("id_known") & pl.col("email").is_not_null())
        .with_columns(
            lowered(pl.col("email"))
        )  # only these emails are compared: lower-cased here, not all
        .join(emails, on="email", how="inner")
        .select(ROW, pl.col("email_key").alias(KEY), *cols)
        .unique(subset=[ROW, KEY])
    )
    matched = pl.concat([by_id, by_email]).collect()
    total = events.height
    # Events dated after now stay the latest of their contact: classify warns about them.
    future = events.filter(pl.col("ts") > datetime.now(UTC).replace(tzinfo=None))[ROW]
    del events
    found = matched.lazy()  # every row has a contact key
    # The places of the latest event, the last lapse and the last confirmation per contact and
    # type (definitions.CONSENT_PLACES), then the facts they decide (CONSENT_BY_TYPE).
    at = d.event_place_polars(pl.col("ts"), pl.col(ROW))
    event = {n: pl.col(n) for n in ("subscribed", "doi")}
    places = {n: pl.col(n) for n in d.CONSENT_PLACES}
    latest = (
        found.filter(pl.col("type").is_not_null())
        .select(KEY, "type", "subscribed", "doi", at.alias("at"))
        .group_by(KEY, "type")
        .agg(d.consent_places_polars(pl.col("at"), event))
        .select(KEY, *(f.polars(places).alias(n) for n, f in d.CONSENT_BY_TYPE.items()))
    )
    # A marketing event whose status no list names makes the contact's consent unknown: read as
    # "not subscribed" it could end a consent (and a double opt-in) that is still current.
    unknown = found.filter(pl.col("type").is_not_null() & pl.col("unknown")).select(KEY).unique()
    facts = (
        latest.group_by(KEY)
        .agg(
            pl.col("subscribed").any().alias("consent_marketing"),
            pl.col("doi").any().alias("consent_double_opt_in"),
        )
        .join(unknown.with_columns(pl.lit(True).alias("consent_unknown")), on=KEY, how="left")
    )
    counts = found.select(
        pl.lit(total).alias("consent_rows"),
        pl.col(ROW).n_unique().alias("consent_rows_matched"),
        (pl.lit(total) - pl.col(ROW).n_unique()).alias("consent_rows_unknown_contact"),
        pl.lit(future.len()).alias(FUTURE_EVENTS),
        pl.lit(future.head(FUTURE_LISTED).implode()).alias(FUTURE_ROWS),
    )
    return facts, counts, bad, statuses

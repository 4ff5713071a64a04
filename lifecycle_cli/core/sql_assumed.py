"""What `lifecycle sql` assumed: the columns a query reads from a table whose header file was not
given (the first header of each of the rules' columns), named in a comment at the query's top."""

from __future__ import annotations


#: The header option of each table's role.
HEADER_OPTIONS = {
    "contacts": "--contacts-header",
    "deals": "--deals-header",
    "consent": "--consent-header",
}


def assumed_columns(
    ruleset, dialect: str, tables: dict[str, str | None], given: set[str], query: str
) -> list[tuple[str, str, str]]:
    """(role, column as the query writes it, logical name) for every column the query reads from
    a table whose header file was not given: build_query then assumes each logical column's first
    header (core.sql's NOT_ASSUMED ones aside). Only the columns the query reads are listed (the
    default rules read no deal's `Associated Contact Email`)."""
    from sqlglot import exp

    from .sql import NOT_ASSUMED

    read = columns_read(query, dialect, tables)
    found = []
    for role, table in tables.items():
        if table is None or role in given:
            continue
        for name, spec in ruleset.columns[role].items():
            header = spec.headers[0]
            if name in NOT_ASSUMED.get(role, ()) or header not in read.get(role, {header}):
                continue
            written = exp.to_identifier(header, quoted=True).sql(dialect)
            found.append((role, f"{table}.{written}", name))
    return found


def columns_read(query: str, dialect: str, tables: dict[str, str | None]) -> dict[str, set[str]]:
    """Role -> the columns the query reads from that role's table (through the alias it gives the
    table). A role is left out when the query cannot be read back or reads none of the table's
    columns through an alias: then every column is listed."""
    from sqlglot import exp, parse_one
    from sqlglot.errors import SqlglotError

    try:
        tree = parse_one(query, read=dialect)
    except SqlglotError:
        return {}
    read: dict[str, set[str]] = {}
    for role, table in tables.items():
        if table is None:
            continue
        last = table.rsplit(".", 1)[-1].casefold()
        aliases = {t.alias_or_name for t in tree.find_all(exp.Table) if t.name.casefold() == last}
        columns = {c.name for c in tree.find_all(exp.Column) if c.table and c.table in aliases}
        if columns:  # none found: the query names them some other way, so list every one
            read[role] = columns
    return read


def printable(text: str) -> str:
    """Text safe on one line of a `--` comment: a line break in a header would end the comment."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def assumed_comment(assumed: list[tuple[str, str, str]]) -> str:
    """The comment the query starts with when it assumed columns: each one, and how to name the
    real ones."""
    roles = list(dict.fromkeys(role for role, _, _ in assumed))
    options = " ".join(f"{HEADER_OPTIONS[role]} FILE" for role in roles)
    without = " / ".join(f"--no-{role}" for role in roles if role != "contacts")
    lines = [
        f"-- lifecycle sql assumed these columns (no header file for {', '.join(roles)});",
        "-- a table without one of them makes the query fail:",
        *(f"--   {printable(column)} ({name})" for _, column, name in assumed),
        f"-- Name the real ones with {options}",
        "-- (a CSV whose header row lists the table's columns, such as the export itself)"
        + (f",\n-- or give {without} when there is no such table" if without else "")
        + ".",
        "-- Regenerate the query when the tables' columns change.",
    ]
    return "\n".join(lines) + "\n"

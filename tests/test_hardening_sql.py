"""Issue 20, SQL names are names: `lifecycle sql` takes table names as (qualified) identifiers and
quotes them, refuses anything else naming the option, and a control character in the rules file
is a rules error at its line. Through the real entry point; the queries run on DuckDB."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import CHANGES, EXAMPLES, OK, ROOT, USAGE, invoke_assert_code, read_csv

duckdb = pytest.importorskip("duckdb")


@pytest.mark.parametrize("option", ["--contacts-table", "--deals-table", "--consent-table"])
@pytest.mark.parametrize(
    "name",
    [
        # a table function: it reads a file of the machine running the query
        "read_csv('/etc/passwd')",
        "contacts'",  # a quote: sqlglot's tokenizer failed on it (exit 3)
        'contacts"; DROP TABLE deals; --',
        "contacts AS c, secrets",
        "a.b.c.d",
        "1contacts",
        "crm..contacts",
    ],
)
def test_a_table_option_takes_a_name_only(tmp_path: Path, option: str, name: str) -> None:
    run = invoke_assert_code(
        USAGE, "sql", "--dialect", "duckdb", option, name, "-o", tmp_path / "q.sql"
    )
    said = f"lifecycle: error: {option}: '{name}' is not a table or view name such as contacts"
    assert said in run.stderr
    assert not (tmp_path / "q.sql").exists()


def test_qualified_and_reserved_names_are_quoted_and_run(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA crm")
    for name, table in (
        ("contacts", 'crm."order"'),
        ("deals", "crm.deals"),
        ("consent", "main.consent"),
    ):
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_csv('{EXAMPLES / name}.csv', "
            "all_varchar = true, header = true)"
        )
    run = invoke_assert_code(
        OK,
        "sql",
        "--dialect",
        "duckdb",
        "--contacts-header",
        EXAMPLES / "contacts.csv",
        "--contacts-table",
        "crm.order",
        "--deals-table",
        "crm.deals",
        "--consent-table",
        "main.consent",
        "--rules",
        ROOT / "rules.yaml",
    )
    assert 'FROM "crm"."order" AS c' in run.stdout
    rows = con.execute(run.stdout).fetchall()
    assert len(rows) == len(read_csv(EXAMPLES / "contacts.csv"))


@pytest.mark.parametrize(
    "dialect, written",
    [
        ("snowflake", '"CRM"."CONTACTS"'),  # how Snowflake resolves crm.Contacts unquoted
        ("postgres", '"crm"."contacts"'),  # how PostgreSQL resolves it
        (
            "bigquery",
            "`my-project`.`crm`.`Contacts`",
        ),  # as written: its table names are case-sensitive
        ("spark", "`crm`.`Contacts`"),
    ],
)
def test_quoting_keeps_what_the_name_meant(dialect: str, written: str) -> None:
    name = "my-project.crm.Contacts" if dialect == "bigquery" else "crm.Contacts"
    run = invoke_assert_code(
        OK,
        "sql",
        "--dialect",
        dialect,
        "--contacts-header",
        EXAMPLES / "contacts.csv",
        "--contacts-table",
        name,
        "--rules",
        ROOT / "rules.yaml",
    )
    assert f"FROM {written} AS c" in run.stdout


def rules_with_value(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    text = text.replace("  - include: rule_cases/*.yaml\n", "")
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path = tmp_path / "rules.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, line


@pytest.mark.parametrize(
    "old, new, shown",
    [
        ("won_deal_stages: [closedwon,", 'won_deal_stages: ["closed\\0won",', "'closed\\x00won'"),
        ("    label: Lead\n", '    label: "Le\\x1b[2Jad"\n', "'Le\\x1b[2Jad'"),
        ("    - Attempted to contact\n", '    - "Attempted\\u0085to contact"\n', "(\\x85)"),
    ],
)
def test_a_control_character_in_the_rules_is_a_rules_error_at_its_line(
    tmp_path: Path, old: str, new: str, shown: str
) -> None:
    rules, line = rules_with_value(tmp_path, old, new)
    expected = f"lifecycle: error: {rules}:{line}: "
    for args in (
        [
            "sql",
            "--dialect",
            "postgres",
            "--contacts-header",
            EXAMPLES / "contacts.csv",
            "--rules",
            rules,
        ],
        ["classify", EXAMPLES / "contacts.csv", "--check", "--rules", rules],
        ["test", rules],
        ["rules", rules],
    ):
        run = invoke_assert_code(USAGE, *args)
        assert expected in run.stderr and "holds a control character" in run.stderr
        assert shown in run.stderr
        assert "\x1b" not in run.stderr and "\x00" not in run.stderr
    out = invoke_assert_code(CHANGES, "validate", rules).stdout
    assert f"{rules}:{line}: error: " in out and "holds a control character" in out


def test_tabs_and_line_breaks_in_the_rules_are_still_text(tmp_path: Path) -> None:
    rules, _ = rules_with_value(
        tmp_path,
        "    description: Everyone else.\n",
        '    description: "Everyone\\telse,\\nfor now."\n',
    )
    invoke_assert_code(OK, "validate", rules)


def test_odd_headers_still_make_valid_sql(tmp_path: Path) -> None:
    """Headers are quoted by sqlglot, whatever they hold: a quote, a backslash, a semicolon."""
    header = tmp_path / "contacts.csv"
    rows = read_csv(EXAMPLES / "contacts.csv")
    odd = ['Note "A"; DROP', "back\\slash", "it's", "[x](y)"]
    with header.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*rows[0].keys(), *odd])
        for row in rows:
            writer.writerow([*row.values(), *("v" for _ in odd)])
    run = invoke_assert_code(
        OK,
        "sql",
        "--dialect",
        "duckdb",
        "--contacts-header",
        header,
        "--no-deals",
        "--no-consent",
        "--rules",
        ROOT / "rules.yaml",
    )
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW contacts AS SELECT * FROM read_csv('{header}', all_varchar = true, "
        "header = true)"
    )
    result = con.execute(run.stdout)
    assert [d[0] for d in result.description][-4:] == odd

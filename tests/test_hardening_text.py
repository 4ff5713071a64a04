"""Issue 20, text from files is text: names, labels, rule ids and conditions from the exports and
the rules file are shown as written in every renderer (terminal, Markdown, HTML), never read as
Rich markup, links, images, emphasis or HTML. Through the real entry point, on real-looking files;
Markdown is rendered with markdown-it (CommonMark with GitHub's tables) to see what a CI summary
would show."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import CHANGES, CONTACT_HEADERS, OK, ROOT, invoke_assert_code, write_csv
from markdown_it import MarkdownIt

#: A contact's name (first and last) made to become a link, an image, emphasis and a script.
LINK_NAME = (
    "[Click](https://evil.example)",
    "![x](https://evil.example/t.png) *urgent* <script>x</script>",
)


def rendered(markdown: str) -> str:
    """The HTML a Markdown viewer makes of it (GitHub: CommonMark plus tables and strikethrough)."""
    return MarkdownIt("commonmark").enable("table").enable("strikethrough").render(markdown)


def without_our_script(page: str) -> str:
    """The page without the HTML report's own inline script (the change table's filters),
    exactly as the report writes it: any other script is still found."""
    from lifecycle_cli.report.changes_table import _SCRIPT

    for table_id in ("all-changes", "company-changes"):
        page = page.replace(f"<script>{_SCRIPT % {'id': table_id}}</script>", "")
    return page


def assert_inert(page: str) -> None:
    """Rendered Markdown or an HTML report with nothing from the files turned into markup."""
    page = without_our_script(page)
    for tag in ("<a ", "<img", "<script", "<em>", "<strong>urgent", "<del>"):
        assert tag not in page, f"{tag} in:\n{page}"


SALES_DESCRIPTION = (
    "    description: In 1:1 dialogue with sales (a sales-type lead status, or a "
    "logged sales contact)."
)


def rules_with(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """The default rules (without their case files) with some text replaced."""
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    text = text.replace("  - include: rule_cases/*.yaml\n", "")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def link_contacts(tmp_path: Path) -> Path:
    first, last = LINK_NAME
    return write_csv(
        tmp_path / "contacts.csv",
        CONTACT_HEADERS,
        [
            {
                "Record ID": "51234567801",
                "First Name": first,
                "Last Name": last,
                "Email": "ann@acme.example",
                "Lifecycle Stage": "customer",
                "Contact type": "Employee",
            },
            {
                "Record ID": "51234567802",
                "First Name": "Nina",
                "Last Name": "Vogel",
                "Email": "nina@mailbox.example",
                "Lifecycle Stage": "lead",
                "Lead Status": "Connected",
            },
        ],
    )


# --------------------------------------------------------------------------- reports


def test_a_name_made_of_markdown_stays_text_in_the_markdown_report(tmp_path: Path) -> None:
    contacts = link_contacts(tmp_path)
    md = invoke_assert_code(CHANGES, "classify", contacts, "--check", "-f", "markdown").stdout
    page = rendered(md)
    assert_inert(page)
    # What a reader sees is the name as written.
    assert "[Click](https://evil.example)" in page
    assert "![x](https://evil.example/t.png) *urgent* &lt;script&gt;x&lt;/script&gt;" in page
    # Our own markup is still markup.
    assert "<strong>Contacts</strong>" in page and "<table>" in page


def test_a_name_made_of_markup_stays_text_in_the_text_and_html_reports(tmp_path: Path) -> None:
    contacts = link_contacts(tmp_path)
    text = contacts.read_text(encoding="utf-8").replace("Nina", "Lead [/b] [bold]")
    (tmp_path / "c2.csv").write_text(text, encoding="utf-8")
    text = invoke_assert_code(CHANGES, "classify", tmp_path / "c2.csv", "--check")
    assert "Lead [/b] [bold]" in text.stderr and "[Click](https://evil.example)" in text.stderr
    page = invoke_assert_code(CHANGES, "classify", contacts, "--check", "-f", "html").stdout
    assert_inert(page)
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script" not in without_our_script(page)


def test_rule_ids_and_descriptions_from_the_rules_stay_text_in_reports(tmp_path: Path) -> None:
    rules = rules_with(
        tmp_path,
        (
            "  - id: sales_lead\n    stage: sales_lead\n",
            "  - id: _sales_lead_\n    stage: sales_lead\n",
        ),
        (SALES_DESCRIPTION, '    description: "[Docs](https://evil.example) | `x` <b>"'),
    )
    contacts = link_contacts(tmp_path)
    md = invoke_assert_code(
        CHANGES, "classify", contacts, "--check", "--rules", rules, "-f", "markdown"
    ).stdout
    page = rendered(md)
    assert_inert(page)
    assert "<b>" not in page and "<code>" not in page
    row = next(line for line in page.splitlines() if "_sales_lead_" in line and "<td>" in line)
    assert "[Docs](https://evil.example) | `x` &lt;b&gt;" in page, row


# --------------------------------------------------------------------------- lifecycle rules


def test_lifecycle_rules_shows_markup_in_a_label_as_written(tmp_path: Path) -> None:
    rules = rules_with(
        tmp_path,
        ("    label: Lead\n", '    label: "Lead [/b]"\n'),
        ("    label: Customer\n", '    label: "[bold red]Customer"\n'),
    )
    run = invoke_assert_code(OK, "rules", rules, "--no-color")
    assert "Lead [/b]" in run.stdout and "[bold red]Customer" in run.stdout


def test_lifecycle_rules_markdown_is_escaped(tmp_path: Path) -> None:
    rules = rules_with(
        tmp_path,
        ("    label: Lead\n", '    label: "<script>alert(1)</script>"\n'),
        (
            "    description: At least one associated deal was won.",
            '    description: "[Click](https://evil.example) ![i](https://evil.example/i.png) '
            '_x_ | y"',
        ),
        ("    when: won_deals > 0", "    when: won_deals > 0 OR lead_status = '`|`'"),
    )
    md = invoke_assert_code(OK, "rules", rules, "--format", "markdown").stdout
    page = rendered(md)
    assert_inert(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "[Click](https://evil.example) ![i](https://evil.example/i.png) _x_ | y" in page
    # The condition is one code span in its own cell, the backtick and bar inside it included.
    assert "<code>won_deals &gt; 0 OR lead_status = '`|`'</code>" in page


# ------------------------------------------------------------------ explain, validate, test


def test_explain_escapes_control_characters_from_the_export(tmp_path: Path) -> None:
    contacts = write_csv(
        tmp_path / "contacts.csv",
        [*CONTACT_HEADERS, "Note\x1b]0;owned\x07"],
        [
            {
                "Record ID": "51234567801",
                "Email": "ann@acme.example",
                "Lifecycle Stage": "lead",
                "Lead Status": "Connected\x1b[2J",
                "Contact type": "Employee\u202e",
            },
        ],
    )
    run = invoke_assert_code(OK, "explain", contacts, "51234567801")
    assert "\x1b" not in run.stdout and "\u202e" not in run.stdout
    assert "Connected\\x1b[2J" in run.stdout


def test_validate_and_test_escape_text_from_the_rules_file(tmp_path: Path) -> None:
    case = (
        'tests:\n  - name: "fake\\nx PASSED [bold]"\n'
        "    contact: {Lifecycle Stage: Lead}\n    expect: {stage: Customer}\n"
    )
    rules = rules_with(tmp_path, ("tests:\n", case))
    run = invoke_assert_code(CHANGES, "test", rules)
    assert "fake\\nx PASSED [bold] FAILED" in run.stdout
    assert not any(line.startswith("x PASSED") for line in run.stdout.splitlines())
    bad = rules_with(
        tmp_path,
        (
            '    when: "true"\n',
            '    when: "true"\n  - id: "\\u202etwin"\n    stage: lead\n    when: won_deals > 3\n',
        ),
    )
    out = invoke_assert_code(CHANGES, "validate", bad).stdout
    assert "\u202e" not in out and "\\u202etwin" in out


def test_json_keeps_the_text_as_it_is(tmp_path: Path) -> None:
    contacts = link_contacts(tmp_path)
    run = invoke_assert_code(CHANGES, "classify", contacts, "--check", "-f", "json")
    data = json.loads(run.stdout)
    names = {s["name"] for s in data["samples"]}
    assert " ".join(LINK_NAME) in names
    assert re.search(r"\*urgent\*", json.dumps(data))


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_diff_reports_escape_names_too(tmp_path: Path, fmt: str) -> None:
    contacts = link_contacts(tmp_path)
    after = tmp_path / "after.csv"
    text = contacts.read_text(encoding="utf-8")
    after.write_text(text.replace("customer", "other"), encoding="utf-8")
    out = invoke_assert_code(OK, "diff", contacts, after, "-f", fmt).stdout
    assert_inert(rendered(out) if fmt == "markdown" else out)

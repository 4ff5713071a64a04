"""A broken rules.yaml is exit 2 with the file, the YAML line, the rule id and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, USAGE, invoke_assert_code

DEFAULT_RULES = (ROOT / "rules.yaml").read_text(encoding="utf-8")


def broken_rules(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The default rules with one edit; returns the file and the 1-based line of the edit."""
    assert DEFAULT_RULES.count(old) == 1, old
    text = DEFAULT_RULES.replace(old, new)
    line = DEFAULT_RULES[: DEFAULT_RULES.index(old)].count("\n") + 1
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path, line


CASES = [
    # (edit from, edit to, words the message must contain)
    ("    when: won_deals > 0", "    when: won_deals >", ["rule 'customer'", "SQL syntax error"]),
    (
        "    when: open_deals > 0",
        "    when: open_deal > 0",
        ["rule 'opportunity'", "unknown column 'open_deal'", "did you mean 'open_deals'"],
    ),
    (
        "    when: won_deals > 0",
        "    when: frobnicate(won_deals) > 0",
        ["rule 'customer'", "unknown function 'frobnicate'", "lower"],
    ),
    (
        "    when: won_deals > 0",
        "    when: won_deals",
        ["rule 'customer'", "must be true or false"],
    ),
    (
        "    when: won_deals > 0",
        "    when: lead_status > 3",
        ["rule 'customer'", "cannot compare text with a number"],
    ),
    (
        "    when: won_deals > 0",
        "    when: lead_status IN @sales_statuses",
        ["unknown value list '@sales_statuses'", "sales_lead_statuses"],
    ),
    (
        "    stage: customer\n    description: At least",
        "    stage: customomer\n    description: At least",
        ["unknown stage 'customomer'", "did you mean 'customer'"],
    ),
    (
        "  - id: opportunity\n    stage: opportunity",
        "  - id: customer\n    stage: opportunity",
        ["duplicate rule id 'customer'"],
    ),
    (
        "    overrides_sticky: true",
        "    overides_sticky: true",
        ["unknown key 'overides_sticky'", "did you mean 'overrides_sticky'"],
    ),
    (
        "    sticky: true\n    ranked: false",
        "    sticky: maybe\n    ranked: false",
        ["expected true or false, got 'maybe'"],
    ),
    (
        "  - id: lead\n    stage: lead\n    description: Everyone else.",
        "  - id: lead\n    stage: lead\n    description: [Everyone else.",
        ["invalid YAML"],
    ),
]


@pytest.mark.parametrize("old,new,words", CASES, ids=[c[2][0] for c in CASES])
def test_broken_rules_name_the_line(
    tmp_path: Path, examples: Path, old: str, new: str, words: list[str]
) -> None:
    rules, line = broken_rules(tmp_path, old, new)
    run = invoke_assert_code(USAGE, "classify", examples / "contacts.csv", "--rules", rules)
    message = run.stderr
    assert f"{rules}:" in message
    # The reported line is the edited one (or, for YAML syntax errors, within the edited block).
    reported = int(message.split(f"{rules}:")[1].split(":")[0])
    assert line <= reported <= line + new.count("\n") + 1, message
    for word in words:
        assert word in message, message
    assert not (examples / "contacts.reclassified.csv").exists()


def test_shadowed_rule_is_a_warning(tmp_path: Path, examples: Path) -> None:
    rules, line = broken_rules(tmp_path, "    when: won_deals > 0", '    when: "true"')
    run = invoke_assert_code(
        0, "classify", examples / "contacts.csv", "--rules", rules, "-o", tmp_path / "out.csv"
    )
    assert "rule 'opportunity' can never decide" in run.stderr


@pytest.mark.parametrize(
    "old,new,words",
    [
        (
            "    when: open_deals > 0",
            "    when: won_deals > 0",
            "rule 'opportunity' can never decide: rule 'customer' before it has the same condition",
        ),
        (
            "    when: open_deals > 0",
            '    when: "false"',
            "rule 'opportunity' can never match: its condition is always false",
        ),
    ],
)
def test_rules_that_never_decide_are_warnings(
    tmp_path: Path, examples: Path, old: str, new: str, words: str
) -> None:
    rules, line = broken_rules(tmp_path, old, new)
    run = invoke_assert_code(
        0, "classify", examples / "contacts.csv", "--rules", rules, "-o", tmp_path / "out.csv"
    )
    assert f"lifecycle: warning: {rules}:" in run.stderr and words in run.stderr


def test_unreadable_deal_and_consent_values_name_the_rule(tmp_path: Path, examples: Path) -> None:
    deals = (examples / "deals.csv").read_text(encoding="utf-8").splitlines()
    header = deals[0].split(",")
    won = header.index("Is Closed Won")
    cells = deals[1].split(",")
    cells[won] = "perhaps"
    (examples / "deals.csv").write_text(
        "\n".join([deals[0], ",".join(cells), *deals[2:]]) + "\n", encoding="utf-8"
    )
    run = invoke_assert_code(
        USAGE, "classify", examples / "contacts.csv", "--deals", examples / "deals.csv"
    )
    assert "column 'Is Closed Won': 1 row holds values that are not true/false" in run.stderr
    assert (
        "1 value, first at row 2;" in run.stderr
        and "needed by rule(s): customer, opportunity" in run.stderr
    )
    assert (
        "perhaps" not in run.stderr
    )  # values other than stages are not shown: a shifted row puts names there


def test_missing_rules_file(examples: Path) -> None:
    run = invoke_assert_code(USAGE, "classify", examples / "contacts.csv", "--rules", "nope.yaml")
    assert "nope.yaml: rules file not found" in run.stderr


def test_rules_discovery_order(tmp_path: Path, examples: Path) -> None:
    """--rules beats $LIFECYCLE_RULES, which beats ./rules.yaml, which beats the built-in rules."""
    local, _ = broken_rules(tmp_path, "    when: won_deals > 0", "    when: won_deals >")
    env_rules = tmp_path / "env.yaml"
    env_rules.write_text(
        DEFAULT_RULES.replace("rule_column: Lifecycle Rule", "rule_column: Decided By"),
        encoding="utf-8",
    )
    contacts = examples / "contacts.csv"
    # ./rules.yaml (broken) is found from the working directory...
    invoke_assert_code(USAGE, "classify", contacts, "--check", cwd=tmp_path)
    # ...but $LIFECYCLE_RULES wins over it,
    invoke_assert_code(
        0,
        "classify",
        contacts,
        "-o",
        tmp_path / "a.csv",
        cwd=tmp_path,
        env={"LIFECYCLE_RULES": str(env_rules)},
    )
    assert "Decided By" in (tmp_path / "a.csv").read_text(encoding="utf-8").splitlines()[0]
    # and --rules wins over both.
    invoke_assert_code(
        0,
        "classify",
        contacts,
        "-o",
        tmp_path / "b.csv",
        "--rules",
        ROOT / "rules.yaml",
        cwd=tmp_path,
        env={"LIFECYCLE_RULES": str(tmp_path / "missing.yaml")},
    )
    assert "Lifecycle Rule" in (tmp_path / "b.csv").read_text(encoding="utf-8").splitlines()[0]

"""`lifecycle test`: the test cases that live with a rules file. Issue 13."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import CHANGES, OK, ROOT, USAGE, invoke_assert_code

DEFAULT = (ROOT / "rules.yaml").read_text(encoding="utf-8")


def count_cases() -> int:
    inline = [c for c in yaml.safe_load(DEFAULT)["tests"] if "include" not in c]
    included = sum(
        len(yaml.safe_load(p.read_text(encoding="utf-8")) or [])
        for p in (ROOT / "rule_cases").glob("*.yaml")
    )
    return len(inline) + included


def test_the_default_rules_pass_their_own_cases(tmp_path: Path) -> None:
    """Run where no ./rules.yaml is: the packaged default rules and their cases."""
    run = invoke_assert_code(OK, "test", cwd=tmp_path)
    n = count_cases()
    assert n >= 100 and f"==== {n} passed in" in run.stdout
    assert run.stdout.count(" PASSED") == n and "FAILED" not in run.stdout


def write_rules(folder: Path, text: str) -> Path:
    path = folder / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    (folder / "rule_cases").mkdir(exist_ok=True)
    for case_file in (ROOT / "rule_cases").glob("*.yaml"):
        (folder / "rule_cases" / case_file.name).write_bytes(case_file.read_bytes())
    return path


def test_a_rule_change_shows_which_cases_it_breaks(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, DEFAULT.replace("when: won_deals > 0", "when: won_deals > 1"))
    run = invoke_assert_code(CHANGES, "test", rules, "-q")
    assert (
        "rules.yaml:" in run.stdout
        and "a contact with a won deal is a customer FAILED" in run.stdout
    )
    assert "stage: expected 'Customer', got 'Lead'" in run.stdout
    assert "rule_cases/customer.yaml:4 won deal makes a lead a customer FAILED" in run.stdout
    assert " PASSED" not in run.stdout, "-q lists only the failures"
    summary = run.stdout.strip().splitlines()[-1]
    assert summary.startswith("==== ") and " failed, " in summary


def test_a_wrong_expectation_fails_with_expected_and_actual(tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path,
        DEFAULT.replace(
            "    deals: [{Deal Stage: closedwon}]\n    expect: {stage: Customer, rule: customer}",
            "    deals: [{Deal Stage: closedwon}]\n    expect: {stage: Opportunity, rule: "
            "opportunity}",
        ),
    )
    run = invoke_assert_code(CHANGES, "test", rules)
    assert "stage: expected 'Opportunity', got 'Customer'" in run.stdout
    assert "==== 1 failed," in run.stdout


def test_missing_columns_in_a_case(tmp_path: Path) -> None:
    """`missing:` drops a column from the case's export: unknown, not empty, so the stage is
    kept."""
    case = """
  - name: a sales lead kept for lack of Last Contacted
    contact: {Lifecycle Stage: SQL, Lead Status: New}
    missing: [Last Contacted]
    expect: {stage: Sales Lead, rule: kept-unknown}
  - name: the same sales lead with an empty Last Contacted is a lead
    contact: {Lifecycle Stage: SQL, Lead Status: New}
    expect: {stage: Lead, rule: lead}
"""
    rules = write_rules(tmp_path, DEFAULT.replace("tests:\n", "tests:" + case, 1))
    run = invoke_assert_code(OK, "test", rules)
    assert "a sales lead kept for lack of Last Contacted PASSED" in run.stdout


def test_bad_test_sections_name_the_line(tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path, DEFAULT.replace("include: rule_cases/*.yaml", "include: nowhere/*.yaml")
    )
    run = invoke_assert_code(USAGE, "test", rules)
    line = next(i for i, text in enumerate(rules.read_text().splitlines(), 1) if "nowhere" in text)
    assert f"rules.yaml:{line}: no file matches 'nowhere/*.yaml'" in run.stderr
    rules = write_rules(
        tmp_path,
        DEFAULT.replace(
            "    expect: {stage: Customer, rule: customer}",
            "    expected: {stage: Customer, rule: customer}",
        ),
    )
    run = invoke_assert_code(USAGE, "test", rules)
    assert "unknown key 'expected' in a test case" in run.stderr
    bare = DEFAULT[: DEFAULT.index("\n# Test cases:")] + "\n"
    run = invoke_assert_code(USAGE, "test", write_rules(tmp_path, bare))
    assert "has no test cases" in run.stderr

"""`lifecycle init` and `lifecycle rules`: a starter rules file with its cases, and the rules
listed. Issue 13."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, OK, ROOT, USAGE, invoke_assert_code

DEFAULT = yaml.safe_load((ROOT / "rules.yaml").read_text(encoding="utf-8"))


def test_init_writes_the_default_rules_and_their_cases(tmp_path: Path) -> None:
    run = invoke_assert_code(OK, "init", cwd=tmp_path)
    assert (tmp_path / "rules.yaml").read_bytes() == (ROOT / "rules.yaml").read_bytes()
    assert sorted(p.name for p in (tmp_path / "rule_cases").iterdir()) == sorted(
        p.name for p in (ROOT / "rule_cases").iterdir()
    )
    assert "lifecycle validate && lifecycle test" in run.stderr
    tested = invoke_assert_code(OK, "test", cwd=tmp_path)
    assert "rules.yaml" in tested.stdout.splitlines()[0] and " passed in " in tested.stdout


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    invoke_assert_code(OK, "init", cwd=tmp_path)
    (tmp_path / "rules.yaml").write_text("# my edits\n", encoding="utf-8")
    run = invoke_assert_code(USAGE, "init", cwd=tmp_path)
    assert "rules.yaml" in run.stderr and "--force" in run.stderr
    assert (tmp_path / "rules.yaml").read_text(encoding="utf-8") == "# my edits\n"
    invoke_assert_code(OK, "init", "--force", cwd=tmp_path)
    assert (tmp_path / "rules.yaml").read_bytes() == (ROOT / "rules.yaml").read_bytes()


def test_init_german_preset_has_german_cases(tmp_path: Path) -> None:
    invoke_assert_code(OK, "init", "--preset", "hubspot-de", cwd=tmp_path)
    text = (tmp_path / "rules.yaml").read_text(encoding="utf-8")
    assert "Lifecycle-Phase" in text and "tests:" in text
    run = invoke_assert_code(OK, "test", cwd=tmp_path)
    assert "ein Kontakt mit gewonnenem Deal wird Kunde PASSED" in run.stdout
    run = invoke_assert_code(USAGE, "init", "--preset", "hubspot-fr", cwd=tmp_path / "..")
    assert "unknown preset 'hubspot-fr'" in run.stderr


def test_the_starter_rules_are_found_by_classify(tmp_path: Path) -> None:
    invoke_assert_code(OK, "init", cwd=tmp_path)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace(
            "rule_column: Lifecycle Rule", "rule_column: Decided By"
        ),
        encoding="utf-8",
    )
    (tmp_path / "contacts.csv").write_bytes((EXAMPLES / "contacts.csv").read_bytes())
    invoke_assert_code(OK, "classify", "contacts.csv", "-q", cwd=tmp_path)
    header = (tmp_path / "contacts.reclassified.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "Decided By" in header


def test_rules_lists_stages_and_rules_in_order(tmp_path: Path) -> None:
    run = invoke_assert_code(OK, "rules", "--format", "json", cwd=tmp_path)
    view = json.loads(run.stdout)
    assert [s["id"] for s in view["stages"]] == [s["id"] for s in DEFAULT["stages"]]
    assert [r["id"] for r in view["rules"]] == [r["id"] for r in DEFAULT["rules"]]
    assert view["rules"][1]["when"] == DEFAULT["rules"][1]["when"]
    assert re.fullmatch(r"[0-9a-f]{12}", view["rules_hash"])
    md = invoke_assert_code(OK, "rules", "--format", "markdown", cwd=tmp_path).stdout
    assert "| 1 | other | other (overrides sticky) |" in md
    text = invoke_assert_code(OK, "rules", cwd=tmp_path).stdout
    for rule in DEFAULT["rules"]:
        assert rule["id"] in text


def broken_rules(folder: Path) -> Path:
    """The default rules with five independent mistakes a person makes when editing them."""
    text = (
        (ROOT / "rules.yaml")
        .read_text(encoding="utf-8")
        .replace("  - include: rule_cases/*.yaml\n", "")
    )
    for old, new in [
        ("when: won_deals > 0", "when: won_deals >"),  # syntax
        (
            "    stage: opportunity\n    description: At least one",
            "    stage: oportunity\n    description: At least one",
        ),
        ("lead_status IN @sales_lead_statuses", "lead_status IN @sales_lead_status"),  # value list
        (
            '    description: Everyone else.\n    when: "true"\n',
            '    description: Everyone else.\n    when: "true"\n  - id: customer\n    stage: '
            "customer\n    when: won_deals > 2\n",
        ),
        (
            "    contact_type: [Contact type, contact_type]\n",
            "    contact_type: [Contact type, contact_type]\n    lead_sorce: [Lead Source]\n",
        ),
    ]:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = folder / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, fragment: str) -> int:
    return next(
        i
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if fragment in line
    )


def test_validate_lists_every_problem_at_once_with_its_line(tmp_path: Path) -> None:
    rules = broken_rules(tmp_path)
    run = invoke_assert_code(1, "validate", rules)
    out = run.stdout
    assert (
        f"rules.yaml:{line_of(rules, 'won_deals >')}: error:" in out
        and "> needs a value on each side" in out
    )
    assert (
        f"rules.yaml:{line_of(rules, 'stage: oportunity')}: error: rule 'opportunity': unknown "
        "stage 'oportunity'; did you mean 'opportunity'?" in out
    )
    assert "unknown value list '@sales_lead_status'; did you mean 'sales_lead_statuses'?" in out
    assert "duplicate rule id 'customer'" in out
    assert out.strip().splitlines()[-1].endswith("4 errors, 0 warnings")


def test_validate_warns_about_unused_columns_and_rules_that_never_decide(tmp_path: Path) -> None:
    text = (
        (ROOT / "rules.yaml")
        .read_text(encoding="utf-8")
        .replace("  - include: rule_cases/*.yaml\n", "")
    )
    text = text.replace(
        "    contact_type: [Contact type, contact_type]\n",
        "    contact_type: [Contact type, contact_type]\n    lead_sorce: [Lead Source]\n",
    )
    text = text.replace(
        '    description: Everyone else.\n    when: "true"\n',
        '    description: Everyone else.\n    when: "true"\n  - id: never\n    stage: lead\n    '
        "when: won_deals > 5\n",
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(text, encoding="utf-8")
    run = invoke_assert_code(1, "validate", rules, "--format", "json")
    report = json.loads(run.stdout)
    assert report["ok"] is False
    found = {(p["line"], p["severity"]) for p in report["problems"]}
    assert (line_of(rules, "lead_sorce"), "warning") in found
    assert (line_of(rules, "id: never"), "warning") in found
    assert any("can never decide" in p["message"] for p in report["problems"])


def test_validate_passes_the_shipped_rules_and_presets(tmp_path: Path) -> None:
    assert (
        invoke_assert_code(OK, "validate", cwd=tmp_path).stdout.strip()
        == "default rules: no problems found"
    )
    run = invoke_assert_code(OK, "validate", "--preset", "hubspot-de")
    assert "no problems found" in run.stdout
    invoke_assert_code(USAGE, "validate", tmp_path / "nope.yaml")


def test_validate_reports_bad_yaml_and_bad_test_cases(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("stages:\n  - id: lead\n    label: [unclosed\n", encoding="utf-8")
    run = invoke_assert_code(1, "validate", rules)
    assert "rules.yaml:" in run.stdout and "invalid YAML" in run.stdout
    text = (
        (ROOT / "rules.yaml")
        .read_text(encoding="utf-8")
        .replace("include: rule_cases/*.yaml", "include: nothing/*.yaml")
    )
    rules.write_text(text, encoding="utf-8")
    run = invoke_assert_code(1, "validate", rules)
    assert (
        f"rules.yaml:{line_of(rules, 'nothing/*.yaml')}: error: no file matches 'nothing/*.yaml'"
        in run.stdout
    )


def test_rules_beside_the_contacts_are_found_from_anywhere(tmp_path: Path) -> None:
    """A cron job runs from / or $HOME: the rules kept with the exports are used, and the report
    says so."""
    data, elsewhere = tmp_path / "data", tmp_path / "cron-home"
    data.mkdir()
    elsewhere.mkdir()
    (data / "contacts.csv").write_bytes((EXAMPLES / "contacts.csv").read_bytes())
    rules = data / "rules.yaml"
    rules.write_text(
        (ROOT / "rules.yaml")
        .read_text(encoding="utf-8")
        .replace("rule_column: Lifecycle Rule", "rule_column: Decided By"),
        encoding="utf-8",
    )
    run = invoke_assert_code(
        OK, "classify", data / "contacts.csv", "-q", "--format", "json", cwd=elsewhere
    )
    report = json.loads(run.stdout)
    assert report["files"]["rules"] == str(rules)
    import hashlib

    assert report["run"]["rules_hash"] == hashlib.sha256(rules.read_bytes()).hexdigest()[:12]
    assert (
        "Decided By"
        in (data / "contacts.reclassified.csv").read_text(encoding="utf-8").splitlines()[0]
    )
    # A rules.yaml in the working directory still comes first.
    (elsewhere / "rules.yaml").write_bytes((ROOT / "rules.yaml").read_bytes())
    run = invoke_assert_code(
        OK, "classify", data / "contacts.csv", "-q", "--format", "json", "-o", "-", cwd=elsewhere
    )
    assert '"rules": "rules.yaml"' in run.stderr


def test_reports_carry_the_run_time_and_the_rules_hash(examples: Path) -> None:
    run = invoke_assert_code(
        OK,
        "classify",
        "contacts.csv",
        "--report",
        "r.md",
        "-q",
        cwd=examples,
        env={"SOURCE_DATE_EPOCH": "1780000000"},
    )
    md = (examples / "r.md").read_text(encoding="utf-8")
    assert "| **Run at** | 2026-05-28 20:26:40 UTC |" in md
    assert re.search(r"\| \*\*Rules\*\* \| default rules \(hash [0-9a-f]{12}\) \|", md)
    assert run.stderr == ""


@pytest.mark.parametrize(
    "command",
    [[], ["classify"], ["diff"], ["sql"], ["test"], ["explain"], ["validate"], ["rules"], ["init"]],
    ids=lambda c: c[0] if c else "lifecycle",
)
def test_every_help_ends_with_an_example_to_copy(command: list[str]) -> None:
    run = invoke_assert_code(OK, *command, "--help")
    last = [line.strip() for line in run.stdout.splitlines() if line.strip()][-1]
    assert last.startswith("Example: lifecycle "), last


def test_shell_completion_is_offered() -> None:
    run = invoke_assert_code(OK, "--help")
    assert "--install-completion" in run.stdout and "--show-completion" in run.stdout

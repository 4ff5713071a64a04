"""`lifecycle init` and `lifecycle rules`: a starter rules file with its cases, and the rules listed. Issue 13."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from conftest import EXAMPLES, OK, ROOT, USAGE, invoke_assert_code

DEFAULT = yaml.safe_load((ROOT / "rules.yaml").read_text(encoding="utf-8"))


def test_init_writes_the_default_rules_and_their_cases(tmp_path: Path) -> None:
    run = invoke_assert_code(OK, "init", cwd=tmp_path)
    assert (tmp_path / "rules.yaml").read_bytes() == (ROOT / "rules.yaml").read_bytes()
    assert sorted(p.name for p in (tmp_path / "rule_cases").iterdir()) == sorted(p.name for p in (ROOT / "rule_cases").iterdir())
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
    rules.write_text(rules.read_text(encoding="utf-8").replace("rule_column: Lifecycle Rule", "rule_column: Decided By"),
                     encoding="utf-8")
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

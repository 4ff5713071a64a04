"""The README's recipes, run as written: the cron line under cron's environment, the GitHub
Actions step with a temporary file as $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
#: Where the installed command is: the `lifecycle` script beside this Python (pip install -e).
INSTALLED = Path(sys.executable).parent / "lifecycle"
CRON_PATH = "/usr/bin:/bin"  #: the PATH cron gives a job


def _block(kind: str, containing: str) -> str:
    """The README's fenced block of `kind` (```crontab, ```yaml, ...) holding `containing`."""
    blocks = re.findall(rf"```{kind}\n(.*?)```", README, flags=re.S)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"expected one ```{kind} block with {containing!r} in README.md"
    return found[0]


def _cron_command(line: str) -> str:
    """What cron runs for a crontab line: the command after the five time fields, with `\\%`
    as `%` (an unescaped % would end the command)."""
    fields = line.split(None, 5)
    assert len(fields) == 6 and fields[:5] == ["0", "2", "*", "*", "*"], line
    assert re.search(r"(?<!\\)%", fields[5]) is None, "an unescaped % in a crontab line"
    return fields[5].replace("\\%", "%")


def _export_without_last_contacted(folder: Path) -> None:
    with (EXAMPLES / "contacts.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    headers = [h for h in rows[0] if h != "Last Contacted"]
    with (folder / "contacts.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=headers, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    for name in ("deals.csv", "consent.csv"):
        shutil.copy(EXAMPLES / name, folder / name)


@pytest.mark.skipif(not INSTALLED.exists(), reason="lifecycle is not installed beside this Python")
def test_cron_recipe_runs_as_written_under_cron_environment(tmp_path: Path) -> None:
    folder = tmp_path / "hubspot"
    folder.mkdir()
    _export_without_last_contacted(folder)
    cron_env = [
        "env",
        "-i",
        f"HOME={tmp_path}",
        "LOGNAME=cron",
        "SHELL=/bin/sh",
        f"PATH={CRON_PATH}",
    ]
    # Once: `lifecycle init` by full path, then the README's column line in rules.yaml.
    once = _block("sh", "/opt/lifecycle/bin/lifecycle init")
    init = next(line for line in once.splitlines() if "lifecycle init" in line)
    init = init.split("#")[0].replace("/opt/lifecycle/bin/lifecycle", str(INSTALLED))
    done = subprocess.run(
        [*cron_env, "/bin/sh", "-c", init], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    declared = _block("yaml", "missing: absent").strip()
    rules = (folder / "rules.yaml").read_text(encoding="utf-8")
    listed = re.search(r"^ *last_contacted: .*$", rules, flags=re.M)
    assert listed, "lifecycle init's rules.yaml names last_contacted"
    rules = rules.replace(listed.group(0), " " * 4 + declared)
    (folder / "rules.yaml").write_text(rules, encoding="utf-8")

    line = _block("crontab", "lifecycle classify").strip()
    assert "\n" not in line, "a crontab entry is one line"
    command = _cron_command(line)
    assert "/opt/lifecycle/bin/lifecycle classify" in command and "mkdir -p" in command
    assert "--history" in command and "--strict" in command
    command = command.replace("/data/hubspot", str(folder)).replace(
        "/opt/lifecycle/bin/lifecycle", str(INSTALLED)
    )
    # The command as cron runs it: /bin/sh -c, from the home folder, with cron's environment.
    nights = []
    for _ in range(2):
        run = subprocess.run(
            [*cron_env, "/bin/sh", "-c", command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        nights.append(run)
        assert run.returncode == 0, run.stderr
        assert "lifecycle exit" not in run.stderr, run.stderr  # the `|| echo` did not fire
    reports = folder / "reports"
    runs = json.loads(
        subprocess.run(
            [str(INSTALLED), "history", str(reports / "history"), "--format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )["runs"]
    assert len(runs) == 2 and runs[0]["moves"] == runs[1]["moves"]
    changed = runs[0]["moves"]["changed"]
    assert changed > 0
    (report,) = reports.glob("20*.md")
    assert f"{changed} of 52 contacts change stage" in report.read_text(encoding="utf-8")
    (changes,) = reports.glob("changes-20*.csv")
    assert len(changes.read_text(encoding="utf-8").splitlines()) == changed + 1
    assert {p.name for p in (folder / "import").iterdir()} >= {
        "contacts-1-clear-stage.csv",
        "contacts-2-set-stage.csv",
        "README.txt",
    }
    # The absent column is a note, not a warning: --strict passed on an export without it.
    assert runs[0]["diagnostics"]["warning"] == 0 and runs[0]["diagnostics"]["note"] >= 1

    # Without the declaration, the same line stops with exit 2 and writes nothing new.
    (folder / "rules.yaml").write_text(rules.replace(", missing: absent", ""), encoding="utf-8")
    run = subprocess.run(
        [*cron_env, "/bin/sh", "-c", command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "lifecycle exit 2" in run.stderr and "--strict" in run.stderr
    assert len(list((reports / "history").iterdir())) == 2


def test_github_actions_recipe_puts_the_gate_reason_in_the_summary(tmp_path: Path) -> None:
    workflow = yaml.safe_load(_block("yaml", "GITHUB_STEP_SUMMARY"))
    trigger = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    paths = trigger["pull_request"]["paths"]
    assert "rules.yaml" in paths and "exports/**" in paths
    steps = workflow["jobs"]["lifecycle"]["steps"]
    checks = next(s["run"] for s in steps if "lifecycle validate" in s.get("run", ""))
    classify = next(s["run"] for s in steps if "lifecycle classify" in s.get("run", ""))
    assert "--redact" in classify and "$GITHUB_STEP_SUMMARY" in classify

    repo = tmp_path / "repo"
    (repo / "exports").mkdir(parents=True)
    for name in ("contacts.csv", "deals.csv"):
        shutil.copy(EXAMPLES / name, repo / "exports" / name)
    shutil.copy(ROOT / "rules.yaml", repo / "rules.yaml")
    shutil.copytree(ROOT / "rule_cases", repo / "rule_cases")
    summary = tmp_path / "summary.md"
    summary.write_text("", encoding="utf-8")
    runner = tmp_path / "runner"
    runner.mkdir()
    env = {
        "PATH": f"{INSTALLED.parent}:{CRON_PATH}",
        "HOME": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(runner),
    }
    # GitHub runs a `run:` step as `bash -e {0}`.
    ok = subprocess.run(
        ["bash", "-e", "-c", checks], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    step = subprocess.run(
        ["bash", "-e", "-c", classify],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # A customer moves to Other in the examples: the gate trips, the step fails.
    assert step.returncode == 1, step.stderr
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## lifecycle classify: exports/contacts.csv")
    # The reason, near the top (Markdown: &gt; shows as >, \* as *).
    assert (
        "\n- **Gate tripped: --fail-on customer-&gt;\\*: 1 contact moved customer -&gt; "
        "\\***\n" in text[:400]
    )
    assert "lifecycle: --fail-on customer->*" in step.stderr
    # Redacted: no names, no emails in what anyone with read access sees.
    assert "@" not in text and "Karl" not in text and "Lindqvist" not in text
    assert "names and emails are left out" in text
    assert (runner / "reclassified.csv").exists()

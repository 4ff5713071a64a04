"""Run history (--history, lifecycle history) and the gates that compare a run with it."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import (
    CHANGES,
    EXAMPLES,
    OK,
    ROOT,
    USAGE,
    chromium,
    invoke_assert_code,
    read_csv,
    run_cli,
)
from terminal import run_in_terminal

DAY = 86400
EPOCH = 1767225600  #: 2026-01-01, the first night
GATES = ("--fail-on", "demotion>3x", "--fail-on", "demotion>2%")


def _night(i: int) -> dict:
    return {"SOURCE_DATE_EPOCH": str(EPOCH + i * DAY)}


def _rewrite(path: Path, change) -> None:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    headers = list(rows[0])
    rows = [r for r in (change(dict(r)) for r in rows) if r is not None]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=headers, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def nights(tmp_path: Path) -> Path:
    """A folder as a nightly job sees it: the export as it stands after an earlier cleanup
    (classify changes nothing in it), the deals and consent."""
    folder = tmp_path / "hubspot"
    folder.mkdir()
    for name in ("contacts.csv", "deals.csv", "consent.csv"):
        shutil.copy(EXAMPLES / name, folder / name)
    invoke_assert_code(
        OK,
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "-o",
        "stable.csv",
        "-q",
        cwd=folder,
    )
    return folder


def _export_for(folder: Path, night: int) -> None:
    """Tonight's export: the stable one where one Marketing Lead unsubscribed from all email
    (a demotion, as on any night)."""
    shutil.copy(folder / "stable.csv", folder / "contacts.csv")
    mqls = [
        r["Record ID"]
        for r in read_csv(folder / "stable.csv")
        if r["Lifecycle Stage"] in ("marketingqualifiedlead", "Marketing Qualified Lead", "MQL")
    ]
    gone = mqls[night % len(mqls)]

    def unsubscribe(row: dict) -> dict:
        if row["Record ID"] == gone:
            row["Unsubscribed from all email"] = "true"
        return row

    _rewrite(folder / "contacts.csv", unsubscribe)


def _classify(folder: Path, night: int, *extra: str):
    return run_cli(
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "-o",
        "out.csv",
        "--history",
        "history",
        *GATES,
        *extra,
        cwd=folder,
        env=_night(night),
    )


def test_ten_nights_trip_the_gate_on_the_broken_export_only(nights: Path) -> None:
    good_deals = (nights / "deals.csv").read_bytes()
    codes, reports = {}, {}
    for night in range(1, 11):
        _export_for(nights, night)
        (nights / "deals.csv").write_bytes(good_deals)
        if night == 6:
            # A broken deals export: the open deals are missing, so their contacts lost them.
            _rewrite(nights / "deals.csv", lambda r: r if r["Is Deal Closed?"] == "true" else None)
        run = _classify(nights, night, "--report", "report.md")
        codes[night], reports[night] = run.code, run
        if night == 6:
            md = (nights / "report.md").read_text(encoding="utf-8")
    assert codes == {n: CHANGES if n == 6 else OK for n in range(1, 11)}, {
        n: r.stderr[-500:] for n, r in reports.items()
    }
    broken = reports[6].stderr
    assert re.search(
        r"lifecycle: --fail-on demotion>3x: \d+ demotions, more than 3 × 1 \(the "
        r"median of the last 5 runs\)",
        broken,
    )
    assert "--fail-on demotion>2%: " in broken and "% of 52 contacts, more than 2%" in broken
    # The reason is in the report too (a CI summary shows it).
    assert "**Gate tripped: --fail-on demotion&gt;3x:" in md  # Markdown shows &gt; as >
    assert "not judged: no earlier runs" in reports[1].stderr
    for night in (2, 5, 7, 10):
        assert "Gate tripped" not in reports[night].stderr
        assert "lifecycle: --fail-on" not in reports[night].stderr

    records = sorted((nights / "history").iterdir())
    assert len(records) == 10
    assert all(re.fullmatch(r"2026-01-\d\dT00-00-00Z-[0-9a-f]{8}\.json", p.name) for p in records)
    tripped = [json.loads(p.read_text())["gates"] for p in records]
    assert [bool(g) for g in tripped] == [n == 6 for n in range(1, 11)]

    shown = run_in_terminal("history", "history", cwd=nights, columns=80)
    assert shown.code == OK, shown.stdout
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert sum("tripped" in line for line in lines if line.startswith(" 2026-01-")) == 1
    assert any(
        line.split()[0] == "Opportunity" and re.search(r"[▁-█]{10}", line)
        for line in lines
        if line.strip()
    )


def test_a_record_holds_the_run(nights: Path) -> None:
    _export_for(nights, 1)
    shutil.copy(ROOT / "rules.yaml", nights / "rules.yaml")
    run = _classify(nights, 1, "--strict", "--rules", "rules.yaml")
    assert run.code == OK, run.stderr
    (path,) = (nights / "history").iterdir()
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == "lifecycle-run" and data["at"] == "2026-01-02T00:00:00Z"
    assert data["rules"] == {
        "file": "rules.yaml",
        "hash": hashlib.sha256((ROOT / "rules.yaml").read_bytes()).hexdigest()[:12],
    }
    for entry in data["inputs"]:
        content = (nights / entry["name"]).read_bytes()
        assert entry["size"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert [e["role"] for e in data["inputs"]] == ["contacts", "deals", "consent"]
    assert data["moves"] == {
        "changed": 1,
        "promotions": 0,
        "demotions": 1,
        "sideways": 0,
        "newly_staged": 0,
    }
    assert data["transitions"] == [
        {"from": "marketing_lead", "to": "lead", "count": 1, "direction": "demotion"}
    ]
    lead = next(s for s in data["stages"] if s["stage"] == "lead")
    assert lead["after"] == lead["before"] + 1
    assert data["diagnostics"]["error"] == data["diagnostics"]["warning"] == 0  # --strict passed
    # The json view is the records, oldest first.
    view = json.loads(
        invoke_assert_code(OK, "history", "history", "--format", "json", cwd=nights).stdout
    )
    assert view["runs"][0]["moves"] == data["moves"]


def test_html_history_is_self_contained(nights: Path) -> None:
    for night in (1, 2, 3):
        _export_for(nights, night)
        assert _classify(nights, night).code == OK
    page = invoke_assert_code(OK, "history", "history", "--format", "html", cwd=nights).stdout
    assert page.startswith("<!doctype html>") and page.count("<svg") == 2
    assert "<polyline" in page and "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)


def test_nothing_recorded_when_the_run_fails(nights: Path) -> None:
    _export_for(nights, 1)
    _rewrite(nights / "contacts.csv", lambda r: {**r, "Lifecycle Stage": "Prospect-ish"})
    run = _classify(nights, 1)
    assert run.code == USAGE
    assert not (nights / "history").exists()


def test_bad_history_arguments(nights: Path, tmp_path: Path) -> None:
    base = ("classify", "contacts.csv", "--deals", "deals.csv")
    run = invoke_assert_code(USAGE, *base, "--fail-on", "demotion>3x", cwd=nights)
    assert (
        "--fail-on 'demotion>3x' compares this run with earlier ones: give --history DIR"
        in run.stderr
    )
    run = invoke_assert_code(USAGE, *base, "--check", "--history", "h", cwd=nights)
    assert "--check writes nothing" in run.stderr and "--history" in run.stderr
    run = invoke_assert_code(USAGE, *base, "--history", "no/such/dir", cwd=nights)
    assert "no/such/dir" in run.stderr and "does not exist" in run.stderr
    run = invoke_assert_code(USAGE, *base, "--fail-on", "demotion>3y", cwd=nights)
    assert "demotion>3x" in run.stderr
    run = invoke_assert_code(USAGE, *base, "--fail-on", "upgrade>3x", cwd=nights)
    assert "unknown count 'upgrade'" in run.stderr
    run = invoke_assert_code(
        USAGE, "diff", "contacts.csv", "stable.csv", "--fail-on", "demotion>3x", cwd=nights
    )
    assert "which diff does not keep" in run.stderr
    run = invoke_assert_code(USAGE, "history", tmp_path / "missing")
    assert "history folder does not exist" in run.stderr
    (nights / "history").mkdir()
    (nights / "history" / "2026-01-01T00-00-00Z-0123abcd.json").write_text("{not json")
    (nights / "history" / "notes.json").write_text("{}")  # not a record's name: left alone
    run = invoke_assert_code(USAGE, "history", "history", cwd=nights)
    assert "2026-01-01T00-00-00Z-0123abcd.json: cannot read this history record" in run.stderr
    run = invoke_assert_code(
        USAGE, *base, "--history", "history", "--fail-on", "demotion>3x", cwd=nights
    )
    assert "cannot read this history record" in run.stderr


def test_share_and_count_gates_on_diff(nights: Path) -> None:
    run = invoke_assert_code(
        CHANGES, "diff", "contacts.csv", "stable.csv", "--fail-on", "demotion>2%", "-q", cwd=nights
    )
    assert "10 demotions, 19.2% of 52 records in both files, more than 2%" in run.stderr
    invoke_assert_code(
        OK, "diff", "contacts.csv", "stable.csv", "--fail-on", "demotions>10", "-q", cwd=nights
    )
    run = invoke_assert_code(
        CHANGES,
        "diff",
        "contacts.csv",
        "stable.csv",
        "--fail-on",
        "demotion>9",
        "--format",
        "json",
        cwd=nights,
    )
    gates = json.loads(run.stdout)["gates"]
    assert gates == [
        {
            "gate": "demotion>9",
            "tripped": True,
            "reason": "--fail-on demotion>9: 10 demotions, more than 9",
        }
    ]


def test_history_from_the_rules_file(nights: Path) -> None:
    rules = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    rules = rules.replace(
        "report:\n  redact: false\n", "report:\n  redact: false\n  history: runs\n"
    )
    conf = nights / "conf"
    conf.mkdir()
    (conf / "rules.yaml").write_text(rules, encoding="utf-8")
    elsewhere = nights.parent
    invoke_assert_code(
        OK,
        "classify",
        nights / "contacts.csv",
        "--deals",
        nights / "deals.csv",
        "--rules",
        conf / "rules.yaml",
        "-o",
        nights / "o.csv",
        "-q",
        cwd=elsewhere,
    )
    # Relative to the rules file's folder, wherever the job starts.
    assert len(list((conf / "runs").iterdir())) == 1


def test_html_history_renders_in_headless_chromium(nights: Path, tmp_path: Path) -> None:
    import subprocess

    for night in (1, 2, 3):
        _export_for(nights, night)
        assert _classify(nights, night).code == OK
    page = tmp_path / "history.html"
    page.write_text(
        invoke_assert_code(OK, "history", "history", "--format", "html", cwd=nights).stdout,
        encoding="utf-8",
    )
    flags = chromium(tmp_path / "profile")
    dom = subprocess.run(
        flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Contacts per stage" in dom.stdout and "2026-01-04T00:00:00Z" in dom.stdout
    shot = tmp_path / "history.png"
    done = subprocess.run(
        flags
        + [f"--screenshot={shot}", "--window-size=900,1000", "--hide-scrollbars", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {shot}")

"""Every change in the HTML report: a table to filter and search, opened in headless Chromium."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

from conftest import CHANGES, EXAMPLES, OK, chromium, invoke_assert_code, read_csv

ARGS = ("classify", "contacts.csv", "--deals", "deals.csv", "--consent", "consent.csv")


def _rows(page: str, table_id: str) -> list[str]:
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', page, flags=re.S)
    assert body, f"no table {table_id}"
    return re.findall(r"<tr [^>]*>.*?</tr>", body.group(1))


def test_every_change_is_in_the_page(examples: Path) -> None:
    shutil.copy(EXAMPLES / "companies.csv", examples / "companies.csv")
    invoke_assert_code(
        OK,
        *ARGS,
        "--companies",
        "companies.csv",
        "--changes",
        "changes.csv",
        "--report",
        "report.html",
        "-q",
        cwd=examples,
    )
    page = (examples / "report.html").read_text(encoding="utf-8")
    rows = _rows(page, "all-changes")
    listed = read_csv(examples / "changes.csv")
    assert len(rows) == len(listed) == 38
    for row, change in zip(rows, listed, strict=True):
        assert f"<td>{change['Record ID']}</td>" in row
        assert f'data-d="{change["Direction"]}"' in row and f'class="{change["Direction"]}"' in row
    # The Customer who became Other, with its glyph and words (not colour alone).
    karl = next(r for r in rows if "51234567821" in r)
    assert 'data-t="Customer → Other"' in karl and "◆ sideways" in karl
    assert "All 38 contacts that changed, one row each (also in changes.csv)" in page
    # Companies are named.
    companies = _rows(page, "company-changes")
    assert any("<td>Litware</td>" in r and "▼ demotion" in r for r in companies)
    # The stage counts are not coloured by sign (Other +7 is not "good").
    stages = re.search(r"<h2>Stages</h2>(.*?)</table>", page, flags=re.S).group(1)
    assert 'class="up"' not in stages and 'class="down"' not in stages
    # Usable without the script: every row is in the page, none hidden; the filters appear
    # only when the script runs.
    assert " hidden" not in "".join(rows) and 'id="all-changes-filters" hidden' in page


def test_warnings_and_vocabulary_come_first(tmp_path: Path) -> None:
    rows = read_csv(EXAMPLES / "contacts.csv")
    headers = [h for h in rows[0] if h != "Last Contacted"]
    rows[0]["Lead Status"] = "Working"  # a value no list names
    with (tmp_path / "contacts.csv").open("w", encoding="utf-8", newline="") as fh:
        import csv

        writer = csv.DictWriter(fh, fieldnames=headers, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    run = invoke_assert_code(
        CHANGES, "classify", "contacts.csv", "--check", "--format", "html", cwd=tmp_path
    )
    page = run.stdout
    at = {h: page.index(f"<h2>{h}") for h in ("Warnings", "Vocabulary", "Files", "Stages")}
    assert at["Warnings"] < at["Files"] and at["Vocabulary"] < at["Files"] < at["Stages"]


def test_redacted_page_has_no_names(examples: Path) -> None:
    run = invoke_assert_code(OK, *ARGS, "--redact", "--format", "html", cwd=examples)
    page = run.stdout
    assert len(_rows(page, "all-changes")) == 38
    assert "Vogel" not in page and "Lindqvist" not in page and "@" not in page
    assert "Search (id)" in page


def _browser(tmp_path: Path) -> list[str]:
    return chromium(tmp_path / "profile", "--enable-logging=stderr", "--v=0")


def _dom(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        _browser(tmp_path) + [*extra, "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    errors = [
        line
        for line in done.stderr.splitlines()
        if "CONSOLE" in line and ("ERROR" in line or "Uncaught" in line)
    ]
    assert errors == []
    return done


def test_50000_changes_open_and_filter_in_headless_chromium(
    generated_200k: Path, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    changes = tmp_path / "changes.csv"
    invoke_assert_code(
        OK,
        *ARGS,
        "-o",
        tmp_path / "out.csv",
        "--changes",
        changes,
        "--report",
        page,
        "-q",
        cwd=generated_200k,
    )
    listed = read_csv(changes)
    assert len(listed) > 50_000
    text = page.read_text(encoding="utf-8")
    assert len(_rows(text, "all-changes")) == 50_000
    assert (
        f"This page shows the first 50,000 of {len(listed):,} contacts that changed, to stay "
        f"quick; the full list: also in {changes}."
    ) in html.unescape(text)
    first = listed[:50_000]

    # Filtered by direction, from the address (#direction=...), as a shared link opens it; the
    # same load is the screenshot. Each load of the 50,000 rows costs Chromium ~10 s of CPU, so
    # this page is loaded once: the search by id is checked on the examples page.
    demotions = sum(r["Direction"] == "demotion" for r in first)
    shot = tmp_path / "every-change-demotions.png"
    dom = _dom(
        tmp_path,
        page.as_uri() + "#direction=demotion",
        f"--screenshot={shot}",
        "--window-size=1200,1600",
        "--hide-scrollbars",
    ).stdout
    assert f"<output>{demotions:,} of 50,000 shown</output>" in dom
    hidden = [r for r in _rows(dom, "all-changes") if re.match(r"<tr [^>]*\bhidden", r)]
    assert len(hidden) == 50_000 - demotions

    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {shot}")


def test_examples_page_in_headless_chromium(examples: Path, tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "companies.csv", examples / "companies.csv")
    page = examples / "report.html"
    invoke_assert_code(
        OK, *ARGS, "--companies", "companies.csv", "--report", "report.html", "-q", cwd=examples
    )
    dom = _dom(tmp_path, page.as_uri() + "#q=vogel").stdout
    assert "<output>1 of 38 shown</output>" in dom  # searched by name, any case

    # By transition and direction together, from the address (the 50,000-row page is filtered
    # by direction above: each of its loads costs Chromium seconds).
    changes = tmp_path / "changes.csv"
    invoke_assert_code(
        OK, *ARGS, "--changes", changes, "-o", tmp_path / "o.csv", "-q", cwd=examples
    )
    listed = read_csv(changes)
    # Searched by record id: exactly that contact.
    wanted = listed[len(listed) // 2]["Record ID"]
    dom = _dom(tmp_path, page.as_uri() + f"#q={wanted}").stdout
    assert "<output>1 of 38 shown</output>" in dom
    shown = [r for r in _rows(dom, "all-changes") if not re.match(r"<tr [^>]*\bhidden", r)]
    assert len(shown) == 1 and f"<td>{wanted}</td>" in shown[0]
    move = next(r for r in listed if r["Direction"] == "promotion")
    transition = f"{move['Stage Before']} → {move['Stage After']}"
    count = sum(
        f"{r['Stage Before']} → {r['Stage After']}" == transition and r["Direction"] == "promotion"
        for r in listed
    )
    dom = _dom(
        tmp_path,
        page.as_uri()
        + "#direction=promotion&transition="
        + transition.replace(" ", "%20").replace("→", "%E2%86%92"),
    ).stdout
    assert f"<output>{count:,} of 38 shown</output>" in dom
    shot = tmp_path / "every-change-examples.png"
    done = subprocess.run(
        _browser(tmp_path)
        + [f"--screenshot={shot}", "--window-size=1200,3000", "--hide-scrollbars", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

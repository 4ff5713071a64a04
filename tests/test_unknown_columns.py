"""A column the export lacks is unknown, not empty: it may keep a stage, never demote one.

DOMAIN.md ("Joining the exports"): rules over a missing column follow SQL's
three-valued logic, and an unknown rule keeps the contact's current stage when that
is the rule's stage. So taking any one column out of examples/contacts.csv, deals.csv
or consent.csv must never move a contact whose stage the full exports confirm to a
lower stage: the run either stops with a clear error (exit 2, nothing written), or
every such contact ends at the same or a higher stage.

And `lifecycle sql` must agree with classify on such an export, `kept-unknown` included.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES, USAGE, read_csv, run_cli, stage_id
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

EXPORTS = ("contacts.csv", "deals.csv", "consent.csv")
#: The stage order of DOMAIN.md; Subscriber, Evangelist and Other are not compared.
RANK = {"lead": 0, "marketing_lead": 1, "sales_lead": 2, "opportunity": 3, "customer": 4}
KEY, STAGE, PREVIOUS, RULE = (
    "Record ID",
    "Lifecycle Stage",
    "Previous Lifecycle Stage",
    "Lifecycle Rule",
)


def headers_of(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh))


#: (export, header) for every column of the three example exports.
COLUMNS = [(name, header) for name in EXPORTS for header in headers_of(EXAMPLES / name)]


def copy_without(folder: Path, drop: tuple[str, str] | None) -> None:
    """The three example exports in `folder`, with the column `drop` = (export, header) taken
    out."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in EXPORTS:
        if drop is None or drop[0] != name:
            shutil.copyfile(EXAMPLES / name, folder / name)
            continue
        with (EXAMPLES / name).open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        at = rows[0].index(drop[1])
        with (folder / name).open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows([r[:at] + r[at + 1 :] for r in rows])


def classify_examples(folder: Path, out: str = "out.csv"):
    return run_cli(
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "-o",
        out,
        "--stage-values",
        "label",
        "-q",
        cwd=folder,
    )


@pytest.fixture(scope="module")
def settled(tmp_path_factory) -> dict[str, str]:
    """Record ID -> stage id, for every contact whose stage the full exports leave as it was."""
    folder = tmp_path_factory.mktemp("full")
    copy_without(folder, None)
    run = classify_examples(folder)
    assert run.code == 0, run.stderr
    rows = read_csv(folder / "out.csv")
    assert len(rows) == 52
    kept = {r[KEY]: stage_id(r[STAGE]) for r in rows if stage_id(r[PREVIOUS]) == stage_id(r[STAGE])}
    assert sum(1 for s in kept.values() if s in RANK) >= 10, (
        "too few settled contacts to test anything"
    )
    return kept


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drop=st.sampled_from(COLUMNS))
# The columns that decide most and the link columns, always tried:
@example(drop=("contacts.csv", "Last Contacted"))
@example(drop=("contacts.csv", "Marketing email confirmation status"))
@example(drop=("consent.csv", "Contact ID"))
@example(drop=("deals.csv", "Associated Contact IDs"))
def test_removing_a_column_never_demotes_a_settled_contact(
    drop: tuple[str, str], settled, tmp_path_factory
) -> None:
    export, header = drop
    folder = tmp_path_factory.mktemp("without")
    copy_without(folder, drop)
    before = sorted(p.name for p in folder.iterdir())
    run = classify_examples(folder)
    if run.code == USAGE:
        # Stopping is fine, if it says why (file named) and writes nothing.
        assert "lifecycle: error:" in run.stderr and "Traceback" not in run.stderr, run.stderr[
            -2000:
        ]
        assert export in run.stderr, (
            f"without {export}:{header!r}: the error does not name {export}:\n{run.stderr[-2000:]}"
        )
        assert sorted(p.name for p in folder.iterdir()) == before, "a run that stopped wrote a file"
        return
    assert run.code == 0, f"without {export}:{header!r}: exit {run.code}\n{run.stderr[-2000:]}"
    rows = {r[KEY]: r for r in read_csv(folder / "out.csv")}
    demoted = {}
    for record_id, was in settled.items():
        assert record_id in rows, (
            f"without {export}:{header!r}: contact {record_id} is missing from the output"
        )
        now = stage_id(rows[record_id][STAGE])
        if was in RANK and now in RANK and RANK[now] < RANK[was]:
            demoted[record_id] = f"{was} -> {now} (rule {rows[record_id][RULE]})"
    assert not demoted, (
        f"without {export}:{header!r}, {len(demoted)} settled contacts were demoted: {demoted}"
    )


# --------------------------------------------------------------------------- lifecycle sql on
# DuckDB

#: Last Contacted and every consent column of the contacts export.
MISSING = [
    "Last Contacted",
    "Unsubscribed from all email",
    "Opted out of email: Marketing Information",
    "Marketing email confirmation status",
]


@pytest.mark.parametrize("with_deals", [True, False], ids=["with-deals", "without-deals"])
def test_sql_on_duckdb_keeps_the_contacts_classify_keeps(tmp_path: Path, with_deals: bool) -> None:
    duckdb = pytest.importorskip("duckdb")
    with (EXAMPLES / "contacts.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [i for i, h in enumerate(rows[0]) if h not in MISSING]
    assert len(keep) == len(rows[0]) - len(MISSING)
    contacts = tmp_path / "contacts.csv"
    with contacts.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    deals = EXAMPLES / "deals.csv"

    out = tmp_path / "out.csv"
    run = run_cli(
        "classify",
        contacts,
        *(["--deals", deals] if with_deals else []),
        "-o",
        out,
        "--stage-values",
        "label",
        "-q",
    )
    assert run.code == 0, run.stderr
    expected = {r[KEY]: (r[STAGE], r[RULE]) for r in read_csv(out)}
    assert any(rule == "kept-unknown" for _, rule in expected.values()), (
        "classify kept nobody: the test proves nothing"
    )

    query = tmp_path / "classify.sql"
    run = run_cli(
        "sql",
        "--dialect",
        "duckdb",
        "--contacts-header",
        contacts,
        "--no-consent",
        *(["--deals-header", deals] if with_deals else ["--no-deals"]),
        "-o",
        query,
    )
    assert run.code == 0, run.stderr
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW contacts AS SELECT * FROM read_csv('{contacts}', all_varchar = true, header "
        "= true)"
    )
    if with_deals:
        con.execute(
            f"CREATE VIEW deals AS SELECT * FROM read_csv('{deals}', all_varchar = true, header = "
            "true)"
        )
    cursor = con.execute(query.read_text(encoding="utf-8"))
    columns = [d[0] for d in cursor.description]
    at = [columns.index(name) for name in (KEY, STAGE, RULE)]
    got = {row[at[0]]: (row[at[1]] or "", row[at[2]] or "") for row in cursor.fetchall()}
    assert set(got) == set(expected)
    wrong = {k: {"sql": got[k], "classify": v} for k, v in expected.items() if got[k] != v}
    assert not wrong, (
        f"{len(wrong)} contacts differ between lifecycle sql on DuckDB and classify: {wrong}"
    )

"""Nothing a run reads is ever overwritten: every path it writes is checked against every path it
reads and against each other (symlinks, `..`, hard links resolved), before anything is read, and all
outputs are written together or not at all. Issue 11, "data loss"."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import EXAMPLES, OK, ROOT, USAGE, invoke_assert_code, read_csv, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (symlinks as their target) and a hash of its bytes."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path.relative_to(folder))] = "-> " + os.readlink(path)
        elif path.is_file():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """The example exports and a copy of the default rules, in a folder of their own."""
    for name in ("contacts.csv", "deals.csv", "consent.csv"):
        (tmp_path / name).write_bytes((EXAMPLES / name).read_bytes())
    (tmp_path / "my-rules.yaml").write_bytes((ROOT / "rules.yaml").read_bytes())
    (tmp_path / "sub").mkdir()
    return tmp_path


def classify_args(folder: Path, *extra: str) -> list[str]:
    return [
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "--rules",
        "my-rules.yaml",
        "-q",
        *extra,
    ]


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--report", "contacts.csv"], "the report would overwrite the input contacts file"),
        (["--report", "deals.csv"], "the report would overwrite the input deals file"),
        (["--report", "consent.csv"], "the report would overwrite the input consent file"),
        (["-o", "my-rules.yaml"], "the reclassified contacts would overwrite the input rules file"),
        (
            ["-o", "sub/../deals.csv"],
            "the reclassified contacts would overwrite the input deals file deals.csv",
        ),
        (
            ["-o", "out.csv", "--report", "out.csv"],
            "the report and the reclassified contacts would both be written",
        ),
        (
            ["--report", "r.json", "--report", "./sub/../r.json"],
            "the report and the report would both be written",
        ),
        (["--report", "nodir/r.json"], "the folder 'nodir' does not exist"),
        (["--report", "sub"], "it is a folder"),
    ],
    ids=[
        "report-contacts",
        "report-deals",
        "report-consent",
        "output-rules",
        "output-dotdot-deals",
        "report-onto-output",
        "report-twice",
        "report-no-folder",
        "report-folder",
    ],
)
def test_a_write_onto_a_read_or_another_write_stops_before_anything_is_written(
    exports: Path, extra, named
) -> None:
    before = snapshot(exports)
    run = invoke_assert_code(USAGE, *classify_args(exports, *extra), cwd=exports)
    assert named in run.stderr, run.stderr
    assert snapshot(exports) == before, "nothing may be written, not even the reclassified file"


def test_symlinks_and_hard_links_are_seen_through(exports: Path) -> None:
    (exports / "link-to-deals.csv").symlink_to("deals.csv")
    os.link(exports / "consent.csv", exports / "sub" / "hard-consent.csv")
    before = snapshot(exports)
    run = invoke_assert_code(
        USAGE, *classify_args(exports, "--report", "link-to-deals.csv"), cwd=exports
    )
    assert "would overwrite the input deals file deals.csv" in run.stderr
    run = invoke_assert_code(
        USAGE, *classify_args(exports, "-o", "sub/hard-consent.csv"), cwd=exports
    )
    assert "would overwrite the input consent file consent.csv" in run.stderr
    assert snapshot(exports) == before


def test_the_rules_file_found_by_itself_is_protected_too(exports: Path) -> None:
    """./rules.yaml is picked up without --rules: it is still an input."""
    (exports / "rules.yaml").write_bytes((ROOT / "rules.yaml").read_bytes())
    before = snapshot(exports)
    run = invoke_assert_code(
        USAGE, "classify", "contacts.csv", "-q", "--report", "rules.yaml", cwd=exports
    )
    assert "rules.yaml: the report would overwrite the input rules file" in run.stderr
    assert snapshot(exports) == before


def test_diff_report_onto_an_export(exports: Path) -> None:
    invoke_assert_code(OK, *classify_args(exports, "-o", "after.csv"), cwd=exports)
    before = snapshot(exports)
    run = invoke_assert_code(
        USAGE, "diff", "contacts.csv", "after.csv", "--report", "contacts.csv", cwd=exports
    )
    assert "would overwrite the input earlier export" in run.stderr
    run = invoke_assert_code(
        USAGE, "diff", "contacts.csv", "after.csv", "--report", "./after.csv", cwd=exports
    )
    assert "would overwrite the input later export after.csv" in run.stderr
    assert snapshot(exports) == before


def test_sql_output_onto_a_header_file(exports: Path) -> None:
    before = snapshot(exports)
    run = invoke_assert_code(
        USAGE,
        "sql",
        "--dialect",
        "postgres",
        "--contacts-header",
        "contacts.csv",
        "-o",
        "contacts.csv",
        cwd=exports,
    )
    assert "the query would overwrite the input contacts header file" in run.stderr
    run = invoke_assert_code(
        USAGE,
        "sql",
        "--dialect",
        "duckdb",
        "--rules",
        "my-rules.yaml",
        "-o",
        "my-rules.yaml",
        cwd=exports,
    )
    assert "the query would overwrite the input rules file" in run.stderr
    assert snapshot(exports) == before


def test_a_named_pipe_as_output_is_refused(exports: Path) -> None:
    os.mkfifo(exports / "pipe")
    run = invoke_assert_code(USAGE, *classify_args(exports, "-o", "pipe"), cwd=exports)
    assert "it is not a regular file" in run.stderr and "-o -" in run.stderr
    assert stat.S_ISFIFO(os.stat(exports / "pipe").st_mode)


def test_a_proc_fd_link_as_output_is_refused(exports: Path) -> None:
    """`-o /proc/self/fd/N` onto a pipe the caller holds: refused, the pipe is not replaced by a
    file."""
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "lifecycle_cli",
                *classify_args(exports, "-o", f"/proc/self/fd/{write_end}"),
            ],
            cwd=exports,
            capture_output=True,
            pass_fds=(write_end,),
            timeout=120,
        )
    finally:
        os.close(write_end)
        leaked = os.read(read_end, 100)
        os.close(read_end)
    assert proc.returncode == USAGE, proc.stderr
    assert b"it is not a regular file" in proc.stderr
    assert leaked == b"", "nothing may be written into the pipe"


@pytest.mark.skipif(not IS_ROOT, reason="creating a device node needs root")
def test_a_character_device_as_output_is_refused_even_for_root(exports: Path) -> None:
    device = exports / "null-device"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    run = invoke_assert_code(USAGE, *classify_args(exports, "-o", "null-device"), cwd=exports)
    assert "it is not a regular file" in run.stderr
    assert stat.S_ISCHR(os.stat(device).st_mode), "the device must still be a device"


def test_a_second_in_place_run_keeps_the_first_backup(exports: Path) -> None:
    original = (exports / "contacts.csv").read_bytes()
    invoke_assert_code(OK, *classify_args(exports, "--in-place"), cwd=exports)
    first_result = (exports / "contacts.csv").read_bytes()
    assert first_result != original
    assert (exports / "contacts.csv.bak").read_bytes() == original
    run = invoke_assert_code(OK, *classify_args(exports, "--in-place"), cwd=exports)
    assert (exports / "contacts.csv.bak").read_bytes() == original, (
        "the export as it came from the CRM must survive"
    )
    assert (exports / "contacts.csv.bak-2").read_bytes() == first_result
    assert (
        "kept the original as contacts.csv.bak-2; contacts.csv.bak is an earlier run's backup"
        in run.stderr
    )
    invoke_assert_code(OK, *classify_args(exports, "--in-place"), cwd=exports)
    assert (exports / "contacts.csv.bak-3").exists() and (
        exports / "contacts.csv.bak"
    ).read_bytes() == original


def test_output_format_follows_the_output_name(exports: Path) -> None:
    invoke_assert_code(OK, *classify_args(exports, "-o", "out.parquet"), cwd=exports)
    assert (exports / "out.parquet").read_bytes()[:4] == b"PAR1"
    from_parquet = pl.read_parquet(exports / "out.parquet")
    invoke_assert_code(OK, *classify_args(exports, "-o", "out.csv"), cwd=exports)
    from_csv = pl.read_csv(exports / "out.csv", infer_schema=False)
    assert from_parquet.equals(from_csv)

    # Parquet in, CSV out (plain UTF-8 with commas), and back.
    invoke_assert_code(OK, "classify", "out.parquet", "-q", "-o", "again.csv", cwd=exports)
    assert (exports / "again.csv").read_bytes()[:10] == b"Record ID,"
    rows = read_csv(exports / "again.csv")
    assert len(rows) == from_csv.height and set(rows[0]) == set(from_csv.columns)


def test_csv_to_csv_keeps_the_inputs_delimiter_and_encoding(exports: Path) -> None:
    rows = list(csv.reader(io.StringIO((exports / "contacts.csv").read_text(encoding="utf-8"))))
    rows[1][1] = "Jürgen"
    text = io.StringIO()
    csv.writer(text, delimiter=";", lineterminator="\r\n").writerows(rows)
    (exports / "excel.csv").write_bytes(text.getvalue().encode("cp1252"))
    invoke_assert_code(
        OK, "classify", "excel.csv", "--encoding", "cp1252", "-q", "-o", "out.txt", cwd=exports
    )
    written = (exports / "out.txt").read_bytes()
    assert written.split(b"\r\n")[0].count(b";") > 10 and "Jürgen".encode("cp1252") in written


def test_headers_with_escaped_quotes_round_trip(exports: Path) -> None:
    """A header written with doubled quotes (Note "A") is written back as it came, run after run,
    and sql names it so."""
    lines = (exports / "contacts.csv").read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ',"Note ""A"""'] + [line + ",x" for line in lines[1:]]
    (exports / "quoted.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    invoke_assert_code(OK, "classify", "quoted.csv", "-q", "-o", "once.csv", cwd=exports)
    invoke_assert_code(OK, "classify", "once.csv", "-q", "-o", "twice.csv", cwd=exports)
    for name in ("once.csv", "twice.csv"):
        header = (exports / name).read_text(encoding="utf-8").splitlines()[0]
        assert header.endswith(',"Note ""A"""'), header
    query = invoke_assert_code(
        OK,
        "sql",
        "--dialect",
        "duckdb",
        "--contacts-header",
        "quoted.csv",
        "--no-deals",
        "--no-consent",
        cwd=exports,
    ).stdout
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE contacts AS SELECT * FROM read_csv('{exports / 'quoted.csv'}', all_varchar "
        "= true)"
    )
    rows = con.execute(query).fetchall()
    assert [d[0] for d in con.description][-1] == 'Note "A"' and rows[0][-1] == "x"


def test_reports_and_output_are_written_together(exports: Path) -> None:
    """A report that cannot be written (its folder vanishes mid-run is hard to stage; a report path
    that is a folder is found before the run): no reclassified file either."""
    (exports / "taken").mkdir()
    before = snapshot(exports)
    invoke_assert_code(
        USAGE, *classify_args(exports, "--report", "ok.md", "--report", "taken"), cwd=exports
    )
    assert snapshot(exports) == before


# --------------------------------------------------------------------------- fuzzing paths

SPELLINGS = st.sampled_from(
    ["plain", "dot", "dotdot", "absolute", "symlink", "hardlink", "symlinked-folder"]
)
INPUTS = st.sampled_from(["contacts.csv", "deals.csv", "consent.csv", "my-rules.yaml"])
OPTIONS = st.sampled_from(["-o", "--report"])


def spell(folder: Path, name: str, how: str, n: int) -> str:
    if how == "dot":
        return f"./{name}"
    if how == "dotdot":
        return f"sub/../{name}"
    if how == "absolute":
        return str(folder / name)
    if how == "symlink":
        link = folder / f"link{n}-{name}"
        link.symlink_to(name)
        return link.name
    if how == "hardlink":
        link = folder / "sub" / f"hard{n}-{name}"
        os.link(folder / name, link)
        return str(link.relative_to(folder))
    if how == "symlinked-folder":
        alias = folder / f"alias{n}"
        alias.symlink_to(".")
        return f"{alias.name}/{name}"
    return name


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_output_paths_against_input_paths(tmp_path_factory, data) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    for name in ("contacts.csv", "deals.csv", "consent.csv"):
        (folder / name).write_bytes((EXAMPLES / name).read_bytes())
    (folder / "my-rules.yaml").write_bytes((ROOT / "rules.yaml").read_bytes())
    (folder / "sub").mkdir()
    victim = data.draw(INPUTS, "victim")
    option = data.draw(OPTIONS, "option")
    how = data.draw(SPELLINGS, "spelling")
    path = spell(folder, victim, how, 0)
    before = snapshot(folder)
    run = run_cli(*classify_args(folder, option, path), cwd=folder)
    assert run.code == USAGE, run.stderr
    assert "would overwrite the input" in run.stderr and "Traceback" not in run.stderr
    assert snapshot(folder) == before

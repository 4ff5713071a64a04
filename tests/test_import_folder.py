"""The --hubspot-import folder holds exactly one run's files (issue 20, item 2): it is written as a
new folder beside the old one and swapped in whole, so an earlier run's companies files never
stay, and a file lifecycle did not write (or one changed since) stops the run before anything
is written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import EXAMPLES, OK, USAGE, invoke_assert_code
from faultlib import compile_shim, go_on, snapshot, start_paused, wait_stopped

CONTACTS_FILES = ["README.txt", "contacts-1-clear-stage.csv", "contacts-2-set-stage.csv"]
COMPANIES_FILES = ["companies-1-clear-stage.csv", "companies-2-set-stage.csv"]
FOREIGN = "hs: the HubSpot import folder holds files lifecycle did not write: "


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    for name in ("contacts.csv", "deals.csv", "consent.csv", "companies.csv"):
        (tmp_path / name).write_bytes((EXAMPLES / name).read_bytes())
    return tmp_path


def classify(*more: str) -> tuple[str, ...]:
    return (
        "classify",
        "contacts.csv",
        "--deals",
        "deals.csv",
        "--consent",
        "consent.csv",
        "-q",
        "--hubspot-import",
        "hs",
        "-o",
        "out.csv",
        *more,
    )


def test_an_earlier_runs_companies_files_do_not_stay(exports: Path) -> None:
    invoke_assert_code(OK, *classify("--companies", "companies.csv"), cwd=exports)
    assert sorted(os.listdir(exports / "hs")) == sorted(CONTACTS_FILES + COMPANIES_FILES)
    invoke_assert_code(OK, *classify(), cwd=exports)
    assert sorted(os.listdir(exports / "hs")) == CONTACTS_FILES
    assert "companies" not in (exports / "hs" / "README.txt").read_text(encoding="utf-8")
    assert not [p for p in exports.iterdir() if p.name.startswith(".")], "a temp or lock file left"


def test_the_readme_lists_every_file_it_came_with(exports: Path) -> None:
    import hashlib

    invoke_assert_code(OK, *classify(), cwd=exports)
    readme = (exports / "hs" / "README.txt").read_text(encoding="utf-8")
    for name in CONTACTS_FILES[1:]:
        digest = hashlib.sha256((exports / "hs" / name).read_bytes()).hexdigest()
        assert f"  {digest}  {name}\n" in readme
    invoke_assert_code(OK, *classify(), cwd=exports)  # its own files: replaced without a word


@pytest.mark.parametrize(
    "put, said",
    [
        (
            {"README.txt": b"Our import checklist\n"},
            "README.txt (not the one lifecycle wrote, or changed since)",
        ),
        ({"notes.xlsx": b"PK\x03\x04"}, "notes.xlsx"),
        ({".DS_Store": b"\0"}, ".DS_Store"),
        (
            {"README.txt": b"Lifecycle stages to import back into HubSpot, worked out by ...\n"},
            "README.txt (an earlier lifecycle version's, which lists no files: "
            "remove the folder's files once)",
        ),
    ],
    ids=["own-readme", "unknown-file", "hidden-file", "earlier-version"],
)
def test_a_file_lifecycle_did_not_write_stops_the_run(
    exports: Path, put: dict[str, bytes], said: str
) -> None:
    (exports / "hs").mkdir()
    for name, data in put.items():
        (exports / "hs" / name).write_bytes(data)
    (exports / "out.csv").write_bytes(b"an earlier output\n")
    before = snapshot(exports)
    run = invoke_assert_code(USAGE, *classify(), cwd=exports)
    assert run.stderr.startswith(f"lifecycle: error: {FOREIGN}{said}; nothing was written")
    assert snapshot(exports) == before


def test_a_file_changed_since_lifecycle_wrote_it_stops_the_run(exports: Path) -> None:
    invoke_assert_code(OK, *classify(), cwd=exports)
    edited = exports / "hs" / "contacts-2-set-stage.csv"
    edited.write_bytes(edited.read_bytes().replace(b"\r\n", b"\n"))  # opened and saved again
    (exports / "hs" / "sub").mkdir()
    before = snapshot(exports)
    run = invoke_assert_code(USAGE, *classify(), cwd=exports)
    assert (
        f"{FOREIGN}contacts-2-set-stage.csv (changed since lifecycle wrote it), "
        "sub (not a file lifecycle writes)"
    ) in run.stderr
    assert snapshot(exports) == before


def test_an_empty_folder_is_filled_and_keeps_its_permissions(exports: Path) -> None:
    (exports / "hs").mkdir(mode=0o750)
    os.chmod(exports / "hs", 0o750)
    invoke_assert_code(OK, *classify(), cwd=exports)
    assert sorted(os.listdir(exports / "hs")) == CONTACTS_FILES
    assert stat.S_IMODE((exports / "hs").stat().st_mode) == 0o750


def test_a_symlinked_folder_stays_a_symlink(exports: Path) -> None:
    (exports / "shared").mkdir()
    (exports / "hs").symlink_to("shared")
    invoke_assert_code(OK, *classify(), cwd=exports)
    invoke_assert_code(OK, *classify(), cwd=exports)
    assert (exports / "hs").is_symlink()
    assert sorted(os.listdir(exports / "shared")) == CONTACTS_FILES


def test_a_file_put_in_the_folder_during_the_run_stops_it(exports: Path, tmp_path_factory) -> None:
    """Checked again at the commit: a file that appeared while the run worked is never removed
    with the old folder; the run stops and every target stays as it was."""
    shim = compile_shim(tmp_path_factory.mktemp("shim"))
    invoke_assert_code(OK, *classify(), cwd=exports)
    proc = start_paused(shim, "contacts.csv", 3, *classify(), cwd=exports)
    assert wait_stopped(proc)
    (exports / "hs" / "mine.txt").write_text("a note\n", encoding="utf-8")
    before = snapshot(exports)
    run = go_on(proc)
    assert run.code == USAGE, run.stderr
    assert run.stderr.startswith(f"lifecycle: error: {FOREIGN}mine.txt; nothing was written")
    assert {k: v for k, v in snapshot(exports).items() if not k.endswith(".lock")} == {
        k: v for k, v in before.items() if not k.endswith(".lock")
    }
    assert not [p for p in exports.iterdir() if p.name.startswith(".")]


def test_another_output_inside_the_import_folder_is_refused(exports: Path) -> None:
    """The folder holds the import files only: a report there would stop every later run."""
    before = snapshot(exports)
    run = invoke_assert_code(USAGE, *classify("--report", "hs/summary.md"), cwd=exports)
    assert run.stderr.startswith(
        "lifecycle: error: hs/summary.md: cannot write the report into "
        "the HubSpot import folder hs: "
    )
    assert snapshot(exports) == before

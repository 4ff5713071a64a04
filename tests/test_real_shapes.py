"""Real, messy export shapes (tests/real_shapes/*/): lifecycle gives the right answer or stops,
never a silent wrong one.

Every folder holds small exports in one shape real HubSpot users have (snake_case
warehouse extracts, API property names, association exports, German Excel files, ...)
and an `expected.yaml`: the command-line arguments, the exit code, and either the
stage and rule of every contact (worked out by hand from DOMAIN.md, one comment per
contact) or, for shapes that must stop, the diagnostic and what the message names.

Each shape is run once, with `--format json`, in a private copy of its folder (the
copy is the working directory, so no ./rules.yaml is picked up and a German header
row may be detected). The tests then check the exit code, the output file (read with
the input's delimiter and encoding), the JSON diagnostics, that the inputs are
unchanged byte for byte, and that a run that stops writes nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import USAGE, Run, run_cli, stage_id

SHAPES_DIR = Path(__file__).parent / "real_shapes"
SHAPES = sorted(p.name for p in SHAPES_DIR.iterdir() if (p / "expected.yaml").is_file())
OUT = "out.csv"
ADDED = ["Previous Lifecycle Stage", "Lifecycle Rule", "Other Type"]
DIAGNOSTIC_KEYS = {"code", "severity", "file", "row", "column", "message", "hint"}


def spec_of(shape: str) -> dict:
    return yaml.safe_load((SHAPES_DIR / shape / "expected.yaml").read_text(encoding="utf-8"))


SPECS = {shape: spec_of(shape) for shape in SHAPES}
OK_SHAPES = [s for s in SHAPES if SPECS[s]["exit"] == 0]
ERROR_SHAPES = [s for s in SHAPES if SPECS[s]["exit"] != 0]
STRICT_SHAPES = [s for s in SHAPES if "strict_exit" in SPECS[s]]
TWIN_SHAPES = [s for s in SHAPES if "twin" in SPECS[s]]
SAME_OUTPUT_SHAPES = [s for s in SHAPES if "same_output_with" in SPECS[s]]


# --------------------------------------------------------------------------- running a shape


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@dataclass
class ShapeRun:
    shape: str
    spec: dict
    folder: Path
    before: dict[str, bytes]
    run: Run
    after: dict[str, bytes]

    @property
    def new_files(self) -> set[str]:
        return set(self.after) - set(self.before)

    def report(self) -> dict:
        try:
            value = json.loads(self.run.stdout)
        except json.JSONDecodeError as exc:
            pytest.fail(
                f"{self.shape}: --format json did not print one JSON object on stdout ({exc}); "
                f"exit {self.run.code}\nstdout:\n{self.run.stdout[-2000:]}\n"
                f"stderr:\n{self.run.stderr[-2000:]}"
            )
        assert isinstance(value, dict), f"{self.shape}: the JSON report is not an object"
        return value

    def context(self) -> str:
        return (
            f"exit {self.run.code}\nstdout:\n{self.run.stdout[-2500:]}\n"
            f"stderr:\n{self.run.stderr[-2500:]}"
        )


def classify(folder: Path, args: list[str], out: str, *extra: str) -> Run:
    return run_cli("classify", *args, "-o", out, "--format", "json", *extra, cwd=folder)


@pytest.fixture(scope="module")
def shape_runs(tmp_path_factory):
    """shape -> ShapeRun: every shape is classified once, in a private copy of its folder."""
    cache: dict[str, ShapeRun] = {}

    def get(shape: str) -> ShapeRun:
        if shape not in cache:
            folder = tmp_path_factory.mktemp("shape") / shape
            shutil.copytree(SHAPES_DIR / shape, folder)
            (folder / "expected.yaml").unlink()
            spec = SPECS[shape]
            before = snapshot(folder)
            run = classify(folder, spec["args"], OUT)
            cache[shape] = ShapeRun(shape, spec, folder, before, run, snapshot(folder))
        return cache[shape]

    return get


# --------------------------------------------------------------------------- reading exports


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    bom: bool


def read_table(data: bytes, encoding: str, delimiter: str) -> Table:
    bom = data.startswith(codecs.BOM_UTF8)
    text = data[len(codecs.BOM_UTF8) :].decode(encoding) if bom else data.decode(encoding)
    header, *rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return Table(header, rows, bom)


def output_format(spec: dict) -> tuple[str, str]:
    out = spec.get("output") or {}
    return out.get("encoding", "utf-8"), out.get("delimiter", ",")


def contacts_file(spec: dict) -> str:
    return spec["args"][0]


def column(table: Table, name: str, what: str) -> int:
    assert name in table.header, f"{what}: no column {name!r} in {table.header}"
    return table.header.index(name)


def padded(row: list[str], n: int) -> list[str]:
    return row + [""] * (n - len(row))


def output_by_id(
    result: ShapeRun, out_name: str = OUT, spec: dict | None = None
) -> tuple[Table, dict[str, list[str]]]:
    spec = spec or result.spec
    assert out_name in result.after, (
        f"{result.shape}: no output file {out_name} was written\n{result.context()}"
    )
    encoding, delimiter = output_format(spec)
    table = read_table(result.after[out_name], encoding, delimiter)
    key = column(table, spec["output"]["key"], f"{result.shape} output")
    by_id = {}
    for row in table.rows:
        row = padded(row, len(table.header))
        assert row[key] not in by_id, f"{result.shape}: Record ID {row[key]} written twice"
        by_id[row[key]] = row
    return table, by_id


# --------------------------------------------------------------------------- every shape


@pytest.mark.parametrize("shape", SHAPES)
def test_exit_code(shape: str, shape_runs) -> None:
    result = shape_runs(shape)
    assert result.run.code == result.spec["exit"], f"{shape}: {result.context()}"
    assert "Traceback" not in result.run.stderr


@pytest.mark.parametrize("shape", SHAPES)
def test_inputs_are_unchanged(shape: str, shape_runs) -> None:
    result = shape_runs(shape)
    originals = {
        name: data for name, data in snapshot(SHAPES_DIR / shape).items() if name != "expected.yaml"
    }
    for name, data in originals.items():
        assert result.after.get(name) == data, f"{shape}: input {name} was modified"
    assert result.before == originals


# --------------------------------------------------------------------------- shapes that classify


@pytest.mark.parametrize("shape", OK_SHAPES)
def test_every_stage_and_rule(shape: str, shape_runs) -> None:
    result = shape_runs(shape)
    assert result.run.code == 0, f"{shape}: {result.context()}"
    table, by_id = output_by_id(result)
    stage, rule = (
        column(table, result.spec["output"]["stage"], shape),
        column(table, "Lifecycle Rule", shape),
    )
    expected = {str(k): v for k, v in result.spec["contacts"].items()}
    other = (
        column(table, "Other Type", shape)
        if any("other_type" in v for v in expected.values())
        else None
    )
    assert set(by_id) == set(expected), f"{shape}: output ids differ from expected.yaml"
    wrong = {}
    for record_id, want in expected.items():
        row = by_id[record_id]
        rules = want["rule"] if isinstance(want["rule"], list) else [want["rule"]]
        if row[stage] != want["stage"] or row[rule] not in rules:
            wrong[record_id] = {
                "got": (row[stage], row[rule]),
                "expected": (want["stage"], want["rule"]),
            }
        if "other_type" in want and row[other] != want["other_type"]:
            wrong.setdefault(record_id, {})["other_type"] = (row[other], want["other_type"])
    assert not wrong, f"{shape}: {len(wrong)} of {len(expected)} contacts wrong:\n" + "\n".join(
        f"  {k}: {v}" for k, v in wrong.items()
    )


@pytest.mark.parametrize("shape", OK_SHAPES)
def test_output_keeps_the_export_as_it_was(shape: str, shape_runs) -> None:
    """Same encoding, delimiter and BOM; the header with the three columns after the stage column
    (repeated headers included); every other cell exactly as in the input; the previous stage as
    written."""
    result = shape_runs(shape)
    assert result.run.code == 0, f"{shape}: {result.context()}"
    assert result.new_files == {OUT}, (
        f"{shape}: files written besides {OUT}: {sorted(result.new_files - {OUT})}"
    )
    encoding, delimiter = output_format(result.spec)
    source = read_table(result.before[contacts_file(result.spec)], encoding, delimiter)
    try:
        out = read_table(result.after[OUT], encoding, delimiter)
    except UnicodeDecodeError as exc:
        pytest.fail(f"{shape}: the output is not {encoding} like its input: {exc}")
    assert out.bom == source.bom, f"{shape}: input BOM {source.bom}, output BOM {out.bom}"
    if "bom" in result.spec["output"]:
        assert out.bom is result.spec["output"]["bom"]
    stage = result.spec["output"]["stage"]
    width = len(source.header)
    assert len(out.rows) == len(source.rows)
    if stage not in source.header:
        # An export without a stage column (a Salesforce Data Export): the stage column is added at
        # the end, then the three columns; every input cell stays as it was, the previous stage
        # empty.
        assert out.header == source.header + [stage] + ADDED, f"{shape}: output header {out.header}"
        for n, (before, after) in enumerate(zip(source.rows, out.rows, strict=True), start=2):
            before, after = padded(before, width), padded(after, len(out.header))
            assert after[:width] == before, f"{shape}: line {n}: untouched cells changed"
            assert after[width + 1] == "", (
                f"{shape}: line {n}: a previous stage where the file had none"
            )
        return
    at = source.header.index(stage)
    assert out.header == source.header[: at + 1] + ADDED + source.header[at + 1 :], (
        f"{shape}: output header {out.header}"
    )
    for n, (before, after) in enumerate(zip(source.rows, out.rows, strict=True), start=2):
        before, after = padded(before, width), padded(after, len(out.header))
        kept = after[:at] + after[at + 1 + len(ADDED) :]
        assert kept == before[:at] + before[at + 1 :], f"{shape}: line {n}: untouched cells changed"
        assert after[at + 1] == before[at], (
            f"{shape}: line {n}: Previous Lifecycle Stage is not the input's value"
        )


@pytest.mark.parametrize("shape", OK_SHAPES)
def test_diagnostics_in_the_json_report(shape: str, shape_runs) -> None:
    result = shape_runs(shape)
    report = result.report()
    assert isinstance(report.get("diagnostics"), list), (
        f"{shape}: no diagnostics list in the JSON report: {sorted(report)}"
    )
    for item in report["diagnostics"]:
        assert set(item) >= DIAGNOSTIC_KEYS, (
            f"{shape}: diagnostic lacks {DIAGNOSTIC_KEYS - set(item)}: {item}"
        )
        # A note (a column declared absent, or one whose lack changed nobody) never fails --strict.
        assert item["severity"] in ("error", "warning", "note"), item
    codes = sorted({d["code"] for d in report["diagnostics"]})
    assert codes == sorted(result.spec["diagnostics"]), (
        f"{shape}: diagnostics {json.dumps(report['diagnostics'], indent=1)}"
    )
    assert not [d for d in report["diagnostics"] if d["severity"] == "error"], (
        f"{shape}: an error, yet exit 0"
    )
    for want in result.spec.get("diagnostic_details") or []:
        found = [d for d in report["diagnostics"] if d["code"] == want["code"]]
        assert found, f"{shape}: no {want['code']} diagnostic"
        got = found[0]
        assert got["severity"] == want["severity"], got
        if "file" in want:
            assert got["file"] and Path(got["file"]).name == want["file"], got
        if "row" in want:
            assert got["row"] == want["row"], got
        for number in want.get("message_numbers", []):
            assert re.search(rf"(?<!\d){number}(?!\d)", got["message"]), (
                f"{shape}: row {number} not in {got['message']!r}"
            )


@pytest.mark.parametrize("shape", [s for s in OK_SHAPES if "missing_columns" in SPECS[s]])
def test_missing_columns_name_whom_they_kept(shape: str, shape_runs) -> None:
    result = shape_runs(shape)
    report = result.report()
    got = report.get("missing_columns")
    assert isinstance(got, list), (
        f"{shape}: no missing_columns list in the JSON report: {sorted(report)}"
    )
    by_column = {(m.get("source"), m.get("column")): m for m in got}
    for want in result.spec["missing_columns"]:
        entry = by_column.get((want["source"], want["column"]))
        assert entry is not None, (
            f"{shape}: {want['source']}.{want['column']} not in missing_columns: {got}"
        )
        assert entry["header"] == want["header"], entry
        assert sorted(entry["rules"]) == sorted(want["rules"]), entry
        assert entry["kept"] == want["kept"], entry


@pytest.mark.parametrize("shape", STRICT_SHAPES)
def test_strict_turns_the_warning_into_an_error(shape: str, shape_runs) -> None:
    result = shape_runs(shape)
    before = snapshot(result.folder)
    run = classify(result.folder, result.spec["args"], "strict-out.csv", "--strict")
    after = snapshot(result.folder)
    assert run.code == result.spec["strict_exit"] == USAGE, (
        f"{shape} --strict: exit {run.code}\n{run.stderr[-2000:]}"
    )
    assert "lifecycle: error:" in run.stderr and "Traceback" not in run.stderr
    assert after == before, f"{shape} --strict wrote {sorted(set(after) - set(before))}"


@pytest.mark.parametrize("shape", TWIN_SHAPES)
def test_classifies_like_its_english_twin(shape: str, shape_runs) -> None:
    result = shape_runs(shape)
    twin = result.spec["twin"]
    run = classify(result.folder, twin["args"], "twin-out.csv")
    assert run.code == 0, f"{shape} twin: exit {run.code}\n{run.stderr[-2000:]}"
    twin_table = read_table((result.folder / "twin-out.csv").read_bytes(), "utf-8", ",")
    key, stage, rule = (
        column(twin_table, n, "twin") for n in (twin["key"], twin["stage"], "Lifecycle Rule")
    )
    english = {r[key]: (stage_id(r[stage]), r[rule]) for r in twin_table.rows}
    table, by_id = output_by_id(result)
    g_stage, g_rule = (
        column(table, result.spec["output"]["stage"], shape),
        column(table, "Lifecycle Rule", shape),
    )
    german = {k: (stage_id(r[g_stage]), r[g_rule]) for k, r in by_id.items()}
    assert set(german) == set(english)
    differ = {
        k: {"german": german[k], "english": english[k]} for k in english if german[k] != english[k]
    }
    assert not differ, (
        f"{shape}: {len(differ)} contacts classified differently from the English twin: {differ}"
    )


@pytest.mark.parametrize("shape", SAME_OUTPUT_SHAPES)
def test_detected_preset_gives_the_same_output_as_the_explicit_one(shape: str, shape_runs) -> None:
    result = shape_runs(shape)
    assert result.run.code == 0, f"{shape}: {result.context()}"
    run = classify(result.folder, result.spec["same_output_with"], "preset-out.csv")
    assert run.code == 0, (
        f"{shape} {result.spec['same_output_with']}: exit {run.code}\n{run.stderr[-2000:]}"
    )
    assert (result.folder / "preset-out.csv").read_bytes() == result.after[OUT]


# --------------------------------------------------------------------------- shapes that must stop


@pytest.mark.parametrize("shape", ERROR_SHAPES)
def test_stops_with_a_message_naming_file_and_column(shape: str, shape_runs) -> None:
    result = shape_runs(shape)
    spec = result.spec
    assert result.run.code == spec["exit"], f"{shape}: {result.context()}"
    stderr = result.run.stderr
    assert "lifecycle: error:" in stderr and "Traceback" not in stderr, stderr[-2000:]
    for text in spec.get("stderr_contains") or []:
        assert text in stderr, f"{shape}: {text!r} not in the message:\n{stderr[-2000:]}"
    for pattern in spec.get("stderr_regex") or []:
        assert re.search(pattern, stderr), (
            f"{shape}: /{pattern}/ not in the message:\n{stderr[-2000:]}"
        )


@pytest.mark.parametrize(
    "shape", [s for s in ERROR_SHAPES if (SPECS[s].get("error") or {}).get("diagnostic")]
)
def test_stop_carries_its_diagnostic_code(shape: str, shape_runs) -> None:
    """The code is in the JSON report's diagnostics (as an error) when one is printed, else on
    stderr."""
    result = shape_runs(shape)
    want = result.spec["error"]
    found = []
    if result.run.stdout.strip():
        report = result.report()
        found = [d for d in report.get("diagnostics") or [] if d.get("code") == want["diagnostic"]]
        assert all(d["severity"] == want["severity"] for d in found), found
    assert found or want["diagnostic"] in result.run.stderr, (
        f"{shape}: diagnostic {want['diagnostic']} neither in the JSON report nor on "
        f"stderr\n{result.context()}"
    )


@pytest.mark.parametrize("shape", ERROR_SHAPES)
def test_stop_writes_nothing(shape: str, shape_runs) -> None:
    result = shape_runs(shape)
    assert not result.new_files, f"{shape}: a run that stopped wrote {sorted(result.new_files)}"

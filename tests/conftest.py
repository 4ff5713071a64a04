"""Shared helpers: run the real `lifecycle` entry point in a subprocess and write realistic
exports."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# The exports' headers, as benchmarks/generate.py writes them (HubSpot's own export): one list.
sys.path.insert(0, str(ROOT / "benchmarks"))
from generate import CONSENT_COLUMNS as CONSENT_HEADERS  # noqa: E402, F401 (the tests import it from here)
from generate import CONTACT_COLUMNS as CONTACT_HEADERS  # noqa: E402, F401 (the tests import it from here)
from generate import DEAL_COLUMNS as DEAL_HEADERS  # noqa: E402, F401 (the tests import it from here)

OK, CHANGES, USAGE = 0, 1, 2


def _normal(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.strip().lower())


def _stage_ids() -> dict[str, str]:
    """Every spelling of a stage in rules.yaml (label, HubSpot value, aliases), normalised, to its
    id."""
    import yaml

    rules = yaml.safe_load((ROOT / "rules.yaml").read_text(encoding="utf-8"))
    return {
        _normal(spelling): stage["id"]
        for stage in rules["stages"]
        for spelling in [stage["id"], stage["label"], stage["value"], *(stage.get("aliases") or [])]
    }


STAGE_IDS = _stage_ids()


def stage_id(spelling: str) -> str:
    """The stage id of a spelling as an output writes it ("" for an empty stage)."""
    if not spelling.strip():
        return ""
    assert _normal(spelling) in STAGE_IDS, (
        f"a stage spelling rules.yaml does not know: {spelling!r}"
    )
    return STAGE_IDS[_normal(spelling)]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


#: The environment every run of the command gets in the tests. SOURCE_DATE_EPOCH fixes the run
#: time reports carry (2026-01-01), so golden reports stay equal. LIFECYCLE_RULES is unset.
CLI_ENV = {"NO_COLOR": "1", "COLUMNS": "200", "SOURCE_DATE_EPOCH": "1767225600"}


def run_cli(
    *args: str | Path, stdin: bytes | None = None, cwd: Path | None = None, env: dict | None = None
) -> Run:
    """Run `python -m lifecycle_cli ARGS` for real and capture what a user would see."""
    full_env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_RULES"}
    full_env.update({**CLI_ENV, **(env or {})})
    proc = subprocess.run(
        [sys.executable, "-m", "lifecycle_cli", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=cwd or ROOT,
        env=full_env,
        timeout=300,
    )
    return Run(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def invoke_assert_code(code: int, *args: str | Path, **kwargs) -> Run:
    run = run_cli(*args, **kwargs)
    assert run.code == code, (
        f"exit {run.code}, expected {code}\n"
        f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    )
    if code == USAGE:
        assert "Traceback" not in run.stderr
        assert "lifecycle: error:" in run.stderr or "Usage:" in run.stderr
    return run


def write_csv(
    path: Path,
    headers: list[str],
    rows: list[dict],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    newline: str = "\n",
) -> Path:
    unknown = {k for row in rows for k in row} - set(headers)
    assert not unknown, f"columns not in the export: {unknown}"
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=headers, delimiter=delimiter, lineterminator=newline)
        writer.writeheader()
        for row in rows:
            writer.writerow({h: row.get(h, "") for h in headers})
    return path


def read_csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A private copy of examples/, so tests never write beside the real files."""
    target = tmp_path / "examples"
    target.mkdir()
    for name in ("contacts.csv", "deals.csv", "consent.csv"):
        (target / name).write_bytes((EXAMPLES / name).read_bytes())
    return target


def made_once(tmp_path_factory, name: str, make) -> Path:
    """The folder `name`, filled by `make(folder)` once per test run: xdist's workers share it (the
    run's temp dir, under a lock) instead of each making its own. Read only."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / name
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".made").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / ".made").touch()
    return folder


def generate(contacts: int, folder: Path) -> None:
    """benchmarks/generate.py's HubSpot-style exports (contacts, deals, consent) into folder."""
    script = ROOT / "benchmarks" / "generate.py"
    subprocess.run(
        [sys.executable, str(script), "--contacts", str(contacts), "--out", str(folder)],
        check=True,
        capture_output=True,
        timeout=600,
    )


@pytest.fixture(scope="session")
def generated_200k(tmp_path_factory) -> Path:
    """A folder of generated HubSpot-style exports, 200,000 contacts (~45 MB): made once per test
    run, shared by the tests that need a file big enough for a write to take a moment. Read only."""
    return made_once(tmp_path_factory, "generated_200k", lambda folder: generate(200_000, folder))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Spark tests first: xdist's worksteal gives each worker a run of the collection in order
    (others steal from its end), so they all stay on one worker, which alone starts Spark's JVM."""

    def on_spark(item: pytest.Item) -> bool:  # the engine fixture asks for `spark` at run time
        named = "spark" in getattr(item, "fixturenames", ())
        return named or item.get_closest_marker("spark") is not None

    items.sort(key=lambda item: not on_spark(item))


# --------------------------------------------------------------- tools the suite needs besides pip
# Missing, a test that needs one fails saying how to install it (Debian's packages; .ci/run
# installs them): a skip would pass a run that never opened a report or ran the SQL on Spark.


def missing_tool(what: str, package: str, needed_by: str) -> None:
    pytest.fail(
        f"{needed_by} need {what}, which is not installed: apt-get install {package} "
        "(on Debian; .ci/run installs it when missing)",
        pytrace=False,
    )


def chromium(profile: Path, *extra: str) -> list[str]:
    """The command line of a headless Chromium with its own profile folder, for the HTML report
    tests (plus `extra` flags)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        missing_tool("Chromium", "chromium", "the HTML report tests")
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *extra,
    ]


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole run (one per xdist worker): every test that runs SQL
    on Spark shares it, as starting Spark's JVM costs seconds each time."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # a pip test dependency: only a local run without it may skip
        if os.environ.get("CI"):
            raise
        pytest.skip("pyspark is not installed (the Spark tests run whenever CI is set)")
    if _java() is None:
        missing_tool(
            "Java (java on PATH or in JAVA_HOME)", "default-jre-headless", "the Spark tests"
        )
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lifecycle-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # C1 only: the JVM lives minutes, so C2's compiling costs more CPU than it wins (about a
        # third of the JVM's CPU on the Spark tests); a JIT setting, the results are the same.
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()

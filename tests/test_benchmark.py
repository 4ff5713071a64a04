"""The benchmarks themselves, at a size that still takes a while: not in the default run (pytest -m
slow)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import ROOT

SIZE = 100_000
PEERS = ("pandas", "duckdb", "duckdb-plain", "polars-plain")
#: lifecycle on its other engines (`classify --engine duckdb|spark`), which the benchmark runs too.
ENGINES = ("lc-duckdb", "lc-spark")


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--contacts", str(SIZE), *args],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_benchmark_peers_agree() -> None:
    """lifecycle on each engine and every peer (pandas, DuckDB, the plain DuckDB query, the plain
    Polars pipeline) give every one of 100,000 contacts the same stage, rule and Other Type, and
    the table has a row for each."""
    pytest.importorskip("duckdb")
    pytest.importorskip("pandas")
    pytest.importorskip("pyspark")
    out = run("bench_classify.py")
    tools = ("lifecycle", *ENGINES, *PEERS)
    assert f"compared {SIZE:,} contacts across {', '.join(tools)}: " in out
    assert "0 disagree on the stage, 0 more on the rule or Other Type only" in out
    assert f"all outputs have lifecycle's 23 columns in its order and {SIZE:,} rows" in out
    for tool in tools:
        assert re.search(rf"^{re.escape(tool)} +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9.]+$", out, re.M), (
            f"no table row for {tool}:\n{out}"
        )
    assert "lifecycle vs the plain DuckDB query:" in out
    assert "lifecycle vs the plain Polars pipeline:" in out
    assert "lifecycle --engine duckdb vs the plain DuckDB query:" in out
    assert f"lifecycle diff of two {SIZE:,}-row files" in out


@pytest.mark.slow
@pytest.mark.parametrize("after", ["mutated", "reclassified"])
def test_benchmark_diff_agrees_with_duckdb(after: str) -> None:
    """lifecycle diff and the DuckDB FULL OUTER JOIN peer count the same rows, changes and
    transitions."""
    pytest.importorskip("duckdb")
    out = run("bench_diff.py", "--after", after)
    assert "lifecycle and duckdb agree on all 12 summary counts" in out
    if after == "mutated":
        assert re.search(r"[1-9][0-9,]* added, [1-9][0-9,]* removed", out), out
    assert re.search(r"^duckdb +[0-9.]+ +[0-9]+ ", out, re.M), out


@pytest.mark.slow
def test_versions_benchmark_runs_an_earlier_commit_beside_today() -> None:
    """bench_versions.py runs the code of a commit (here HEAD: the same code) beside today's and
    the plain peers, round by round, and finds the two versions' files the same."""
    pytest.importorskip("duckdb")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_versions.py"), "--before", "HEAD"]
        + ["--contacts", "2000", "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.count("round ") == 2
    for mine in ("before", "now"):
        for peer in ("polars-plain", "duckdb-plain"):
            assert re.search(rf"^lifecycle {mine} vs {peer}: [0-9.]+x its time", out, re.M), out
    assert "output: byte for byte the same" in out
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True, check=True
    )
    assert "lifecycle-before-" not in listed.stdout  # the worktree is removed

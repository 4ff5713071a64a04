"""The benchmark itself, at a size that still takes a while: not in the default run (pytest -m slow)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_benchmark_peers_agree_at_100k() -> None:
    """lifecycle, the pandas script and the DuckDB query give every one of 100,000 contacts the same stage and rule."""
    pytest.importorskip("duckdb")
    pytest.importorskip("pandas")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_classify.py"), "--contacts", "100000"],
                         capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "0 disagree on the stage, 0 more on the rule only" in run.stdout
    assert "lifecycle diff of two 100,000-row files" in run.stdout

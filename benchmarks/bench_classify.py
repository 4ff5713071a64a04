"""Time `lifecycle classify` on generated exports and report wall time and peak memory.

    python benchmarks/bench_classify.py --contacts 1000000 [--runs 1]

Generates the exports once (benchmarks/data/<size>/, reused on later runs), then runs
the real command in a subprocess per run. Peers (pandas, DuckDB) join this table in
the performance work; until then it prints lifecycle's own numbers.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one command run in a fresh child process."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:]).returncode\n"
        "dt = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(f'{dt} {peak} {rc}')\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True)
    seconds, peak, rc = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"command failed ({rc}): {' '.join(cmd)}\n{out.stderr}")
    return float(seconds), float(peak)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    data = HERE / "data" / f"{args.contacts}"
    if not (data / "consent.csv").exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--contacts", str(args.contacts), "--out", str(data)], check=True)
    cmd = [sys.executable, "-m", "lifecycle_cli", "classify", str(data / "contacts.csv"), "--deals", str(data / "deals.csv"),
           "--consent", str(data / "consent.csv"), "-o", str(data / "contacts.reclassified.csv"), "-q"]
    size_mb = sum((data / f).stat().st_size for f in ("contacts.csv", "deals.csv", "consent.csv")) / 1e6
    print(f"{args.contacts:,} contacts, {size_mb:,.0f} MB of CSV in")
    print(f"{'tool':<22}{'seconds':>10}{'peak MB':>10}")
    for _ in range(args.runs):
        seconds, peak = measure(cmd)
        print(f"{'lifecycle classify':<22}{seconds:>10.1f}{peak:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Time today's `lifecycle classify` against an earlier commit's, with the plain peers, in turn.

    python benchmarks/bench_versions.py --before 892000f [--contacts 1000000] [--rounds 7]

A ratio against a peer moves with the machine: the same code and peers gave 1.34x one afternoon
and 1.40x the next evening. "No slower than before" is therefore measured in one run: each round
runs the earlier code (a git worktree of the commit, imported through PYTHONPATH), today's code,
the plain Polars pipeline and the plain DuckDB query, one after the other, on the files
bench_classify.py generates (benchmarks/data/<size>/). It prints each tool's median time and
peak memory, each lifecycle's ratios to each peer (the median of the rounds' ratios, and their
range), and whether the two versions wrote the same file byte for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_classify import ROOT, commands, generated, measure

PEERS = ("polars-plain", "duckdb-plain")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    tools = commands(generated(args.contacts))
    now_cmd, now_out = tools["lifecycle"]
    with tempfile.TemporaryDirectory(prefix="lifecycle-before-") as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), args.before],
            check=True,
        )
        try:
            before_out = now_out.with_name("out.before.csv")
            before_cmd = [*now_cmd[: now_cmd.index("-o") + 1], str(before_out), "-q"]
            runs = {
                "before": (before_cmd, {"PYTHONPATH": str(tree)}),
                "now": (now_cmd, {}),
                **{peer: (tools[peer][0], {}) for peer in PEERS},
            }
            results: dict[str, list[tuple[float, float]]] = {tool: [] for tool in runs}
            for number in range(1, args.rounds + 1):
                for tool, (cmd, env) in runs.items():
                    os.environ.update(env)
                    try:
                        results[tool].append(measure(cmd))
                    finally:
                        for name in env:
                            os.environ.pop(name, None)
                times = "  ".join(f"{tool} {results[tool][-1][0]:.2f} s" for tool in runs)
                print(f"round {number}: {times}", flush=True)
            same = filecmp.cmp(before_out, now_out, shallow=False)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )
    print(f"\n{args.contacts:,} contacts, {args.rounds} rounds; before = {args.before}")
    print(f"{'tool':<14}{'median s':>10}{'peak MB':>10}")
    for tool, got in results.items():
        seconds = statistics.median(t for t, _ in got)
        peak = statistics.median(m for _, m in got)
        print(f"{tool:<14}{seconds:>10.2f}{peak:>10.0f}")
    for mine in ("before", "now"):
        for peer in PEERS:
            pairs = list(zip(results[mine], results[peer], strict=True))
            time = [a[0] / b[0] for a, b in pairs]
            memory = statistics.median(a[1] / b[1] for a, b in pairs)
            print(
                f"lifecycle {mine} vs {peer}: {statistics.median(time):.3f}x its time (rounds "
                f"{min(time):.3f}-{max(time):.3f}), {memory:.2f}x its peak memory"
            )
    versus = [a[0] / b[0] for a, b in zip(results["now"], results["before"], strict=True)]
    print(
        f"now vs before: {statistics.median(versus):.3f}x the time "
        f"(rounds {min(versus):.3f}-{max(versus):.3f})"
    )
    print("output: " + ("byte for byte the same" if same else "the two versions' files differ"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

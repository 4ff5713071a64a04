"""Time `lifecycle diff` of two exports against a DuckDB FULL OUTER JOIN peer (peer_duckdb_diff.py).

    python benchmarks/bench_diff.py --contacts 1000000 [--after mutated|reclassified] [--runs 1]

BEFORE is generate.py's contacts.csv (benchmarks/data/<size>/, made when missing). AFTER is
either (`--after mutated`, the default) a copy of it with about 10% of the stages changed
(to another stage, another spelling of the same one, or empty), 1% of the rows removed and
1% added (copies with new Record IDs), or (`--after reclassified`) the file `lifecycle
classify` writes from it with the deals and consent files (bench_classify's
out.lifecycle.csv, made when missing; not timed). Both are made once and reused.

Runs `lifecycle diff BEFORE AFTER --format json -q` and the peer, each in its own
subprocess (wall time and peak RSS, as bench_classify.py measures them), checks that they
agree on the summary (rows, added, removed, common, changed, and the count of each kind of
move) and on every (from, to) transition count, and prints a table with ratios against
lifecycle. Exit status 1 when they disagree or a tool fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
from bench_classify import HERE, generated, measure

#: What a changed stage becomes (index: a hash of the Record ID); None empties it.
NEW_STAGES = [
    "Lead",
    "lead",
    "Marketing Qualified Lead",
    "salesqualifiedlead",
    "SQL",
    "Opportunity",
    "Customer",
    "Other",
    "evangelist",
    "Subscriber",
    None,
]
CHANGED, REMOVED, ADDED = 0.10, 0.01, 0.01  #: shares of the rows
NEW_ID_OFFSET = 10**12  #: added rows: the copied row's Record ID plus this (never an existing id)
SUMMARY = (
    "rows_before",
    "rows_after",
    "added",
    "removed",
    "common",
    "changed",
    "unchanged",
    "promotions",
    "demotions",
    "sideways",
    "newly_staged",
    "cleared",
)


def mutate(before: Path, after: Path, seed: int = 7) -> None:
    """AFTER as a mutated copy of BEFORE: stages changed, rows removed and added (streamed;
    deterministic)."""

    def draw(salt: int) -> pl.Expr:
        return (pl.col("Record ID").hash(seed + salt) % 1_000_000).cast(pl.Float64) / 1_000_000

    rows = pl.scan_csv(before, infer_schema=False)
    pick = (pl.col("Record ID").hash(seed + 3) % len(NEW_STAGES)).cast(pl.Int64)
    changed = (
        pl.when(draw(1) < CHANGED)
        .then(pick.replace_strict(list(range(len(NEW_STAGES))), NEW_STAGES, return_dtype=pl.String))
        .otherwise(pl.col("Lifecycle Stage"))
    )
    kept = rows.filter(draw(0) >= REMOVED).with_columns(changed.alias("Lifecycle Stage"))
    added = rows.filter(draw(2) < ADDED).with_columns(
        (pl.col("Record ID").cast(pl.Int64) + NEW_ID_OFFSET).cast(pl.String).alias("Record ID")
    )
    pl.concat([kept, added]).sink_csv(after)


def reclassified(data: Path) -> Path:
    out = data / "out.lifecycle.csv"
    if not out.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "lifecycle_cli",
                "classify",
                str(data / "contacts.csv"),
                "--deals",
                str(data / "deals.csv"),
                "--consent",
                str(data / "consent.csv"),
                "-o",
                str(out),
                "-q",
            ],
            check=True,
        )
    return out


def compare(reports: dict[str, dict]) -> int:
    """Print where the peer's summary or transitions differ from lifecycle's; return how many
    numbers do."""
    lc, peer = reports["lifecycle"], reports["duckdb"]
    bad = [
        (k, lc["summary"].get(k), peer["summary"].get(k))
        for k in SUMMARY
        if lc["summary"].get(k) != peer["summary"].get(k)
    ]
    moves = lambda r: {(t["from"], t["to"]): (t["count"], t["direction"]) for t in r["transitions"]}  # noqa: E731
    a, b = moves(lc), moves(peer)
    bad += [
        (f"{k[0]} -> {k[1]}", a.get(k), b.get(k))
        for k in sorted(a.keys() | b.keys())
        if a.get(k) != b.get(k)
    ]
    s = lc["summary"]
    print(
        f"lifecycle: {s['rows_before']:,} rows before, {s['rows_after']:,} after, {s['added']:,} "
        "added, "
        f"{s['removed']:,} removed, {s['changed']:,} of {s['common']:,} changed, {len(a)} "
        "transitions"
    )
    if bad:
        print(f"{len(bad)} numbers disagree (lifecycle, duckdb):")
        for name, x, y in bad[:30]:
            print(f"  {name}: {x} vs {y}")
    else:
        print(
            f"lifecycle and duckdb agree on all {len(SUMMARY)} summary counts and all {len(a)} "
            "transition counts"
        )
    return len(bad)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument(
        "--after",
        choices=("mutated", "reclassified"),
        default="mutated",
        help="the second file: a mutated copy (stages changed, rows added and removed) or "
        "lifecycle's output",
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="runs per tool; the table shows the fastest"
    )
    parser.add_argument(
        "--duckdb-memory-limit", metavar="SIZE", help="run DuckDB with this memory_limit (e.g. 5GB)"
    )
    args = parser.parse_args()
    if args.duckdb_memory_limit:
        os.environ["DUCKDB_MEMORY_LIMIT"] = args.duckdb_memory_limit  # read by peer_duckdb_diff.py
    data = generated(args.contacts)
    before = data / "contacts.csv"
    if args.after == "mutated":
        after = data / "after.mutated.csv"
        if not after.exists():
            mutate(before, after)
    else:
        after = reclassified(data)
    files_mb = (before.stat().st_size + after.stat().st_size) / 1e6
    print(
        f"diff of {before.name} and {after.name} ({args.contacts:,} contacts, {files_mb:,.0f} MB "
        "of CSV)"
    )

    reports = {tool: data / f"diff.{args.after}.{tool}.json" for tool in ("lifecycle", "duckdb")}
    commands = {
        "lifecycle": (
            [
                sys.executable,
                "-m",
                "lifecycle_cli",
                "diff",
                str(before),
                str(after),
                "--format",
                "json",
                "-q",
            ],
            reports["lifecycle"],
        ),
        "duckdb": (
            [
                sys.executable,
                str(HERE / "peer_duckdb_diff.py"),
                str(before),
                str(after),
                str(reports["duckdb"]),
            ],
            None,
        ),
    }
    results: dict[str, tuple[float, float]] = {}
    for tool, (cmd, stdout) in commands.items():
        reports[tool].unlink(missing_ok=True)
        try:
            runs = [measure(cmd, stdout) for _ in range(args.runs)]
        except RuntimeError as exc:
            print(f"{tool}: {exc}", file=sys.stderr)
            return 1
        for seconds, peak in runs:
            print(f"  {tool:<10} {seconds:8.2f} s {peak:8.0f} MB", flush=True)
        results[tool] = min(runs)

    disagreements = compare(
        {tool: json.loads(path.read_text(encoding="utf-8")) for tool, path in reports.items()}
    )
    base = results["lifecycle"]
    print(
        f"\n{'tool':<14}{'seconds':>10}{'peak MB':>10}{'time/lc':>10}{'mem/lc':>10}"
        f"{'mem/files':>10}"
    )
    for tool, (seconds, peak) in results.items():
        print(
            f"{tool:<14}{seconds:>10.2f}{peak:>10.0f}{seconds / base[0]:>10.2f}"
            f"{peak / base[1]:>10.2f}{peak / files_mb:>10.2f}"
        )
    d = results["duckdb"]
    print(
        f"lifecycle diff vs the DuckDB FULL OUTER JOIN: {base[0] / d[0]:.2f}x its time, "
        f"{base[1] / d[1]:.2f}x its peak memory"
    )
    return 1 if disagreements else 0


if __name__ == "__main__":
    raise SystemExit(main())

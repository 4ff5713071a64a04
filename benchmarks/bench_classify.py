"""Time `lifecycle classify` against pandas, DuckDB and Polars peers on the same generated exports.

    python benchmarks/bench_classify.py --contacts 1000000 [--runs 1] [--skip pandas]

Generates the exports once (benchmarks/data/<size>/, reused on later runs), then runs,
each in its own subprocess: the real `lifecycle classify` command (on Polars, and as
lc-duckdb and lc-spark on its other engines, `--engine duckdb|spark`) and the peers, the same
default-rules classification written by hand (all of them write the whole reclassified
contacts file): peer_pandas.py and peer_duckdb.py implement lifecycle's normalisations,
peer_duckdb_plain.py and peer_polars_plain.py are the plain query and pipeline a user
would write for the generated files. It measures wall time and peak RSS of each, checks
that all outputs have the same columns and number of rows as lifecycle's and give every
contact the same stage, rule and Other Type, says where a peer spells a stage differently
(not an error), and prints a table with ratios against lifecycle.
Exit status 1 when any output disagrees or a tool failed.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOOLS = (
    "lifecycle",
    "lc-duckdb",
    "lc-spark",
    "pandas",
    "duckdb",
    "duckdb-plain",
    "polars-plain",
)
#: lifecycle itself on its other engines (`classify --engine`): tool -> engine
ENGINES = {"lc-duckdb": "duckdb", "lc-spark": "spark"}
#: tool -> its script, for the peers (lifecycle is the CLI itself)
PEERS = {
    "pandas": "peer_pandas.py",
    "duckdb": "peer_duckdb.py",
    "duckdb-plain": "peer_duckdb_plain.py",
    "polars-plain": "peer_polars_plain.py",
}
EXAMPLES = 10


def measure(cmd: list[str], stdout: Path | None = None) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one command run in a fresh child process.

    The command's standard output goes to the file `stdout` (default: nowhere)."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "out = open(sys.argv[1], 'wb') if sys.argv[1] else subprocess.DEVNULL\n"
        "t = time.perf_counter(); rc = subprocess.run(sys.argv[2:], stdout=out).returncode\n"
        "dt = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(f'{dt} {peak} {rc}')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, str(stdout or ""), *cmd],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, peak, rc = out.stdout.split()
    if rc != "0":
        raise RuntimeError(f"command failed ({rc}): {' '.join(cmd)}\n{out.stderr}")
    return float(seconds), float(peak)


def generated(contacts: int) -> Path:
    """The folder of generated exports for `contacts` contacts (benchmarks/data/<size>/), made by
    generate.py the first time (consent.csv is written last) and reused after."""
    data = HERE / "data" / f"{contacts}"
    if not (data / "consent.csv").exists():
        subprocess.run(
            [sys.executable, str(HERE / "generate.py"), "--contacts", str(contacts)]
            + ["--out", str(data)],
            check=True,
        )
    return data


def commands(data: Path) -> dict[str, tuple[list[str], Path]]:
    """tool -> (command, output file)."""
    inputs = [str(data / f) for f in ("contacts.csv", "deals.csv", "consent.csv")]
    out = {tool: data / f"out.{tool}.csv" for tool in TOOLS}

    def lifecycle(tool: str, *engine: str) -> tuple[list[str], Path]:
        files = [inputs[0], "--deals", inputs[1], "--consent", inputs[2]]
        cli = [sys.executable, "-m", "lifecycle_cli", "classify", *files]
        return [*cli, "-o", str(out[tool]), "-q", *engine], out[tool]

    return {
        "lifecycle": lifecycle("lifecycle"),
        **{tool: lifecycle(tool, "--engine", engine) for tool, engine in ENGINES.items()},
        **{
            tool: ([sys.executable, str(HERE / script), *inputs, str(out[tool])], out[tool])
            for tool, script in PEERS.items()
        },
    }


OPTIONAL = ("Lifecycle Rule", "Other Type")  #: compared where a tool writes them


def read_output(tool: str, path: Path, lookup: dict[str, str]) -> pl.DataFrame:
    """Record ID, stage id (the written stage through the rules' lookup), the stage as written,
    rule id and
    Other Type of one tool's output (rule and Other Type null when the tool does not write them)."""
    header = pl.scan_csv(path, infer_schema=False).collect_schema().names()
    frame = pl.read_csv(
        path,
        infer_schema=False,
        columns=["Record ID", "Lifecycle Stage", *[c for c in OPTIONAL if c in header]],
    )
    stage = pl.col("Lifecycle Stage").str.strip_chars().str.to_lowercase()
    optional = lambda c: pl.col(c) if c in header else pl.lit(None, dtype=pl.String)  # noqa: E731
    return frame.select(
        "Record ID",
        stage.replace_strict(list(lookup), list(lookup.values()), default=None).alias(
            f"stage_{tool}"
        ),
        pl.col("Lifecycle Stage").alias(f"written_{tool}"),
        optional("Lifecycle Rule").alias(f"rule_{tool}"),
        optional("Other Type").alias(f"other_type_{tool}"),
    )


def check_shape(outputs: dict[str, Path], frames: dict[str, pl.DataFrame]) -> int:
    """Print where an output's header or row count differs from the first tool's; return how many
    outputs do."""
    tools = list(outputs)
    headers = {
        tool: pl.scan_csv(path, infer_schema=False).collect_schema().names()
        for tool, path in outputs.items()
    }
    base, bad = tools[0], 0
    for tool in tools[1:]:
        problems = []
        if headers[tool] != headers[base]:
            missing = [c for c in headers[base] if c not in headers[tool]]
            extra = [c for c in headers[tool] if c not in headers[base]]
            problems.append(
                f"header differs from {base}'s: missing {missing}, extra {extra}"
                + ("" if missing or extra else f", order {headers[tool]}")
            )
        if frames[tool].height != frames[base].height:
            problems.append(f"{frames[tool].height:,} rows, {base} has {frames[base].height:,}")
        if problems:
            bad += 1
            print(f"{tool}: " + "; ".join(problems))
    if not bad:
        print(
            f"all outputs have {base}'s {len(headers[base])} columns in its order and "
            f"{frames[base].height:,} rows"
        )
    return bad


def compare(outputs: dict[str, Path]) -> int:
    """Print disagreements between the outputs; return how many contacts (and misshapen outputs)
    disagree.

    Stage (as its id), rule and Other Type must agree (rule and Other Type where a tool writes
    them); a stage written in another spelling of the same stage is listed, not counted."""
    from lifecycle_cli.rules.model import load_rules

    lookup = load_rules(ROOT / "rules.yaml").stage_lookup()
    tools = list(outputs)
    frames = {tool: read_output(tool, path, lookup) for tool, path in outputs.items()}
    bad_shape = check_shape(outputs, frames)
    joined = frames[tools[0]]
    for tool in tools[1:]:
        joined = joined.join(frames[tool], on="Record ID", how="full", coalesce=True)
    headers = {
        tool: pl.scan_csv(path, infer_schema=False).collect_schema().names()
        for tool, path in outputs.items()
    }
    writes = lambda column: [t for t in tools if column in headers[t]]  # noqa: E731
    stage_cols = [f"stage_{t}" for t in tools]
    rule_cols = [f"rule_{t}" for t in writes("Lifecycle Rule")]
    other_cols = [f"other_type_{t}" for t in writes("Other Type")]

    def differs(cols: list[str]) -> pl.Expr:
        return pl.any_horizontal(
            [pl.lit(False)] + [pl.col(c).ne_missing(pl.col(cols[0])) for c in cols[1:]]
        )

    stage_bad = joined.filter(differs(stage_cols))
    rule_bad = joined.filter((differs(rule_cols) | differs(other_cols)) & ~differs(stage_cols))
    print(
        f"compared {joined.height:,} contacts across {', '.join(tools)}: "
        f"{stage_bad.height:,} disagree on the stage, {rule_bad.height:,} more on the rule or "
        "Other Type only"
        f" (rule: {', '.join(c[5:] for c in rule_cols)}; Other Type: "
        f"{', '.join(c[11:] for c in other_cols)})"
    )
    shown = ["Record ID"] + stage_cols + rule_cols + other_cols
    for title, bad in (("stage", stage_bad), ("rule or Other Type", rule_bad)):
        if bad.height:
            print(f"  {title} disagreements by pattern:")
            patterns = (
                bad.group_by(stage_cols + rule_cols + other_cols).len().sort("len", descending=True)
            )
            with pl.Config(tbl_rows=EXAMPLES, tbl_cols=-1, tbl_width_chars=250, fmt_str_lengths=20):
                print(patterns.head(EXAMPLES))
                print(f"  first {EXAMPLES} contacts:")
                print(bad.select(shown).head(EXAMPLES))
    # Same stage, another spelling (HubSpot value vs label, say): a difference in form, not in
    # stage.
    base = f"written_{tools[0]}"
    for tool in tools[1:]:
        spelled = joined.filter(
            ~differs(stage_cols) & pl.col(f"written_{tool}").ne_missing(pl.col(base))
        )
        if spelled.height:
            pairs = spelled.group_by(
                pl.col(base).alias(tools[0]), pl.col(f"written_{tool}").alias(tool)
            ).len()
            listed = ", ".join(
                f"{a!r} as {b!r} ({n:,})"
                for a, b, n in pairs.sort("len", descending=True).head(4).iter_rows()
            )
            print(
                f"  note: {tool} spells the stage of {spelled.height:,} contacts differently from "
                f"{tools[0]} "
                f"(same stage, not counted): {listed}"
            )
    identical = [t for t in tools[1:] if filecmp.cmp(outputs[t], outputs[tools[0]], shallow=False)]
    if identical:
        print(f"  byte for byte the same file as {tools[0]}'s: {', '.join(identical)}")
    return stage_bad.height + rule_bad.height + bad_shape


#: How the ratio lines name each DuckDB and Polars peer.
PEER_NAMES = {
    "duckdb": "the DuckDB query with every normalisation",
    "duckdb-plain": "the plain DuckDB query",
    "polars-plain": "the plain Polars pipeline",
}


def _ratio(who: str, peer: str, mine: tuple, theirs: tuple, target: str) -> None:
    """`who`'s time and peak memory as a multiple of `peer`'s."""
    print(
        f"{who} vs {PEER_NAMES[peer]}: {mine[0] / theirs[0]:.2f}x its time, "
        f"{mine[1] / theirs[1]:.2f}x its peak memory{target}"
    )


def print_table(results: dict[str, tuple[float, float]], failed: list[str]) -> None:
    """Print each tool's fastest time and peak memory, with ratios against lifecycle's, and
    lifecycle's time and memory against each DuckDB and Polars peer's and pandas'."""
    base = results.get("lifecycle")
    print(f"\n{'tool':<14}{'seconds':>10}{'peak MB':>10}{'time/lc':>10}{'mem/lc':>10}")
    for tool, (seconds, peak) in results.items():
        ratios = f"{seconds / base[0]:>10.2f}{peak / base[1]:>10.2f}" if base else ""
        print(f"{tool:<14}{seconds:>10.2f}{peak:>10.0f}{ratios}")
    for tool in failed:
        print(f"{tool:<14}{'failed':>10}")
    for tool, target in (
        ("duckdb", ""),
        ("duckdb-plain", " (targets <= 1.0 at 1M and 10M)"),
        ("polars-plain", ""),
    ):
        if base and tool in results:
            _ratio("lifecycle", tool, base, results[tool], target)
    # Each engine against the hand-written DuckDB query (which keeps the file's row order too),
    # and against the one that reads every value as lifecycle does (every date format, the
    # stage spellings): the same work without the checks.
    for tool, engine in ENGINES.items():
        for peer, target in (("duckdb-plain", " (target <= 1.0 for duckdb)"), ("duckdb", "")):
            if tool in results and peer in results:
                _ratio(f"lifecycle --engine {engine}", peer, results[tool], results[peer], target)
    if base and "pandas" in results:
        print(
            f"lifecycle is {results['pandas'][0] / base[0]:.1f}x faster than pandas (target >= 8 "
            "at 1M)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument(
        "--runs", type=int, default=1, help="runs per tool; the table shows the fastest"
    )
    parser.add_argument(
        "--skip",
        action="append",
        choices=TOOLS[1:],
        default=[],
        help="leave out a peer (repeatable)",
    )
    parser.add_argument("--no-diff", action="store_true", help="do not also time lifecycle diff")
    parser.add_argument(
        "--duckdb-memory-limit",
        metavar="SIZE",
        help="run DuckDB with this memory_limit (e.g. 5GB; it may spill to disk) instead of its "
        "default, 80%% of RAM",
    )
    args = parser.parse_args()
    if args.duckdb_memory_limit:
        os.environ["DUCKDB_MEMORY_LIMIT"] = (
            args.duckdb_memory_limit
        )  # read by peer_duckdb.py and peer_duckdb_plain.py
    data = generated(args.contacts)
    size_mb = (
        sum((data / f).stat().st_size for f in ("contacts.csv", "deals.csv", "consent.csv")) / 1e6
    )
    print(f"{args.contacts:,} contacts, {size_mb:,.0f} MB of CSV in")

    results: dict[str, tuple[float, float]] = {}
    outputs: dict[str, Path] = {}
    failed: list[str] = []
    for tool, (cmd, out) in commands(data).items():
        if tool in args.skip:
            continue
        out.unlink(missing_ok=True)
        try:
            runs = [measure(cmd) for _ in range(args.runs)]
        except RuntimeError as exc:
            print(f"{tool}: {exc}", file=sys.stderr)
            failed.append(tool)
            continue
        for seconds, peak in runs:
            print(f"  {tool:<13} {seconds:8.2f} s {peak:8.0f} MB", flush=True)
        results[tool] = min(runs)
        outputs[tool] = out

    disagreements = compare(outputs) if len(outputs) > 1 else 0

    print_table(results, failed)
    lifecycle_out = outputs.get("lifecycle")
    if lifecycle_out is not None and not args.no_diff:
        # diff of two exports of this size: the input and lifecycle's reclassified file.
        files_mb = (data / "contacts.csv").stat().st_size / 1e6 + lifecycle_out.stat().st_size / 1e6
        seconds, peak = measure(
            [
                sys.executable,
                "-m",
                "lifecycle_cli",
                "diff",
                str(data / "contacts.csv"),
                str(lifecycle_out),
                "-q",
            ]
        )
        print(
            f"lifecycle diff of two {args.contacts:,}-row files ({files_mb:,.0f} MB): "
            f"{seconds:.1f} s, "
            f"peak {peak:,.0f} MB ({peak / files_mb:.2f}x the size of the files)"
        )
    return 1 if disagreements or failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What the step benchmarks (``bench_pipeline.py``, ``bench_engines.py``) share: the synthetic
data set, the command line, and each step measured in its own fresh process.

``--customers`` takes several sizes ("1000000,10000000,1000000"): each is measured in turn and
:func:`print_growth` prints how each step's time grows against the smallest size, measured in
the same run (a size named twice is measured twice, to show the drift between runs).

The parent runs the script again with the hidden ``--child STEP`` for each step; the child runs
that step's ``_step_STEP(args)``, which times the measured work itself, and prints its figures
as one ``RESULT {...}`` line; the parent adds that child's peak resident memory (from
``os.wait4``: not the running maximum over every child the parent ran) and its wall time seen
from outside.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def ensure_data(n: int, seed: int, data_dir: Path) -> dict:
    """Generate (once) and return the paths and facts of the synthetic data set."""
    folder = data_dir / f"synthetic-n{n}-s{seed}"
    marker = folder / "COMPLETE"
    if not marker.is_file():
        print(f"generating {n:,} customers (seed {seed}) into {folder} ...", flush=True)
        # Streamed block by block: memory stays flat, so 5M and 10M customers can be made.
        code = (
            "import json, sys, time\n"
            "import pyarrow.parquet as pq\n"
            "from segmint.datasets import write_stream\n"
            "n, seed, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]\n"
            "t0 = time.perf_counter(); paths = write_stream(n, folder, seed=seed)\n"
            "seconds = time.perf_counter() - t0\n"
            "rows = pq.read_metadata(paths['transactions']).num_rows\n"
            "print('RESULT ' + json.dumps({'rows': rows, 'seconds': seconds}))\n"
        )
        result = run_child([sys.executable, "-c", code, str(n), str(seed), str(folder)])
        if "failed" in result:
            raise SystemExit(f"generating the data set failed ({result['failed']})")
        facts = {"n_customers": n, "seed": seed, **result}
        print(
            f"  generated {facts['rows']:,} lines in {facts['seconds']:.1f} s, "
            f"peak RSS {facts['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
        marker.write_text(json.dumps(facts))
    facts = json.loads(marker.read_text())
    facts["transactions"] = str(folder / "transactions.parquet")
    facts["customers"] = str(folder / "customers.parquet")
    return facts


def parser(description: str, steps: Sequence[str]) -> argparse.ArgumentParser:
    """The options every step benchmark has (size, seed, data folder, steps), and the hidden
    ones a step's child process is given (:func:`child_argv`)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument(
        "--customers",
        type=_sizes,
        default=[1_000_000],
        help="customers, or several sizes comma-separated (a size named twice runs twice)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/segmint-bench"))
    ap.add_argument(
        "--steps", default=",".join(steps), help=f"comma-separated subset of {','.join(steps)}"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--ws", help=argparse.SUPPRESS)
    ap.add_argument("--transactions", help=argparse.SUPPRESS)
    ap.add_argument("--customers-file", dest="customers_file", help=argparse.SUPPRESS)
    return ap


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected sizes like 1000000,10000000: {text!r}"
        ) from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive sizes: {text!r}")
    return sizes


def growth(runs: list[tuple[int, dict[str, dict]]]) -> dict[str, dict[str, dict]]:
    """Each step's time at each size over its time at the smallest size, all from ``runs``
    (size, figures by step), in the order measured.

    A size measured more than once counts by its median time; ``low`` and ``high`` are the
    ratios against the fastest and slowest run of the smallest size, which show how much of a
    ratio is drift between runs."""
    smallest = min(n for n, _ in runs)
    out: dict[str, dict[str, dict]] = {}
    steps = dict.fromkeys(step for _, figures in runs for step in figures)
    for step in steps:
        times: dict[int, list[float]] = {}
        for n, figures in runs:
            if step in figures:
                times.setdefault(n, []).append(figures[step]["seconds"])
        base = times.get(smallest)
        if not base:
            continue
        for n in sorted(times):
            if n == smallest:
                continue
            mid = statistics.median(times[n])
            out.setdefault(step, {})[str(n)] = {
                "ratio": round(mid / statistics.median(base), 2),
                "low": round(mid / max(base), 2),
                "high": round(mid / min(base), 2),
                "seconds": round(mid, 3),
                "baseline_seconds": [round(t, 3) for t in base],
            }
    return out


def print_growth(runs: list[tuple[int, dict[str, dict]]]) -> None:
    """Print :func:`growth` as a table and one ``JSON growth:`` line (nothing for one size)."""
    if len({n for n, _ in runs}) < 2:
        return
    table = growth(runs)
    smallest = min(n for n, _ in runs)
    print()
    print(f"growth of each step's time against {smallest:,} customers, measured in this run:")
    for step, sizes in table.items():
        for n, g in sizes.items():
            spread = f" ({g['low']:.2f}-{g['high']:.2f}x)" if g["low"] != g["high"] else ""
            base = ", ".join(f"{t:.1f}" for t in g["baseline_seconds"])
            print(
                f"  {step:<16s}{int(n):>12,}  {g['seconds']:9.2f} s / [{base}] s  "
                f"= {g['ratio']:6.2f}x{spread}"
            )
    print("JSON growth: " + json.dumps(table))


def chosen_steps(ap: argparse.ArgumentParser, args, steps: Sequence[str]) -> list[str]:
    """The steps ``--steps`` names, in the order of ``steps`` (an unknown one is an error)."""
    named = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = set(named) - set(steps)
    if unknown:
        ap.error(f"unknown step(s): {', '.join(sorted(unknown))}")
    return [s for s in steps if s in named]


def child_argv(script: str, step: str, ws: Path, data: dict) -> list[str]:
    """The command that runs ``step`` of ``script`` in a fresh process, on workspace ``ws``
    and the files of ``data`` (:func:`ensure_data`)."""
    return [
        sys.executable,
        script,
        "--child",
        step,
        "--ws",
        str(ws),
        "--transactions",
        data["transactions"],
        "--customers-file",
        data["customers"],
    ]


def run_step(args, functions: dict) -> dict:
    """In a step's child process: the figures of ``_step_<--child>`` among ``functions`` (the
    script's globals)."""
    args.customers = args.customers_file  # the child's customers are the file, not a count
    return functions[f"_step_{args.child}"](args)


def print_result(result: dict) -> None:
    """The child's figures, as :func:`run_child` reads them."""
    print("RESULT " + json.dumps(result), flush=True)


def peak_mib() -> float:
    """This process's own peak resident memory, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_child(argv: list[str], *, capture_result: bool = True) -> dict:
    """Run a fresh process; return its result with its own peak RSS and outer wall time."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = {}
    if proc.returncode != 0:
        sys.stdout.write(out)
        print(f"step failed ({proc.returncode}): {' '.join(argv)}", flush=True)
        result["failed"] = proc.returncode
    elif capture_result:
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        result = json.loads(lines[-1][len("RESULT ") :])
    result["outer_seconds"] = wall
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return result

"""Spark against DuckDB on the generator's data: each engine's feature step against a bare
GROUP BY over the same rows, and the whole run end to end on each.

Usage::

    python benchmarks/bench_engines.py [--customers 1000000[,10000000]] [--seed 0] \\
        [--data-dir /tmp/segmint-bench] [--master local[2]] [--steps ...]

The data (``segmint.datasets.write_stream``, about 20 lines per customer, as Parquet) is made
once by ``_measure.ensure_data`` and reused. Every step runs in its own fresh process and
is timed from inside, around the measured work only (a Spark step's session start is reported
on its own as ``start_s``). Steps:

- ``spark_groupby``: a bare Spark ``GROUP BY customer_id`` (latest time, distinct orders, net
  spend) over the Parquet lines, run to Spark's ``noop`` sink;
- ``spark_features``: ``segmint.features.feature_query`` on Spark over the same files, run to
  the ``noop`` sink (every customer's features computed, none written);
- ``duckdb_groupby`` / ``duckdb_features``: the same on DuckDB over the same Parquet files
  (features fetched as Arrow, as the DuckDB run does);
- ``duckdb_run``: ``pipeline.ingest_and_segment`` into a fresh workspace (the CLI's ``run``),
  then ``pipeline.predict`` on it, timed apart (``predict_s``);
- ``spark_run``: ``pipeline.segment_on_spark`` (the CLI's ``run --engine spark``) into a fresh
  workspace, then ``pipeline.predict`` on it (on Spark), timed apart.

``--no-predict`` leaves the predictions out of both runs: ``segmint run`` is the whole
pipeline end to end, and ``predict`` is a command of its own that takes far longer at scale
(most of it fitting the models on the fit sample).

Peak memory: the Python process's own (``ru_maxrss``) and, for Spark, the driver JVM's peak
resident set (``VmHWM``; in local mode the executors run inside it). A table and one ``JSON:``
line are printed at the end, with the ratios the issue sets targets for: Spark features over
the bare Spark GROUP BY (target <= 3, the bar DuckDB meets) and Spark's run over DuckDB's.
With two sizes (``--customers 1000000,10000000``) it prints how each engine's time grows.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import (  # noqa: E402
    child_argv,
    chosen_steps,
    ensure_data,
    parser,
    peak_mib,
    print_growth,
    print_result,
    run_child,
    run_step,
)

STEPS = (
    "spark_groupby",
    "spark_features",
    "duckdb_groupby",
    "duckdb_features",
    "spark_run",
    "duckdb_run",
)

GROUPBY_SQL = """SELECT customer_id, max(ts) AS last_ts, count(DISTINCT order_id) AS orders,
                        sum(amount) AS spend
                 FROM transactions GROUP BY customer_id"""


def _session(args):
    from segmint.engine import read_tables, spark_session

    t0 = time.perf_counter()
    session = spark_session(args.master, driver_memory=args.driver_memory)
    engine = read_tables(session, args.transactions)
    return session, engine, time.perf_counter() - t0


def _jvm_peak_mib(session) -> float | None:
    """Peak resident memory of the driver JVM (with local executors), from /proc."""
    try:
        pid = session.sparkContext._gateway.proc.pid
        status = Path(f"/proc/{pid}/status").read_text()
    except (AttributeError, OSError):
        return None
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
    return int(kib) / 1024


def _step_spark_groupby(args) -> dict:
    session, _, start = _session(args)
    t0 = time.perf_counter()
    session.sql(GROUPBY_SQL).write.format("noop").mode("overwrite").save()
    return {"seconds": time.perf_counter() - t0, "start_s": start, "jvm": _jvm_peak_mib(session)}


def _step_spark_features(args) -> dict:
    from segmint.features import feature_query
    from segmint.pipeline import N_TOP_CATEGORIES

    session, engine, start = _session(args)
    t0 = time.perf_counter()
    query = feature_query(engine, n_top_categories=N_TOP_CATEGORIES)
    engine.dataframe(query).write.format("noop").mode("overwrite").save()
    return {"seconds": time.perf_counter() - t0, "start_s": start, "jvm": _jvm_peak_mib(session)}


def _duckdb(args):
    import duckdb

    from segmint.config import duckdb_memory_limit, get_settings

    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [duckdb_memory_limit(get_settings().memory_limit)])
    con.execute(f"CREATE VIEW transactions AS SELECT * FROM read_parquet('{args.transactions}')")
    return con


def _step_duckdb_groupby(args) -> dict:
    con = _duckdb(args)
    t0 = time.perf_counter()
    rows = con.sql(GROUPBY_SQL).to_arrow_table().num_rows
    return {"seconds": time.perf_counter() - t0, "customers": rows}


def _step_duckdb_features(args) -> dict:
    from segmint.features import build_features
    from segmint.pipeline import N_TOP_CATEGORIES

    con = _duckdb(args)
    t0 = time.perf_counter()
    rows = build_features(con, n_top_categories=N_TOP_CATEGORIES).num_rows
    return {"seconds": time.perf_counter() - t0, "customers": rows}


def _step_duckdb_run(args) -> dict:
    from segmint import pipeline
    from segmint.store.workspace import Workspace

    t0 = time.perf_counter()
    _, run = pipeline.ingest_and_segment(
        Workspace(args.ws), args.transactions, customers=args.customers, write_html=False
    )
    return {"seconds": time.perf_counter() - t0, "customers": run.n_customers} | _predict(args)


def _predict(args) -> dict:
    """``predict_s``: ``pipeline.predict`` on the step's run, unless ``--no-predict``."""
    if args.no_predict:
        return {}
    from segmint import pipeline
    from segmint.store.workspace import Workspace

    t0 = time.perf_counter()
    pipeline.predict(Workspace(args.ws))
    return {"predict_s": time.perf_counter() - t0}


def _step_spark_run(args) -> dict:
    from segmint import pipeline
    from segmint.engine import spark_session
    from segmint.store.workspace import Workspace

    t0 = time.perf_counter()
    session = spark_session(args.master, driver_memory=args.driver_memory)
    run = pipeline.segment_on_spark(
        Workspace(args.ws),
        args.transactions,
        customers=args.customers,
        master=args.master,
        write_html=False,
    )
    figures = {
        "seconds": time.perf_counter() - t0,
        "customers": run.n_customers,
        "fit_sample": run.metrics["fit_sample"],
    }
    return figures | _predict(args) | {"jvm": _jvm_peak_mib(session)}


def main() -> None:
    ap = parser(__doc__.split("\n")[0], STEPS)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument(
        "--no-predict", action="store_true", help="time the runs without predicting on them"
    )
    args = ap.parse_args()
    if args.child:
        # the Python process's own peak: a Spark step's JVM is measured apart
        print_result(run_step(args, globals()) | {"python_mib": peak_mib()})
        return

    steps = chosen_steps(ap, args, STEPS)
    runs = [(n, _measure_size(args, n, steps)) for n in args.customers]
    print_growth(runs)


def _measure_size(args, customers: int, steps: list[str]) -> dict[str, dict]:
    """Run ``steps`` on the data set of ``customers``; print and return their figures."""
    data = ensure_data(customers, args.seed, args.data_dir)
    print(f"{customers:,} customers, {data['rows']:,} lines; Spark {args.master}", flush=True)
    figures = {}
    for step in steps:
        ws = args.data_dir / f"ws-engines-{step}-n{customers}"
        shutil.rmtree(ws, ignore_errors=True)
        argv = child_argv(__file__, step, ws, data)
        argv += ["--master", args.master, "--driver-memory", args.driver_memory]
        argv += ["--no-predict"] if args.no_predict else []
        result = run_child(argv)
        shutil.rmtree(ws, ignore_errors=True)
        if "failed" in result:
            continue
        figures[step] = result
        jvm = f"  JVM peak {result['jvm']:7.0f} MiB" if result.get("jvm") else ""
        scored = f"  then predict {result['predict_s']:9.2f} s" if "predict_s" in result else ""
        print(
            f"  {step:<16s}{result['seconds']:9.2f} s  python peak "
            f"{result['python_mib']:7.0f} MiB{jvm}{scored}",
            flush=True,
        )

    def ratio(a: str, b: str, key: str = "seconds") -> float | None:
        if key in figures.get(a, {}) and key in figures.get(b, {}):
            return figures[a][key] / figures[b][key]
        return None

    ratios = {
        "spark_features / spark_groupby (target <= 3)": ratio("spark_features", "spark_groupby"),
        "duckdb_features / duckdb_groupby": ratio("duckdb_features", "duckdb_groupby"),
        "spark_features / duckdb_features": ratio("spark_features", "duckdb_features"),
        "spark_run / duckdb_run": ratio("spark_run", "duckdb_run"),
        "spark predict / duckdb predict": ratio("spark_run", "duckdb_run", "predict_s"),
    }
    print()
    for name, value in ratios.items():
        print(f"  {name:<46s}{'-' if value is None else f'{value:8.2f}'}")
    print("JSON: " + json.dumps({"customers": customers, "figures": figures, **ratios}))
    return figures


if __name__ == "__main__":
    main()

"""Speed and memory of the segmint pipeline, step by step, on synthetic customers.

Usage::

    python benchmarks/bench_pipeline.py [--customers 1000000[,10000000,...]] [--seed 0] \\
        [--data-dir /tmp/segmint-bench] [--steps ingest,features,segmentation,report,...]

The data set (``segmint.datasets.write_stream``, about 20 transaction lines per customer) is
streamed once to Parquet under ``--data-dir`` (keyed by size and seed), in its own process whose
time and peak memory are printed and kept in the folder's ``COMPLETE`` marker, and reused. Every
step
then runs in its own fresh Python process; the parent takes that process's peak resident
memory from ``os.wait4`` (the child's own ``ru_maxrss``, not the running maximum over all
children), and the step's wall time from inside the child, around the measured call only
(interpreter start and imports excluded; the ``pipeline`` step is timed from outside, as a user
sees it). Steps, in order (``--steps`` picks a subset; later ones need the workspace of
``ingest``):

- ``ingest``: ``pipeline.ingest`` of transactions + customers into a fresh workspace;
- ``features``: ``pipeline.compute_features(con)`` (default ``as_of``), Arrow -> pandas included;
- ``segmentation``: ``pipeline.segment(ws, write_html=False)`` minus the feature time it reports
  through its progress callback (same process, so its peak memory includes the features);
- ``report``: ``pipeline.write_report`` of that run;
- ``pipeline``: the CLI ``segmint run --transactions ... --customers ... -w NEW -q`` end to end;
- ``groupby`` / ``groupby_cat``: bare DuckDB ``GROUP BY customer_id`` baselines on the same
  workspace table (max ts, distinct orders, sum amount; then also distinct categories);
- ``pandas``: the feature step written with pandas groupby on the same rows, read from the
  workspace (load time excluded from its figure).

A table and one ``JSON:`` line with every figure are printed for each size, and with several
sizes the growth of each step's time against the smallest (target: 10M / 1M at most 11).
Targets at 1M: whole pipeline under 2 minutes and 6 GB; features <= 3x the bare GROUP BY;
pandas >= 5x the features.
"""

from __future__ import annotations

import json
import os
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
    print_growth,
    print_result,
    run_child,
    run_step,
)

#: segmint.features.MONTH_DAYS (the test of this baseline checks they agree)
MONTH_DAYS = 30

STEPS = (
    "ingest",
    "features",
    "segmentation",
    "report",
    "pipeline",
    "groupby",
    "groupby_cat",
    "pandas",
)

GROUPBY_SQL = """SELECT customer_id, max(ts), count(DISTINCT order_id), sum(amount)
                 FROM transactions GROUP BY 1"""
GROUPBY_CAT_SQL = """SELECT customer_id, max(ts), count(DISTINCT order_id), sum(amount),
                            count(DISTINCT category)
                     FROM transactions GROUP BY 1"""


# --------------------------------------------------------------------------- child steps


def _step_ingest(args) -> dict:
    from segmint import pipeline
    from segmint.store.workspace import Workspace

    t0, c0 = time.perf_counter(), _cpu()
    results = pipeline.ingest(Workspace(args.ws), args.transactions, customers=args.customers)
    return {
        "seconds": time.perf_counter() - t0,
        "cpu": _cpu() - c0,
        "rows_loaded": results[0].rows_loaded,
    }


def _step_features(args) -> dict:
    from segmint import pipeline
    from segmint.store.workspace import Workspace

    with Workspace(args.ws).connect() as con:
        (mapped_before,) = con.execute("SELECT count(*) FROM product_categories").fetchone()
        t0, c0 = time.perf_counter(), _cpu()
        features, as_of = pipeline.compute_features(con)
        seconds, cpu = time.perf_counter() - t0, _cpu() - c0
        (mapped_after,) = con.execute("SELECT count(*) FROM product_categories").fetchone()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "customers": len(features),
        "columns": features.shape[1],
        "as_of": as_of.isoformat(),
        "categories_derived": mapped_after > mapped_before,
    }


def _step_segmentation(args) -> dict:
    from segmint import pipeline
    from segmint.store.workspace import Workspace

    marks: dict[str, float] = {}
    phases: list[tuple[str, float]] = []

    def progress(step: str, done: int, total: int) -> None:
        now = time.perf_counter()
        marks.setdefault(f"{step}:{done}", now)
        phases.append((f"{step} {done}/{total}", now))

    t0, c0 = time.perf_counter(), _cpu()
    result = pipeline.segment(Workspace(args.ws), write_html=False, progress=progress)
    total, cpu_total = time.perf_counter() - t0, _cpu() - c0
    features = marks["features:1"] - marks["features:0"]
    # time between successive progress calls: where the segmentation spends it
    breakdown, last = {}, t0
    for name, at in phases:
        breakdown[name] = round(breakdown.get(name, 0.0) + at - last, 3)
        last = at
    return {
        "seconds": total - features,
        "segment_total": total,
        "segment_cpu_incl_features": cpu_total,
        "features_inside": features,
        "run_id": result.run_id,
        "n_segments": result.metrics["n_segments"],
        "breakdown": breakdown,
    }


def _step_report(args) -> dict:
    from segmint import pipeline
    from segmint.store.workspace import Workspace

    t0, c0 = time.perf_counter(), _cpu()
    path = pipeline.write_report(Workspace(args.ws))
    return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "bytes": path.stat().st_size}


def _query(args, sql: str) -> dict:
    import duckdb

    con = duckdb.connect(str(Path(args.ws) / "segmint.duckdb"), read_only=True)
    t0, c0 = time.perf_counter(), _cpu()
    table = con.sql(sql).to_arrow_table()
    return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "rows": table.num_rows}


def _step_groupby(args) -> dict:
    return _query(args, GROUPBY_SQL)


def _step_groupby_cat(args) -> dict:
    return _query(args, GROUPBY_CAT_SQL)


def _step_pandas(args) -> dict:
    import duckdb
    import numpy as np
    import pandas as pd

    con = duckdb.connect(str(Path(args.ws) / "segmint.duckdb"), read_only=True)
    t0 = time.perf_counter()
    df = con.execute(
        """SELECT customer_id, order_id, ts, product_id, category, quantity, amount, is_return
           FROM transactions"""
    ).df()
    customers = con.execute("SELECT customer_id, attributes FROM customers").df()
    con.close()
    load = time.perf_counter() - t0

    t0, c0 = time.perf_counter(), _cpu()
    out = pandas_features(df, customers, n_top=8, window_days=90, np=np, pd=pd)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {
        "seconds": seconds,
        "cpu": cpu,
        "load_seconds": load,
        "customers": len(out),
        "columns": out.shape[1],
    }


def pandas_features(df, customers, *, n_top, window_days, np, pd, max_levels=5):
    """The feature step with pandas groupby: the same definitions as ``build_features``.

    ``df`` holds the transaction lines, ``customers`` the ``customer_id`` and ``attributes``
    (JSON text) columns. Attributes follow the same rules for clean JSON (a key holding
    numbers or booleans becomes ``attr_<key>``; one holding at most ``max_levels`` distinct
    strings becomes one 0/1 column per value, ``attr_<key>__<value>``); keys of mixed types,
    text numbers, Yes/No text and whole-number codes are not handled.
    """
    as_of = df["ts"].max().normalize() + pd.Timedelta(days=1)
    df = df[df["ts"] < as_of]
    ret = df["is_return"].fillna(df["amount"] < 0).to_numpy(bool)
    value = np.where(ret, -df["amount"].abs(), df["amount"])
    cust_codes, cust_ids = pd.factorize(df["customer_id"])
    lines = pd.DataFrame(
        {
            "c": cust_codes,
            "order_id": df["order_id"],
            "ts": df["ts"],
            "product_id": df["product_id"],
            "category": df["category"],
            "quantity": df["quantity"],
            "value": value,
            "ret": ret,
        }
    )
    buy = lines[~ret]
    # orders (purchases) -> order-day gaps -> per customer
    orders = (
        buy.groupby(["c", "order_id"], sort=False, observed=True)
        .agg(ts=("ts", "min"), gross=("value", "sum"), items=("quantity", "sum"))
        .reset_index()
    )
    orders["day"] = orders["ts"].to_numpy().astype("datetime64[D]").astype(np.int64)
    orders = orders.sort_values(["c", "day"], kind="stable")
    orders["gap"] = orders.groupby("c", sort=False)["day"].diff()
    w = pd.Timedelta(days=window_days)
    orders["recent"] = orders["gross"].where(orders["ts"] >= as_of - w, 0.0)
    orders["previous"] = orders["gross"].where(
        (orders["ts"] >= as_of - 2 * w) & (orders["ts"] < as_of - w), 0.0
    )
    g = orders.groupby("c")
    f = pd.DataFrame(
        {
            "frequency": g.size(),
            "first": g["ts"].min(),
            "last": g["ts"].max(),
            "gross": g["gross"].sum(),
            "items": g["items"].sum(),
            "recent": g["recent"].sum(),
            "previous": g["previous"].sum(),
        }
    )
    back = (as_of.to_datetime64().astype("datetime64[D]").astype(np.int64) - orders["day"]).rename(
        "back"
    )
    days = pd.concat([orders["c"], back], axis=1).drop_duplicates()
    recent_days = days.loc[days["back"] <= window_days].groupby("c").size()
    months = days.assign(m=(days["back"] - 1) // MONTH_DAYS)[["c", "m"]].drop_duplicates()
    gaps = orders.loc[orders["gap"] > 0].groupby("c")["gap"]
    f["gap_mean"], f["gap_std"], f["n_gaps"] = gaps.mean(), gaps.std(ddof=0), gaps.size()
    f["returned"] = (-lines.loc[ret].groupby("c")["value"].sum()).reindex(f.index).fillna(0.0)
    f["n_products"] = buy.groupby("c")["product_id"].nunique()
    by_cat = buy.groupby(["c", "category"], observed=True)["value"].sum().unstack()
    by_cat = by_cat.reindex(f.index)
    top = buy.groupby("category")["value"].sum().sort_values(ascending=False).index[:n_top]
    gross_pos = f["gross"].clip(lower=0).replace(0.0, np.nan)
    out = pd.DataFrame(index=f.index)
    out["recency_days"] = (as_of - f["last"]).dt.total_seconds() / 86400
    out["frequency"] = f["frequency"]
    out["monetary"] = f["gross"] - f["returned"]
    out["tenure_days"] = (as_of - f["first"]).dt.total_seconds() / 86400
    out["avg_order_value"] = f["gross"] / f["frequency"]
    out["interpurchase_mean_days"] = f["gap_mean"]
    out["interpurchase_cv"] = (f["gap_std"] / f["gap_mean"]).where(f["n_gaps"] >= 2)
    out["return_rate"] = np.where(
        f["gross"] > 0, (f["returned"] / f["gross"]).clip(0, 1), (f["returned"] > 0).astype(float)
    )
    out["basket_size"] = f["items"] / f["frequency"]
    out["n_products"] = f["n_products"]
    out["n_categories"] = by_cat.notna().sum(axis=1)
    out["top_category_share"] = (by_cat.max(axis=1) / gross_pos).clip(0, 1)
    for c in top:
        out[f"cat_share_{c}"] = (by_cat[c].fillna(0.0) / gross_pos).clip(0, 1)
    out["spend_trend"] = np.log((1 + f["recent"].clip(lower=0)) / (1 + f["previous"].clip(lower=0)))
    out["recent_purchase_days"] = recent_days.reindex(f.index).fillna(0).astype(np.int64)
    out["active_months"] = months.groupby("c").size()
    out.index = cust_ids[out.index]
    out = out.join(_pandas_attributes(customers, max_levels=max_levels, pd=pd))
    return out.sort_index()


def _pandas_attributes(customers, *, max_levels, pd):
    """``attr_*`` columns from the customers' JSON attributes, indexed by customer id."""
    import io

    text = "\n".join(customers["attributes"].fillna("{}"))
    parsed = pd.read_json(io.StringIO(text), lines=True, dtype=False)
    parsed.index = customers["customer_id"].to_numpy()
    columns = {}
    for key in sorted(parsed.columns):
        column = parsed[key]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            columns[f"attr_{key}"] = column.astype(float)
            continue
        values = sorted(column.dropna().unique())
        if len(values) <= max_levels:
            for value in values:
                columns[f"attr_{key}__{value}"] = (column == value).astype(float)
    return pd.DataFrame(columns, index=parsed.index)


def _cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- parent


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    ap = parser(__doc__.split("\n")[0], STEPS)
    args = ap.parse_args()
    if args.child:
        print_result(run_step(args, globals()))
        return

    steps = chosen_steps(ap, args, STEPS)
    runs = [(n, _measure_size(args, n, steps)) for n in args.customers]
    print_growth(runs)


def _measure_size(args, customers: int, steps: list[str]) -> dict[str, dict]:
    """Run ``steps`` on the data set of ``customers``; print and return their figures."""
    data = ensure_data(customers, args.seed, args.data_dir)
    ws = args.data_dir / f"ws-n{customers}-s{args.seed}"
    import duckdb

    print(
        f"{customers:,} customers, {data['rows']:,} transaction lines; "
        f"python {sys.version.split()[0]}, duckdb {duckdb.__version__}, {os.cpu_count()} CPUs; "
        f"load average before: {_load()}",
        flush=True,
    )

    figures: dict[str, dict] = {}
    for step in steps:
        if step == "ingest" and ws.exists():
            shutil.rmtree(ws)
        if step == "pipeline":
            new = args.data_dir / f"ws-cli-n{customers}-s{args.seed}"
            shutil.rmtree(new, ignore_errors=True)
            cli = str(Path(sys.executable).with_name("segmint"))
            argv = [
                cli,
                "run",
                "--transactions",
                data["transactions"],
                "--customers",
                data["customers"],
                "--workspace",
                str(new),
                "-q",
                "--json",
            ]
            result = run_child(argv, capture_result=False)
            result["seconds"] = result["outer_seconds"]
            result["cpu"] = result["cpu_seconds"]
            shutil.rmtree(new, ignore_errors=True)
        else:
            result = run_child(child_argv(__file__, step, ws, data))
        result["load_after"] = _load()
        if "failed" in result:
            continue
        figures[step] = result
        extra = {
            k: v
            for k, v in result.items()
            if k not in ("seconds", "outer_seconds", "peak_rss_mib", "cpu_seconds", "load_after")
        }
        print(
            f"  {step:<13s} {result['seconds']:8.2f} s  peak RSS {result['peak_rss_mib']:7.0f} "
            f"MiB  cpu {result['cpu_seconds']:7.1f} s  load {result['load_after']}  "
            f"{json.dumps(extra)}",
            flush=True,
        )

    print()
    print(f"{'step':<34s}{'wall s':>9s}{'cpu s':>9s}{'peak RSS MiB':>14s}{'target':>22s}")
    rows = [
        ("ingest", "ingest"),
        ("features (compute_features)", "features"),
        ("segmentation (segment - features)", "segmentation"),
        ("report", "report"),
        ("whole pipeline (CLI segmint run)", "pipeline"),
        ("bare GROUP BY", "groupby"),
        ("bare GROUP BY + distinct category", "groupby_cat"),
        ("pandas features (compute only)", "pandas"),
    ]
    targets = {"pipeline": "< 120 s, < 6144 MiB"}
    for label, key in rows:
        if key in figures:
            r = figures[key]
            cpu = f"{r['cpu']:9.2f}" if "cpu" in r else f"{'-':>9s}"
            print(
                f"{label:<34s}{r['seconds']:9.2f}{cpu}{r['peak_rss_mib']:14.0f}"
                f"{targets.get(key, ''):>22s}"
            )
    ratios = {}
    if "features" in figures and "groupby" in figures:
        ratios["features_over_groupby"] = (
            figures["features"]["seconds"] / figures["groupby"]["seconds"]
        )
    if "features" in figures and "groupby_cat" in figures:
        ratios["features_over_groupby_cat"] = (
            figures["features"]["seconds"] / figures["groupby_cat"]["seconds"]
        )
    if "features" in figures and "pandas" in figures:
        ratios["pandas_over_features"] = (
            figures["pandas"]["seconds"] / figures["features"]["seconds"]
        )
    for a, b, name in (
        ("features", "groupby", "features_over_groupby_cpu"),
        ("pandas", "features", "pandas_over_features_cpu"),
    ):
        if a in figures and b in figures and "cpu" in figures[a] and "cpu" in figures[b]:
            ratios[name] = figures[a]["cpu"] / figures[b]["cpu"]
    for name, value in ratios.items():
        target = {
            "features_over_groupby": "target <= 3x",
            "pandas_over_features": "target >= 5x",
        }.get(name, "")
        print(f"{name:<34s}{value:8.2f}x  {target}")
    print(f"load average after: {_load()}")
    print(
        "JSON: "
        + json.dumps(
            {
                "customers": customers,
                "lines": data["rows"],
                "cpus": os.cpu_count(),
                "duckdb": duckdb.__version__,
                "figures": {
                    k: {
                        "seconds": round(v["seconds"], 3),
                        "cpu": round(v["cpu"], 3) if "cpu" in v else None,
                        "peak_rss_mib": round(v["peak_rss_mib"]),
                        "load_after": v["load_after"],
                    }
                    for k, v in figures.items()
                },
                "ratios": {k: round(v, 2) for k, v in ratios.items()},
            }
        )
    )
    return figures


if __name__ == "__main__":
    main()

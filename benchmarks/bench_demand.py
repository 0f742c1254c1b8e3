"""Held-out demand forecast on Online Retail: weekly WAPE per category against naive forecasts.

Usage: python benchmarks/bench_demand.py [--data online_retail.csv.gz] [--workspace DIR]

For each cut-off a run is segmented and predicted as of that date (nothing after it is seen),
then the orders containing each category in the 4 and 8 weeks after it are forecast and
compared with what happened (weekly WAPE over every category x week):

- ``model w=W``: ``segmint demand`` (customers' expected purchases spread by their segment's
  category mix, blended with weight W with the 4/13-week run rate); w=0 is the run rate alone,
  w=1 the customer model alone; the shipped weight (``MODEL_WEIGHT``) was chosen at the
  tuning cut-off 2011-08-01 (4 weeks), which is not among the reported ones;
- ``naive (last week)``: each category's orders in the last week, every week;
- ``seasonal naive (4-week cycle)``: the last 4 weeks repeated. Online Retail runs from
  December 2010 to December 2011, so a 52-week season is not available before its last month:
  the 4-week cycle is the strongest seasonal naive the data allows.
"""

from __future__ import annotations

import argparse
import time
import warnings
from datetime import datetime
from pathlib import Path

from segmint import pipeline
from segmint.activate.demand import MODEL_WEIGHT, demand_backtest
from segmint.store.runs import get_run
from segmint.store.workspace import Workspace

DATA = Path(__file__).resolve().parents[2] / "shared/data/online-retail-uci/online_retail.csv.gz"
TUNING = "2011-08-01"
CHECKED = ("2011-09-01", "2011-10-01")
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _run_at(ws: Workspace, cut: str) -> int:
    as_of = datetime.fromisoformat(cut)
    with ws.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT run_id FROM runs WHERE as_of = ? ORDER BY run_id DESC LIMIT 1", [as_of]
        ).fetchall()
        if rows:
            scored = con.execute(
                "SELECT count(*) FROM predictions WHERE run_id = ?", [rows[0][0]]
            ).fetchall()[0][0]
            if scored:
                return rows[0][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = pipeline.segment(ws, as_of=as_of, write_html=False)
        pipeline.predict(ws, run_id=run.run_id)
    return run.run_id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--workspace", type=Path, default=Path("bench-demand-ws"))
    args = ap.parse_args()
    ws = Workspace(args.workspace)
    if not (args.workspace / "segmint.duckdb").exists():
        pipeline.ingest(ws, args.data, preset="online-retail")
    t0 = time.perf_counter()
    runs = {cut: _run_at(ws, cut) for cut in (TUNING, *CHECKED)}
    print(f"runs and predictions: {time.perf_counter() - t0:.0f} s")
    print(f"shipped model weight: {MODEL_WEIGHT:g} (chosen at {TUNING}, 4 weeks)\n")
    methods = None
    with ws.connect(read_only=True) as con:
        for cut in (TUNING, *CHECKED):
            for weeks in (4, 8):
                got = demand_backtest(
                    con, get_run(con, runs[cut]), weeks=weeks, model_weights=WEIGHTS
                )
                if methods is None:
                    methods = list(got["wape"])
                    print(
                        f"{'cut-off':<12}{'weeks':>6}{'orders':>8}  "
                        + "".join(f"{m[:16]:>18}" for m in methods)
                    )
                label = cut + (" (tuning)" if cut == TUNING else "")
                print(
                    f"{label:<12}{weeks:>6}{got['actual_orders']:>8}  "
                    + "".join(f"{got['wape'][m]:>18.3f}" for m in methods)
                )


if __name__ == "__main__":
    main()

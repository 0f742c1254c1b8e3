"""Speed and memory of segmint's BTYD fitters and CLV on simulated customers.

Usage: python benchmarks/bench_btyd.py [--n 1000000] [--continuous]

By default times are recorded by day (as real transaction logs are), i.e. recency and T are
whole days expressed in weeks; --continuous keeps the simulator's continuous times (every row
unique, so compression does not help). Peak memory is the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from segmint.predict import BetaGeoNBD, GammaGamma, ParetoNBD, clv
from segmint.predict.simulate import simulate_bg_nbd, simulate_gamma_gamma, simulate_pareto_nbd


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _data(kind, n, continuous, seed):
    rng = np.random.default_rng(seed)
    # first purchases spread over a 12-week cohort, 39-week calibration (as CDNOW)
    T = 39.0 - np.floor(rng.uniform(0, 84, n)) / 7.0
    if kind == "bg":
        d = simulate_bg_nbd(n, T, r=0.243, alpha=4.414, a=0.793, b=2.426, random_state=seed)
    else:
        d = simulate_pareto_nbd(
            n, T, r=0.553, alpha=10.578, s=0.606, beta=11.669, random_state=seed
        )
    if not continuous:
        d["recency"] = np.floor(d["recency"] * 7.0) / 7.0
    return d


def _time(label, fn):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    print(f"{label:<44s} {dt:8.2f} s   peak RSS {_rss_mib():8.0f} MiB")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--continuous", action="store_true")
    args = ap.parse_args()
    n = args.n
    print(f"n_customers={n:,} times={'continuous' if args.continuous else 'by day'}")
    d = _data("bg", n, args.continuous, 1)
    bg = _time("BG/NBD fit", lambda: BetaGeoNBD().fit(d["frequency"], d["recency"], d["T"]))
    print(
        f"  unique rows {bg.n_unique_:,}  iterations {bg.n_iter_}  params "
        + ", ".join(f"{k}={v:.4g}" for k, v in bg.params_.items())
    )
    dp = _data("pareto", n, args.continuous, 2)
    pn = _time("Pareto/NBD fit", lambda: ParetoNBD().fit(dp["frequency"], dp["recency"], dp["T"]))
    print(
        f"  unique rows {pn.n_unique_:,}  iterations {pn.n_iter_}  params "
        + ", ".join(f"{k}={v:.4g}" for k, v in pn.params_.items())
    )
    s = simulate_gamma_gamma(d["frequency"], p=6.25, q=3.74, gamma=15.44, random_state=3)
    m = np.round(s["monetary_value"], 2)
    m[(d["frequency"] > 0) & (m <= 0)] = 0.01
    rep = d["frequency"] > 0
    gg = _time(
        "Gamma-Gamma fit (repeat buyers)", lambda: GammaGamma().fit(d["frequency"][rep], m[rep])
    )
    print("  params " + ", ".join(f"{k}={v:.4g}" for k, v in gg.params_.items()))
    args_clv = dict(horizon=12, time_unit_per_period=52 / 12, discount_rate=0.01)
    _time(
        "CLV BG/NBD + GG, 12 months, point only",
        lambda: clv(bg, gg, d["frequency"], d["recency"], d["T"], m, interval=None, **args_clv),
    )
    _time(
        "CLV BG/NBD + GG, 12 months, 90% delta interval",
        lambda: clv(bg, gg, d["frequency"], d["recency"], d["T"], m, **args_clv),
    )
    _time(
        "CLV Pareto/NBD + GG, 12 months, 90% delta int.",
        lambda: clv(
            pn,
            gg,
            dp["frequency"],
            dp["recency"],
            dp["T"],
            np.where(dp["frequency"] > 0, np.maximum(m, 0.01), 0.0),
            **args_clv,
        ),
    )


if __name__ == "__main__":
    main()

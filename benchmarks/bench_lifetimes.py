"""segmint's BTYD fitters against lifetimes 0.11.3: same data, same answers, time and memory.

Usage::

    python benchmarks/bench_lifetimes.py --lifetimes-python /tmp/lifetimes-venv/bin/python \\
        [--n 1000000] [--timeout 600]

lifetimes is never a dependency of segmint: it lives in its own virtual environment (it needs
pandas < 3, numpy < 2 and scipy < 1.14; lifetimes 0.11.3 works with numpy 1.26.4, scipy
1.13.1, pandas 2.1.4 and autograd), created for example with::

    python3.11 -m venv /tmp/lifetimes-venv
    /tmp/lifetimes-venv/bin/pip install lifetimes==0.11.3 "numpy<2" "scipy<1.14" \\
        "pandas<2.2" autograd

The parent process simulates the customers once (BG/NBD and Pareto/NBD summaries with
day-resolution times in weeks, Gamma-Gamma spend) and saves them to one ``.npz`` file that
both sides read. Each (library, model) step then runs in its own fresh process, so its peak
resident memory (``ru_maxrss``) is its own; a step that runs past ``--timeout`` is reported
as ``> N s``. Only this file's own code is timed on each side: the fit, and a 12-month CLV
(BG/NBD + Gamma-Gamma, 1 % monthly discount) on every customer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

STEPS = ("bgnbd", "pareto", "gammagamma", "clv")
LABELS = {
    "bgnbd": "BG/NBD fit",
    "pareto": "Pareto/NBD fit",
    "gammagamma": "Gamma-Gamma fit",
    "clv": "CLV 12 months (BG/NBD + GG)",
}


# ---- data -----------------------------------------------------------------------------------
def make_data(n: int, path: str, seed: int = 1) -> None:
    """Simulate the shared data set (segmint's simulators) and save it to ``path``."""
    from segmint.predict.simulate import (
        simulate_bg_nbd,
        simulate_gamma_gamma,
        simulate_pareto_nbd,
    )

    rng = np.random.default_rng(seed)
    # first purchases spread over a 12-week cohort, 39-week calibration (as CDNOW), times
    # recorded by day (recency and T are whole days expressed in weeks)
    T = 39.0 - np.floor(rng.uniform(0, 84, n)) / 7.0
    bg = simulate_bg_nbd(n, T, r=0.243, alpha=4.414, a=0.793, b=2.426, random_state=seed)
    pn = simulate_pareto_nbd(
        n, T, r=0.553, alpha=10.578, s=0.606, beta=11.669, random_state=seed + 1
    )
    gg = simulate_gamma_gamma(bg["frequency"], p=6.25, q=3.74, gamma=15.44, random_state=seed + 2)
    m = np.round(gg["monetary_value"], 2)
    m[(bg["frequency"] > 0) & (m <= 0)] = 0.01
    np.savez(
        path,
        bg_x=bg["frequency"],
        bg_tx=np.floor(bg["recency"] * 7.0) / 7.0,
        bg_T=bg["T"],
        pn_x=pn["frequency"],
        pn_tx=np.floor(pn["recency"] * 7.0) / 7.0,
        pn_T=pn["T"],
        m=m,
    )


# ---- workers (run in a child process, one step each) ------------------------------------------
def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_segmint(step: str, d) -> dict:
    from segmint.predict import BetaGeoNBD, GammaGamma, ParetoNBD, clv

    if step == "bgnbd":
        t0 = time.perf_counter()
        m = BetaGeoNBD().fit(d["bg_x"], d["bg_tx"], d["bg_T"])
        return {"seconds": time.perf_counter() - t0, "params": m.params_}
    if step == "pareto":
        t0 = time.perf_counter()
        m = ParetoNBD().fit(d["pn_x"], d["pn_tx"], d["pn_T"])
        return {"seconds": time.perf_counter() - t0, "params": m.params_}
    rep = d["bg_x"] > 0
    if step == "gammagamma":
        t0 = time.perf_counter()
        g = GammaGamma().fit(d["bg_x"][rep], d["m"][rep])
        return {"seconds": time.perf_counter() - t0, "params": g.params_}
    bg = BetaGeoNBD().fit(d["bg_x"], d["bg_tx"], d["bg_T"])
    g = GammaGamma().fit(d["bg_x"][rep], d["m"][rep])
    t0 = time.perf_counter()
    res = clv(
        bg,
        g,
        d["bg_x"],
        d["bg_tx"],
        d["bg_T"],
        d["m"],
        horizon=12,
        time_unit_per_period=52 / 12,
        discount_rate=0.01,
        interval=None,
    )
    value = np.asarray(res.clv if hasattr(res, "clv") else res, dtype=float)
    return {"seconds": time.perf_counter() - t0, "total_clv": float(value.sum())}


def _worker_lifetimes(step: str, d) -> dict:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    if step == "bgnbd":
        t0 = time.perf_counter()
        m = BetaGeoFitter(penalizer_coef=0.0).fit(d["bg_x"], d["bg_tx"], d["bg_T"])
        return {"seconds": time.perf_counter() - t0, "params": dict(m.params_)}
    if step == "pareto":
        t0 = time.perf_counter()
        m = ParetoNBDFitter(penalizer_coef=0.0).fit(d["pn_x"], d["pn_tx"], d["pn_T"])
        return {"seconds": time.perf_counter() - t0, "params": dict(m.params_)}
    rep = d["bg_x"] > 0
    if step == "gammagamma":
        t0 = time.perf_counter()
        g = GammaGammaFitter(penalizer_coef=0.0).fit(d["bg_x"][rep], d["m"][rep])
        return {"seconds": time.perf_counter() - t0, "params": dict(g.params_)}
    bg = BetaGeoFitter(penalizer_coef=0.0).fit(d["bg_x"], d["bg_tx"], d["bg_T"])
    g = GammaGammaFitter(penalizer_coef=0.0).fit(d["bg_x"][rep], d["m"][rep])
    x, tx, T, m = (pd.Series(d[k]) for k in ("bg_x", "bg_tx", "bg_T", "m"))
    t0 = time.perf_counter()
    value = g.customer_lifetime_value(bg, x, tx, T, m, time=12, discount_rate=0.01, freq="W")
    return {"seconds": time.perf_counter() - t0, "total_clv": float(np.sum(value))}


def _worker(side: str, step: str, data: str) -> None:
    d = dict(np.load(data))
    out = (_worker_segmint if side == "segmint" else _worker_lifetimes)(step, d)
    out["params"] = {k: float(v) for k, v in out.get("params", {}).items()}
    out["peak_rss_mib"] = _rss_mib()
    print("RESULT " + json.dumps(out))


# ---- parent -----------------------------------------------------------------------------------
def _run(python: str, side: str, step: str, data: str, timeout: float) -> dict:
    cmd = [python, os.path.abspath(__file__), "--worker", side, "--step", step, "--data", data]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}


# lifetimes names -> segmint names
_PARAM_MAP = {
    "r": "r",
    "alpha": "alpha",
    "a": "a",
    "b": "b",
    "s": "s",
    "beta": "beta",
    "p": "p",
    "q": "q",
    "v": "gamma",
}


def _max_rel_diff(ours: dict, theirs: dict) -> float:
    diffs = []
    for k, v in theirs.items():
        name = _PARAM_MAP.get(k, k)
        if name in ours:
            diffs.append(abs(ours[name] - v) / max(abs(v), 1e-12))
    return max(diffs) if diffs else float("nan")


def _fmt_time(res: dict) -> str:
    if "timeout" in res:
        return f"> {res['timeout']:.0f} s"
    if "error" in res:
        return "error"
    return f"{res['seconds']:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--lifetimes-python", default="/tmp/lifetimes-venv/bin/python")
    ap.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds allowed per lifetimes step (reported as '> N s')",
    )
    ap.add_argument("--data", help="reuse this .npz instead of simulating")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--worker", choices=("segmint", "lifetimes"), help=argparse.SUPPRESS)
    ap.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker, args.step, args.data)
        return

    if not os.path.exists(args.lifetimes_python):
        sys.exit(f"no Python at {args.lifetimes_python}; create the lifetimes venv (see --help)")
    tmpdir = tempfile.mkdtemp(prefix="bench-lifetimes-")
    data = args.data or os.path.join(tmpdir, "customers.npz")
    if not args.data:
        make_data(args.n, data)
    n = int(np.load(data)["bg_x"].size)
    print(f"customers: {n:,} (times by day, in weeks); data: {data}")
    print(
        f"{'step':<30s} {'segmint':>10s} {'lifetimes':>11s} {'speed-up':>9s} "
        f"{'RSS seg':>9s} {'RSS lif':>9s} {'mem ratio':>9s}  answers"
    )
    for step in args.steps.split(","):
        ours = _run(sys.executable, "segmint", step, data, 3600)
        theirs = _run(args.lifetimes_python, "lifetimes", step, data, args.timeout)
        if "seconds" in ours and "seconds" in theirs:
            speed = f"{theirs['seconds'] / ours['seconds']:.1f}x"
        elif "seconds" in ours and "timeout" in theirs:
            speed = f"> {theirs['timeout'] / ours['seconds']:.0f}x"
        else:
            speed = "-"
        rss_o = ours.get("peak_rss_mib", float("nan"))
        rss_t = theirs.get("peak_rss_mib", float("nan"))
        if "params" in ours and theirs.get("params"):
            answers = f"max rel. param diff {_max_rel_diff(ours['params'], theirs['params']):.1e}"
        elif "total_clv" in ours and "total_clv" in theirs:
            answers = f"total CLV rel. diff {abs(ours['total_clv'] / theirs['total_clv'] - 1):.1e}"
        else:
            answers = theirs.get("error") or ("" if "timeout" in theirs else "-")
        print(
            f"{LABELS[step]:<30s} {_fmt_time(ours):>10s} {_fmt_time(theirs):>11s} "
            f"{speed:>9s} {rss_o:8.0f}M {rss_t:8.0f}M {rss_t / rss_o:8.1f}x  {answers}",
            flush=True,
        )
        for side, res in (("segmint", ours), ("lifetimes", theirs)):
            if res.get("params"):
                print(
                    f"    {side:<10s} "
                    + ", ".join(f"{k}={v:.5g}" for k, v in res["params"].items())
                )
            if "error" in res:
                print(f"    {side:<10s} error: {res['error']}")


if __name__ == "__main__":
    main()

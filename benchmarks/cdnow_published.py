"""Ours vs the published estimates on the CDNOW 1/10 sample, as a Markdown table.

Fader, Hardie & Lee (2005) "Counting your customers the easy way" (BG/NBD, Pareto/NBD) and
"RFM and CLV: using iso-value curves" (Gamma-Gamma): 2,357 customers, 39-week calibration.

    python benchmarks/cdnow_published.py [--data ../shared/data/cdnow/CDNOW_sample.txt.gz]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from segmint.datasets.cdnow import cdnow_rfm_summary, load_cdnow
from segmint.predict import BetaGeoNBD, GammaGamma, ParetoNBD

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/cdnow/CDNOW_sample.txt.gz"
PUBLISHED = {
    "BG/NBD": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log-likelihood": -9582.4},
    "Pareto/NBD": {
        "r": 0.553,
        "alpha": 10.578,
        "s": 0.606,
        "beta": 11.669,
        "log-likelihood": -9595.0,
    },
    "Gamma-Gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    args = parser.parse_args()
    s = cdnow_rfm_summary(load_cdnow(args.data))
    rows = []
    for name, model in (("BG/NBD", BetaGeoNBD()), ("Pareto/NBD", ParetoNBD())):
        start = time.perf_counter()
        model.fit(s.frequency, s.recency, s["T"])
        ours = {**model.params_, "log-likelihood": model.log_likelihood_}
        rows.append((name, ours, time.perf_counter() - start))
    repeat = s[s.frequency > 0]
    start = time.perf_counter()
    gg = GammaGamma().fit(repeat.frequency, repeat.monetary_value)
    rows.append(("Gamma-Gamma", gg.params_, time.perf_counter() - start))

    print(
        f"CDNOW 1/10 sample: {len(s):,} customers, {int((s.frequency > 0).sum()):,} repeat "
        f"buyers, 39-week calibration\n"
    )
    print("| model | parameter | paper | segmint | fit time |")
    print("| --- | --- | --- | --- | --- |")
    for name, ours, seconds in rows:
        for i, (key, paper) in enumerate(PUBLISHED[name].items()):
            value = ours[key]
            shown = f"{value:.1f}" if key == "log-likelihood" else f"{value:.4g}"
            timing = f"{seconds * 1000:.0f} ms" if i == 0 else ""
            print(f"| {name if i == 0 else ''} | {key} | {paper} | {shown} | {timing} |")
    bg = BetaGeoNBD().fit(s.frequency, s.recency, s["T"])
    predicted = bg.expected_purchases_unconditional(s.T_holdout_end.to_numpy()).sum()
    actual = s.frequency.sum() + s.frequency_holdout.sum()
    print(
        f"\nBG/NBD cumulative repeat purchases by week 78: {predicted:,.1f} predicted vs "
        f"{actual:,} actual ({100 * (predicted / actual - 1):+.1f}%; the paper's is about 4% low)"
    )


if __name__ == "__main__":
    main()

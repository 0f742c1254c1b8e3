"""Predictive models on per-customer arrays: buy-till-you-die purchase models, spend, CLV.

Pure NumPy/SciPy: arrays in, arrays out; no SQL and no I/O.

Examples
--------
>>> from segmint.predict import BetaGeoNBD
>>> from segmint.predict.simulate import simulate_bg_nbd
>>> d = simulate_bg_nbd(3000, 39.0, r=0.25, alpha=4.0, a=0.8, b=2.4, random_state=0)
>>> m = BetaGeoNBD().fit(d["frequency"], d["recency"], d["T"])
>>> m.p_alive(d["frequency"], d["recency"], d["T"]).shape
(3000,)
"""

from segmint.predict.beta_geo import BetaGeoNBD, ModifiedBetaGeoNBD
from segmint.predict.bgbb import BetaGeoBetaBinom
from segmint.predict.churn import ChurnModel, ScoreCalibrator, btyd_baseline, recency_baseline
from segmint.predict.clv import CLVResult, clv
from segmint.predict.gamma_gamma import GammaGamma
from segmint.predict.pareto_nbd import ParetoNBD
from segmint.predict.propensity import NextPurchaseModel, PropensityModel
from segmint.predict.simulate import (
    simulate_bg_nbd,
    simulate_bgbb,
    simulate_gamma_gamma,
    simulate_mbg_nbd,
    simulate_pareto_nbd,
)

__all__ = [
    "BetaGeoNBD",
    "ModifiedBetaGeoNBD",
    "ParetoNBD",
    "BetaGeoBetaBinom",
    "GammaGamma",
    "clv",
    "CLVResult",
    "simulate_bg_nbd",
    "simulate_mbg_nbd",
    "simulate_pareto_nbd",
    "simulate_bgbb",
    "simulate_gamma_gamma",
    "ChurnModel",
    "ScoreCalibrator",
    "btyd_baseline",
    "recency_baseline",
    "PropensityModel",
    "NextPurchaseModel",
]

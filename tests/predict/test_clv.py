import numpy as np
import pytest

from segmint.errors import DataValidationError
from segmint.predict import BetaGeoNBD, GammaGamma, ParetoNBD, clv


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    s = cdnow_summary
    bg = BetaGeoNBD().fit(s.frequency, s.recency, s["T"])
    rep = s[s.frequency > 0]
    gg = GammaGamma().fit(rep.frequency, rep.monetary_value)
    return s, bg, gg


def test_undiscounted_clv_is_purchases_times_spend(fitted):
    s, bg, gg = fitted
    res = clv(
        bg,
        gg,
        s.frequency,
        s.recency,
        s["T"],
        s.monetary_value,
        horizon=10,
        time_unit_per_period=2.0,
        discount_rate=0.0,
        interval=None,
    )
    e = bg.expected_purchases(20.0, s.frequency, s.recency, s["T"])
    spend = gg.conditional_expected_spend(s.frequency, s.monetary_value)
    np.testing.assert_allclose(res.clv, e * spend, rtol=1e-10)
    np.testing.assert_allclose(res.expected_purchases, e, rtol=1e-10)
    assert np.isnan(res.lower).all()


def test_discounting_lowers_value(fitted):
    s, bg, gg = fitted
    kw = dict(horizon=12, time_unit_per_period=52 / 12)
    a = clv(
        bg,
        gg,
        s.frequency,
        s.recency,
        s["T"],
        s.monetary_value,
        discount_rate=0.0,
        interval=None,
        **kw,
    )
    b = clv(
        bg,
        gg,
        s.frequency,
        s.recency,
        s["T"],
        s.monetary_value,
        discount_rate=0.02,
        interval=None,
        **kw,
    )
    assert np.all(b.clv < a.clv)


@pytest.mark.parametrize("method", ["delta", "draws"])
def test_interval_brackets_point(fitted, method):
    s, bg, gg = fitted
    res = clv(
        bg,
        gg,
        s.frequency,
        s.recency,
        s["T"],
        s.monetary_value,
        horizon=12,
        time_unit_per_period=52 / 12,
        discount_rate=0.01,
        method=method,
        n_draws=100,
        random_state=0,
    )
    assert np.all(res.lower <= res.clv * 1.05)
    assert np.all(res.upper >= res.clv * 0.95)
    assert np.all(res.upper > res.lower)


def test_pareto_clv_runs(fitted):
    s, _, gg = fitted
    pn = ParetoNBD().fit(s.frequency, s.recency, s["T"])
    res = clv(pn, gg, s.frequency, s.recency, s["T"], s.monetary_value, horizon=6)
    assert np.isfinite(res.clv).all() and (res.clv > 0).all()


def test_bad_horizon(fitted):
    s, bg, gg = fitted
    with pytest.raises(DataValidationError, match="horizon must be a positive integer"):
        clv(bg, gg, s.frequency, s.recency, s["T"], s.monetary_value, horizon=0)

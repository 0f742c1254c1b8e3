"""Published maximum-likelihood estimates on the CDNOW 1/10 sample (2,357 customers)."""

import numpy as np
import pytest

from segmint.predict import BetaGeoNBD, GammaGamma, ParetoNBD

REL = 5e-3  # three significant figures


def test_summary_matches_papers(cdnow_summary):
    s = cdnow_summary
    assert len(s) == 2357
    assert int((s.frequency > 0).sum()) == 946
    assert int(s.frequency.sum()) == 2457
    assert int(s.frequency.sum() + s.frequency_holdout.sum()) == 4339
    assert s["T"].max() == pytest.approx(272 / 7)


def test_bg_nbd_published(cdnow_summary):
    s = cdnow_summary
    m = BetaGeoNBD().fit(s.frequency, s.recency, s["T"])
    expected = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for k, v in expected.items():
        assert m.params_[k] == pytest.approx(v, rel=REL), k
    assert m.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert m.converged_
    assert all(np.isfinite(v) and v > 0 for v in m.standard_errors_.values())


def test_bg_nbd_holdout_week_78(cdnow_summary):
    s = cdnow_summary
    m = BetaGeoNBD().fit(s.frequency, s.recency, s["T"])
    predicted = m.expected_purchases_unconditional(s.T_holdout_end.to_numpy()).sum()
    actual = s.frequency.sum() + s.frequency_holdout.sum()
    assert actual == 4339
    assert abs(predicted / actual - 1) < 0.05
    assert predicted < actual  # the paper's BG/NBD is about 4% low


def test_pareto_nbd_published(cdnow_summary):
    s = cdnow_summary
    m = ParetoNBD().fit(s.frequency, s.recency, s["T"])
    expected = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    for k, v in expected.items():
        assert m.params_[k] == pytest.approx(v, rel=REL), k
    assert m.log_likelihood_ == pytest.approx(-9595.0, abs=0.05)


def test_gamma_gamma_published(cdnow_summary):
    # Fader & Hardie's note: average spend per *repeat* transaction (same-day purchases
    # merged) of the 946 repeat buyers in the 39-week calibration period.
    r = cdnow_summary[cdnow_summary.frequency > 0]
    assert len(r) == 946
    m = GammaGamma().fit(r.frequency, r.monetary_value)
    expected = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    for k, v in expected.items():
        assert m.params_[k] == pytest.approx(v, rel=REL), k


def test_gamma_gamma_warns_about_non_repeaters(cdnow_summary):
    s = cdnow_summary
    with pytest.warns(UserWarning, match="1411 customers with frequency 0 were left out"):
        m = GammaGamma().fit(s.frequency, s.monetary_value)
    assert m.params_["p"] == pytest.approx(6.25, rel=REL)

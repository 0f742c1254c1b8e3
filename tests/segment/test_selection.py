"""The rules that choose k, on hand-made candidate tables."""

from __future__ import annotations

import numpy as np

from segmint.segment.selection import choose_k, sample_silhouette

NAN = float("nan")


def _row(k, silhouette=NAN, bic=NAN, stability=NAN):
    return {"k": k, "silhouette": silhouette, "bic": bic, "stability": stability}


def test_best_silhouette_wins_without_ties():
    k, reason = choose_k(
        [_row(2, 0.50), _row(3, 0.70), _row(4, 0.60)], gmm=False, tie_tolerance=0.01
    )
    assert k == 3 and "silhouette 0.700" in reason and "tied" not in reason


def test_ties_go_to_stability_then_smaller_k():
    rows = [
        _row(2, 0.695, stability=0.8),
        _row(3, 0.70, stability=0.9),
        _row(4, 0.699, stability=0.9),
    ]
    k, reason = choose_k(rows, gmm=False, tie_tolerance=0.01)
    assert k == 3 and "tied within 0.01 with k=2, 4" in reason


def test_gmm_lowest_bic_and_fixed_k():
    assert choose_k([_row(2, bic=10.0), _row(3, bic=5.0)], gmm=True, tie_tolerance=0.01)[0] == 3
    assert choose_k([_row(5)], gmm=False, tie_tolerance=0.01) == (5, "k=5 fixed by n_segments")


def test_silhouette_undefined_for_one_label():
    Z = np.arange(20.0).reshape(10, 2)
    assert np.isnan(sample_silhouette(Z, np.zeros(10, dtype=int), 5, 0))
    assert 0 < sample_silhouette(Z, (np.arange(10) >= 5).astype(int), 10, 0) <= 1

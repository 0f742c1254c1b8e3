import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from segmint.segment import resample_stability, stability_score


def test_stable_on_separated_blobs():
    X, _ = make_blobs(400, centers=3, random_state=0)
    assert stability_score(KMeans(3, n_init=1, random_state=0), X, n_resamples=3) > 0.95


def test_less_stable_on_noise_with_many_clusters():
    X = np.random.default_rng(0).uniform(size=(400, 2))
    noisy = stability_score(KMeans(9, n_init=1, random_state=0), X, n_resamples=3)
    assert noisy < 0.95


def test_resample_stability_uses_overlap_and_is_reproducible():
    X, y = make_blobs(200, centers=2, random_state=1)

    def perfect(Xs, seed):
        return KMeans(2, n_init=1, random_state=seed).fit_predict(Xs)

    a = resample_stability(X, y, perfect, n_resamples=3, random_state=5)
    b = resample_stability(X, y, perfect, n_resamples=3, random_state=5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3,) and (a > 0.95).all()

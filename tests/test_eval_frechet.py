import numpy as np
import pytest
from scipy import linalg

from magicpose.eval.frechet import GaussianStats, frechet_distance, stats_distance


def _scipy_frechet(mu1, s1, mu2, s2):
    """The textbook formula with scipy's general matrix square root (what pytorch-fid computes)."""
    covmean = linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


@pytest.mark.parametrize("dim", [1, 5, 32])
def test_frechet_distance_matches_the_scipy_formula(dim):
    rng = np.random.default_rng(dim)
    a, b = rng.normal(size=(200, dim)), rng.normal(size=(200, dim)) @ rng.normal(size=(dim, dim)) + 0.5
    mu1, s1 = a.mean(0), np.atleast_2d(np.cov(a, rowvar=False))
    mu2, s2 = b.mean(0), np.atleast_2d(np.cov(b, rowvar=False))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_scipy_frechet(mu1, s1, mu2, s2), rel=1e-8)


def test_frechet_distance_of_known_gaussians():
    # N(0, 1) vs N(1, 4): 1 + 1 + 4 - 2 * sqrt(4) = 2
    assert frechet_distance([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(2.0)
    s = np.diag([1.0, 9.0])
    assert frechet_distance([0, 0], s, [0, 0], s) == pytest.approx(0.0, abs=1e-12)


def test_frechet_distance_survives_singular_covariances():
    # fewer samples than dimensions, as with a short test set and 2048-d features
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 64)), rng.normal(size=(5, 64))
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    value = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(value) and value > 0
    scale = 2 * np.trace(s1)  # the size of the terms that cancel
    assert abs(frechet_distance(mu1, s1, mu1, s1)) < 1e-6 * scale


def test_streamed_statistics_equal_numpy_on_the_whole_set():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(103, 7)) * 3 + 100  # a large mean tests the numerical stability
    stats = GaussianStats()
    for start, stop in [(0, 1), (1, 40), (40, 41), (41, 103)]:  # uneven batches, single rows included
        stats.update(features[start:stop])
    assert stats.count == 103
    np.testing.assert_allclose(stats.mean, features.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov, np.cov(features, rowvar=False), rtol=1e-9, atol=1e-9)
    other = GaussianStats()
    other.update(features)
    assert stats_distance(stats, other) == pytest.approx(0.0, abs=1e-8)


def test_statistics_need_two_vectors():
    stats = GaussianStats()
    stats.update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        _ = stats.cov


def test_equal_sets_score_exactly_zero_never_a_negative_residue():
    # fewer samples than dimensions: the square roots of the null space's rounding noise leave a residue
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 64))
    mu, s = a.mean(0), np.cov(a, rowvar=False)
    assert -1e-4 < _scipy_frechet(mu, s, mu, s) < 0  # the textbook formula prints such a set as -0.00
    assert frechet_distance(mu, s, mu, s) == 0.0
    # only a residue is clamped: a real distance is untouched (a shift by 0.01 in each of 64 dimensions)
    b = a + 0.01
    assert frechet_distance(mu, s, b.mean(0), np.cov(b, rowvar=False)) == pytest.approx(64 * 1e-4, rel=1e-3)

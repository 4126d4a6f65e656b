"""Fréchet distance between Gaussians fitted to network features (FID, FID-VID and FVD all use it).

Features are accumulated batch by batch (:class:`GaussianStats`), so a test set of any size is never held
in memory: only the running mean and the D x D scatter matrix, merged with Chan et al.'s pairwise update.
"""

from __future__ import annotations

import numpy as np


class GaussianStats:
    """Running mean and unbiased covariance (``np.cov(features, rowvar=False)``) of feature vectors."""

    def __init__(self) -> None:
        self.count = 0
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None  # sum of outer products of deviations from the mean

    def update(self, features) -> None:
        batch = np.asarray(features, np.float64).reshape(len(features), -1)
        if len(batch) == 0:
            return
        mean = batch.mean(axis=0)
        centred = batch - mean
        scatter = centred.T @ centred
        if self._mean is None:
            self.count, self._mean, self._scatter = len(batch), mean, scatter
            return
        if batch.shape[1] != self._mean.shape[0]:
            raise ValueError(f"feature size changed from {self._mean.shape[0]} to {batch.shape[1]}")
        n_a, n_b = self.count, len(batch)
        delta = mean - self._mean
        n = n_a + n_b
        self._mean = self._mean + delta * (n_b / n)
        self._scatter = self._scatter + scatter + np.outer(delta, delta) * (n_a * n_b / n)
        self.count = n

    @property
    def mean(self) -> np.ndarray:
        if self._mean is None:
            raise ValueError("no features were added")
        return self._mean

    @property
    def cov(self) -> np.ndarray:
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 feature vectors, got {self.count}")
        return self._scatter / (self.count - 1)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``.

    ``Tr((S1 S2)^(1/2))`` is the sum of the square roots of the eigenvalues of ``S1^(1/2) S2 S1^(1/2)``, a
    symmetric positive semi-definite matrix with the same eigenvalues as ``S1 S2``: symmetric eigensolvers
    only, so no complex parts to discard and no failure on the singular covariances of small sets. It agrees
    with pytorch-fid's ``scipy.linalg.sqrtm`` formula to 1e-14 when there are more samples than dimensions;
    with fewer (singular covariances) both carry a rounding bias of 1e-7 to 1e-4 relative, from the square
    roots of the null space's rounding noise (README, "Evaluation").

    The distance is never negative; the large terms that cancel for two equal sets leave a rounding residue
    of either sign, so a negative result (only ever such a residue) is returned as 0.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"feature sizes differ: {mu1.shape} vs {mu2.shape}")
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return max(0.0, float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean))


def stats_distance(a: GaussianStats, b: GaussianStats) -> float:
    return frechet_distance(a.mean, a.cov, b.mean, b.cov)

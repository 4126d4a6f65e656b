"""A rank-sharded, resumable sampler whose N-process batches equal the 1-process batches.

The original MagicPose had every GPU read identical batches with the same seed, so N GPUs trained on
one batch N times.  `ShardedSampler` gives each rank a disjoint shard of one epoch permutation:

    perm  = permutation of range(num_samples) seeded by (seed, epoch)   (identity if not shuffle)
    perm  = perm trimmed (drop_last) or cyclically padded to a multiple of num_replicas
    shard = perm[rank::num_replicas][start:]

**World-size invariance.** Rank r's k-th batch of size b is ``perm[r + N*j]`` for
``j in [k*b, (k+1)*b)``; over the N ranks these are exactly the positions
``[k*N*b, (k+1)*N*b)`` of ``perm``, i.e. the k-th batch of a 1-process run with batch size N*b.
Batch counts agree too (with drop_last: ``num_samples // (N*b)`` on both).  Together with
`PairDataset`, whose items (and per-sample noise seeds) depend only on (seed, epoch, index), an
N-process run with per-rank batch b sees the same global batches as a 1-process run with batch N*b.
(The trimmed tail of fewer than N samples only ever falls in the incomplete last batch, which
``batches_per_epoch`` drops.)

**Resume.** ``set_epoch(epoch, start)`` with ``start`` = indices of that epoch this rank already
consumed (``batches_done * per_rank_batch_size``) continues exactly where the run stopped.  Since
``N * start`` is the number of global samples consumed, a run can even be resumed on a different
world size N' when ``N * start`` is a multiple of N' (use ``start' = N * start // N'``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["ShardedSampler", "batches_per_epoch", "samples_per_epoch"]


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _per_rank(num_samples: int, num_replicas: int, drop_last: bool) -> int:
    if drop_last:
        return num_samples // num_replicas
    return -(-num_samples // num_replicas)


def batches_per_epoch(num_samples: int, num_replicas: int, batch_size: int, drop_last: bool = True) -> int:
    """Batches one rank yields per epoch (from start 0).

    With ``drop_last`` the sampler trims to a multiple of num_replicas and the incomplete last batch
    is dropped (``DataLoader(drop_last=True)``); without it the sampler pads and the last batch may
    be short. With drop_last the count is ``num_samples // (num_replicas * batch_size)``, the same
    for any split of one global batch size over ranks.
    """
    num_samples = _check_int("num_samples", num_samples, 0)
    num_replicas = _check_int("num_replicas", num_replicas, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    per_rank = _per_rank(num_samples, num_replicas, drop_last)
    return per_rank // batch_size if drop_last else -(-per_rank // batch_size)


def samples_per_epoch(num_samples: int, num_replicas: int, batch_size: int, drop_last: bool = True) -> int:
    """Alias of `batches_per_epoch`: returns the number of BATCHES per epoch per rank."""
    return batches_per_epoch(num_samples, num_replicas, batch_size, drop_last)


class ShardedSampler(torch.utils.data.Sampler[int]):
    """Disjoint per-rank shards of a (seed, epoch)-seeded permutation, resumable mid-epoch.

    See the module docstring for the exact order and the world-size invariance it guarantees.
    """

    def __init__(
        self,
        num_samples: int,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
    ) -> None:
        self.num_samples = _check_int("num_samples", num_samples, 0)
        self.num_replicas = _check_int("num_replicas", num_replicas, 1)
        self.rank = _check_int("rank", rank, 0)
        if self.rank >= self.num_replicas:
            raise ValueError(f"rank {rank} must be below num_replicas {num_replicas}")
        self.seed = _check_int("seed", seed, 0)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self.start = 0

    @property
    def num_per_rank(self) -> int:
        """Indices this rank yields in a whole epoch (from start 0)."""
        return _per_rank(self.num_samples, self.num_replicas, self.drop_last)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch and skip the first `start` indices of this rank's shard (for resuming)."""
        self.epoch = _check_int("epoch", epoch, 0)
        start = _check_int("start", start, 0)
        if start > self.num_per_rank:
            raise ValueError(
                f"start {start} exceeds the {self.num_per_rank} indices of rank {self.rank} per epoch"
            )
        self.start = start

    def permutation(self) -> np.ndarray:
        """The epoch's full order, trimmed or padded to a multiple of num_replicas (all ranks)."""
        n = self.num_samples
        if self.shuffle:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch]))
            perm = rng.permutation(n)
        else:
            perm = np.arange(n)
        total = self.num_per_rank * self.num_replicas
        if total <= n:
            return perm[:total]
        return np.resize(perm, total)  # repeats perm cyclically: pads by wrapping around

    def __iter__(self) -> Iterator[int]:
        shard = self.permutation()[self.rank :: self.num_replicas][self.start :]
        return iter(shard.tolist())

    def __len__(self) -> int:
        return self.num_per_rank - self.start

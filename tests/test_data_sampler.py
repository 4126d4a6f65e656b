"""Tests for magicpose.data.sampler: disjoint rank shards, world-size invariance, exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader

from magicpose.data.sampler import ShardedSampler, batches_per_epoch, samples_per_epoch


def _shards(n: int, world: int, epoch: int = 0, **kw) -> list[list[int]]:
    shards = []
    for rank in range(world):
        s = ShardedSampler(n, num_replicas=world, rank=rank, **kw)
        s.set_epoch(epoch)
        shards.append(list(s))
        assert len(s) == len(shards[-1])
    return shards


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 12, 13])
@pytest.mark.parametrize("shuffle", [True, False])
def test_drop_last_shards_are_disjoint_and_cover_the_trimmed_permutation(world, n, shuffle) -> None:
    shards = _shards(n, world, epoch=3, seed=5, shuffle=shuffle)
    assert [len(s) for s in shards] == [n // world] * world
    flat = [i for s in shards for i in s]
    assert len(set(flat)) == len(flat) == world * (n // world)  # disjoint
    assert set(flat) <= set(range(n))
    perm = ShardedSampler(n, world, 0, seed=5, shuffle=shuffle)
    perm.set_epoch(3)
    order = perm.permutation()
    assert sorted(flat) == sorted(order.tolist())  # together they are exactly the trimmed permutation
    for rank, shard in enumerate(shards):
        assert shard == order[rank::world].tolist()
    if not shuffle:
        assert shards == [list(range(r, world * (n // world), world)) for r in range(world)]
    if world == 1:
        assert sorted(flat) == list(range(n))


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 2, 7, 12, 13])
def test_padded_shards_cover_everything_by_wrapping(world, n) -> None:
    shards = _shards(n, world, seed=1, drop_last=False)
    per_rank = -(-n // world)
    assert [len(s) for s in shards] == [per_rank] * world
    flat = [i for s in shards for i in s]
    assert set(flat) == set(range(n))
    full = ShardedSampler(n, world, 0, seed=1, drop_last=False).permutation().tolist()
    base = ShardedSampler(n, 1, 0, seed=1).permutation().tolist()
    # the padding repeats the permutation from its start
    assert full == [base[j % n] for j in range(world * per_rank)]


def test_permutation_depends_on_seed_and_epoch_only() -> None:
    a, b = ShardedSampler(50, 2, 0, seed=3), ShardedSampler(50, 2, 1, seed=3)
    assert np.array_equal(a.permutation(), b.permutation())  # every rank agrees on the order
    assert sorted(a.permutation().tolist()) == list(range(50))
    first = a.permutation().tolist()
    a.set_epoch(1)
    assert a.permutation().tolist() != first
    a.set_epoch(0)
    assert a.permutation().tolist() == first
    assert ShardedSampler(50, 2, 0, seed=4).permutation().tolist() != first
    assert ShardedSampler(50, 2, 0, shuffle=False).permutation().tolist() == list(range(50))


@pytest.mark.parametrize("world", [2, 3, 4])
@pytest.mark.parametrize("epoch", [0, 1])
def test_world_size_n_batch_b_equals_one_process_batch_n_times_b(world, epoch) -> None:
    n, b = 103, 4
    single = ShardedSampler(n, 1, 0, seed=9)
    single.set_epoch(epoch)
    global_batches = list(BatchSampler(single, world * b, drop_last=True))
    rank_batches = []
    for rank in range(world):
        s = ShardedSampler(n, world, rank, seed=9)
        s.set_epoch(epoch)
        rank_batches.append(list(BatchSampler(s, b, drop_last=True)))
    expected = batches_per_epoch(n, world, b)
    assert expected == n // (world * b)
    assert len(global_batches) == expected
    assert all(len(batches) == expected for batches in rank_batches)
    for k, batch in enumerate(global_batches):
        union = [i for batches in rank_batches for i in batches[k]]
        assert len(union) == len(set(union)) == world * b
        assert set(union) == set(batch)


def test_dataloader_length_matches_batches_per_epoch() -> None:
    n, world, b = 37, 3, 4
    for rank in range(world):
        s = ShardedSampler(n, world, rank, seed=2)
        loader = DataLoader(list(range(n)), batch_size=b, sampler=s, drop_last=True)
        batches = list(loader)
        assert len(loader) == len(batches) == batches_per_epoch(n, world, b) == 3
        assert all(isinstance(x, torch.Tensor) and x.shape == (b,) for x in batches)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_resume_from_start_yields_exactly_the_tail(world) -> None:
    n = 50
    for rank in range(world):
        s = ShardedSampler(n, world, rank, seed=7)
        s.set_epoch(2)
        full = list(s)
        for start in range(len(full) + 1):
            s.set_epoch(2, start=start)
            assert list(s) == full[start:]
            assert len(s) == len(full) - start
        s.set_epoch(2)  # a plain set_epoch starts the epoch from the beginning again
        assert list(s) == full
        with pytest.raises(ValueError):
            s.set_epoch(2, start=len(full) + 1)


def test_resume_on_another_world_size_covers_the_same_remaining_samples() -> None:
    n, b, batches_done = 40, 3, 2
    remaining = set()
    for rank in range(2):
        s = ShardedSampler(n, 2, rank, seed=11)
        s.set_epoch(1, start=batches_done * b)
        remaining |= set(list(BatchSampler(s, b, drop_last=True))[0])  # the next global batch
    single = ShardedSampler(n, 1, 0, seed=11)
    single.set_epoch(1, start=2 * batches_done * b)
    assert set(next(iter(BatchSampler(single, 2 * b, drop_last=True)))) == remaining


def test_batches_per_epoch_counts_and_alias() -> None:
    assert batches_per_epoch(10, 3, 2) == 1  # 3 per rank -> one full batch
    assert batches_per_epoch(10, 3, 2, drop_last=False) == 2  # 4 per rank (padded) -> 2 batches
    assert batches_per_epoch(100, 1, 8) == 12
    assert batches_per_epoch(5, 8, 1) == 0
    assert samples_per_epoch(10, 3, 2) == batches_per_epoch(10, 3, 2)
    assert samples_per_epoch(10, 3, 2, drop_last=False) == 2


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="rank"):
        ShardedSampler(10, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        ShardedSampler(10, num_replicas=0)
    with pytest.raises(ValueError, match="num_samples"):
        ShardedSampler(-1)
    with pytest.raises(ValueError, match="start"):
        ShardedSampler(10).set_epoch(0, start=-1)

"""The training order is DistributedSampler's: a hand-written reference of it, frame by frame."""

import math

import pytest
import torch

from nequip.data.sampler import EpochSeededShuffle, RankShard


def reference_order(n, world, rank, epoch, seed):
    """Permutation from ``seed + epoch``, padded by repeating it from its start, every ``world``-th."""
    generator = torch.Generator()
    generator.manual_seed(seed + epoch)
    order = torch.randperm(n, generator=generator).tolist()
    total = math.ceil(n / world) * world
    while len(order) < total:
        order += order[: total - len(order)]
    return order[rank:total:world]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("epoch,seed", [(0, 0), (3, 0), (0, 123), (5, 7)])
def test_order_matches_reference(n, world, epoch, seed):
    shares = []
    for rank in range(world):
        sampler = EpochSeededShuffle(n, seed=seed, rank=rank, world_size=world)
        sampler.set_epoch(epoch)
        mine = list(sampler)
        assert mine == reference_order(n, world, rank, epoch, seed)
        assert len(mine) == len(sampler) == math.ceil(n / world)  # equal step counts, also for n < world
        shares += mine
    assert set(shares) == set(range(n))  # every frame is trained on each epoch


def test_skip_shortens_only_the_next_epoch():
    sampler = EpochSeededShuffle(10, seed=1, rank=1, world_size=2)
    full = list(sampler)
    sampler.skip = 2
    assert list(sampler) == full[2:]
    assert list(sampler) == full


def test_rank_outside_world_is_an_error():
    with pytest.raises(ValueError, match="rank 2 is outside world size 2"):
        EpochSeededShuffle(10, rank=2, world_size=2)


@pytest.mark.parametrize("n,world", [(1, 4), (7, 3), (10, 2)])
def test_rank_shard_covers_each_frame_once(n, world):
    frames = [i for rank in range(world) for i in RankShard(n, rank, world)]
    assert sorted(frames) == list(range(n))

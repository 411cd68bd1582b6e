"""Training-set order that depends only on (seed, epoch), so that a run resumed from a checkpoint
sees exactly the batches an uninterrupted run would have seen."""

from typing import Iterator

import torch
from torch.utils.data import Sampler


class EpochSeededShuffle(Sampler[int]):
    """A random permutation of ``range(num_items)`` drawn from ``seed + epoch``.

    Lightning calls :meth:`set_epoch` at the start of every epoch (under DDP it wraps this sampler
    and splits each epoch's order across ranks).
    """

    def __init__(self, num_items: int, seed: int = 0):
        self.num_items = num_items
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.num_items, generator=generator).tolist())

    def __len__(self) -> int:
        return self.num_items

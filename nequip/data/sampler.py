"""Which frames each process sees, and in which order.

Training order depends only on (seed, epoch), so a run resumed from a checkpoint sees exactly the
batches an uninterrupted run would have seen. Under DDP every rank takes every ``world_size``-th
frame of that order: the union of the ranks' batches at a step is the batch a single process with
``world_size`` times the batch size would see.
"""

from typing import Dict, Iterator

from torch.utils.data import DataLoader, DistributedSampler, Sampler


class EpochSeededShuffle(DistributedSampler):
    """This rank's share of a random permutation of ``range(num_items)`` drawn from ``seed + epoch``.

    The order is :class:`~torch.utils.data.DistributedSampler`'s (``shuffle=True``,
    ``drop_last=False``): the permutation is padded by repeating it from its start so every rank gets
    ``ceil(num_items / world_size)`` frames (equal step counts keep DDP's gradient all-reduces in
    lockstep). What is ours is :attr:`skip`, which shortens the first epoch after a mid-epoch restart.
    Lightning calls :meth:`set_epoch` at the start of every epoch.
    """

    def __init__(self, num_items: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        # DistributedSampler only takes len() of the dataset
        super().__init__(range(num_items), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.skip = 0  # frames of this epoch already trained on before a restart

    def __iter__(self) -> Iterator[int]:
        mine = list(super().__iter__())
        skip, self.skip = self.skip, 0  # only the first epoch after a restart is shortened
        return iter(mine[skip:])


class RankShard(Sampler[int]):
    """Frames ``rank, rank + world_size, ...`` in order, without padding: each validation or test
    frame is evaluated by exactly one rank (metrics are summed over ranks, never counted twice).
    Not a ``DistributedSampler(shuffle=False)``: that one pads (or with ``drop_last`` drops) frames."""

    def __init__(self, num_items: int, rank: int = 0, world_size: int = 1):
        self.num_items, self.rank, self.world_size = num_items, rank, world_size

    def __len__(self) -> int:
        return len(range(self.rank, self.num_items, self.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_items, self.world_size))


class ResumableLoader(DataLoader):
    """Training DataLoader whose position inside the epoch is saved in checkpoints.

    Lightning's stateful-dataloader protocol stores :meth:`state_dict` with the fit loop and calls
    :meth:`load_state_dict` before iterating again on resume, so a run interrupted mid-epoch
    continues with the next unseen batch instead of replaying the epoch. :attr:`batches_done` counts
    the batches of this epoch that finished training (not the batches handed out, which include
    Lightning's prefetched one); :class:`nequip.train.callbacks.TrackEpochPosition` sets it after
    every training step.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches_done = 0

    def __iter__(self):
        self.batches_done = self.sampler.skip // self.batch_size  # 0, or the resumed position
        return super().__iter__()

    def state_dict(self) -> Dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        self.batches_done = state["batches_done"]
        self.sampler.skip = state["batches_done"] * self.batch_size

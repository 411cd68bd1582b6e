"""Lightning DataModule: datasets, splits and DataLoaders (no model knowledge)."""

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import lightning
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from ..errors import ConfigError, DataError
from .atomic_data import DEFAULT_MIN_DISTANCE
from .batching import collate
from .dataset import WeightedDataset, load_dataset
from .sampler import EpochSeededShuffle, RankShard, ResumableLoader
from .source import DataSource
from .statistics import compute_statistics
from .type_mapper import TypeMapper


Sources = Union[str, DataSource, Sequence[Union[str, DataSource]]]


def _as_sources(value: Optional[Sources]) -> Optional[List[DataSource]]:
    """A path, a source or a list of them -> sources (a bare path has weight 1)."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    return [item if isinstance(item, DataSource) else DataSource(str(item)) for item in items]


def _as_dtype(dtype: Union[None, str, torch.dtype]) -> torch.dtype:
    if dtype is None:
        return torch.get_default_dtype()
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "float64": torch.float64}
    if dtype not in names:
        raise ConfigError(f"dtype must be float32 or float64, got {dtype!r}")
    return names[dtype]


class AtomicDataModule(lightning.LightningDataModule):
    """Train/val/test datasets and their DataLoaders.

    Args:
        type_names: chemical symbols in model type order, e.g. ``["Cu"]``.
        r_max: neighbor-list cutoff, Å.
        train: the training data: a path (extxyz/any ASE format, or nequip ``.h5``), a
            :class:`~.source.DataSource` (path and loss-weight factor), or a list of them.
        val, test: optional, like train.
        split: (train, val, test) fractions of the ``train`` file, summing to 1; a part given as
            its own file is not split off (its fraction goes to training). None: no split.
        seed: seed of the split permutation and of the training-loader shuffling.
        batch_size: training batch size (frames) per process; the global batch is
            batch_size x number of processes. val_batch_size: for val and test, per process.
        num_workers: DataLoader workers (persistent when > 0).
        dtype: float dtype of the data, ``torch.float32``/``float64`` or their names
            (default: torch default dtype).
        min_distance: Å; a frame with two atoms closer than this is a data error.
        nonfinite_labels: "error" (NaN/inf label values in a file are a data error) or "missing"
            (they are left out of the loss).

    Frames carry ``frame_index`` and ``frame_source`` (index into :attr:`source_paths`), so that
    a batch can be named frame by frame.

    Raises:
        FileNotFoundError / DataError: from the datasets (messages name the config key
        ``data.train`` / ``data.val`` / ``data.test``); ConfigError for a bad split.
    """

    def __init__(
        self,
        type_names: List[str],
        r_max: float,
        train: Sources,
        val: Optional[Sources] = None,
        test: Optional[Sources] = None,
        split: Optional[Tuple[float, float, float]] = (0.8, 0.1, 0.1),
        seed: int = 0,
        batch_size: int = 5,
        val_batch_size: int = 10,
        num_workers: int = 0,
        dtype: Union[None, str, torch.dtype] = None,
        min_distance: float = DEFAULT_MIN_DISTANCE,
        nonfinite_labels: str = "error",
    ):
        super().__init__()
        self.min_distance = float(min_distance)
        self.nonfinite_labels = nonfinite_labels
        # the data files in the order they were loaded; frame_source indexes this list
        self.source_paths: List[str] = []
        self.type_mapper = TypeMapper(list(type_names))
        self.r_max = float(r_max)
        self.sources = {"train": _as_sources(train), "val": _as_sources(val), "test": _as_sources(test)}
        if split is not None:
            split = tuple(float(x) for x in split)
            if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1.0) > 1e-6:
                raise ConfigError(
                    f"data split must be three non-negative fractions (train, val, test) "
                    f"summing to 1, got {list(split)}"
                )
        self.split = split
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.val_batch_size = int(val_batch_size)
        self.num_workers = int(num_workers)
        self.dtype = _as_dtype(dtype)
        self.train_dataset: Optional[Dataset] = None
        self.val_dataset: Optional[Dataset] = None
        self.test_dataset: Optional[Dataset] = None
        self._statistics: Optional[Dict[str, Any]] = None

    def _load(self, name: str) -> Dataset:
        """The files of one part (train, val or test), concatenated in order."""
        sources = self.sources[name]
        datasets = []
        for index, source in enumerate(sources):
            key = f"data.{name}" if len(sources) == 1 else f"data.{name}[{index}]"
            dataset = load_dataset(
                source.path, self.type_mapper, self.r_max, dtype=self.dtype, config_key=key, min_distance=self.min_distance,
                nonfinite_labels=self.nonfinite_labels, source_id=len(self.source_paths),
            )
            self.source_paths.append(source.path)
            datasets.append(WeightedDataset(dataset, source.weight) if source.weight != 1.0 else dataset)
        return datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)

    def setup(self, stage: Optional[str] = None) -> None:
        """Build the datasets (idempotent; called by the Trainer on every rank).

        ``split`` partitions the ``train`` file into (train, val, test); a part given as its own
        file (``val``, ``test``) is not split off, and its fraction goes to training instead.
        """
        if self.train_dataset is not None:
            return
        full = self._load("train")
        if self.split is None:
            self.train_dataset = full
            self.val_dataset = self._load("val") if self.sources["val"] is not None else None
            self.test_dataset = self._load("test") if self.sources["test"] is not None else None
            return
        fractions = {"train": self.split[0], "val": self.split[1], "test": self.split[2]}
        for name in ("val", "test"):
            if self.sources[name] is not None:
                fractions["train"] += fractions[name]
                fractions[name] = 0.0
        n = len(full)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        n_val = min(int(round(fractions["val"] * n)), n)
        n_test = min(int(round(fractions["test"] * n)), n - n_val)
        n_train = n - n_val - n_test
        if n_train == 0:
            raise ConfigError(f"split {list(self.split)} leaves no training frames out of {n}")
        self.train_dataset = Subset(full, perm[:n_train]) if n_train < n else full
        for name, part in (("val", perm[n_train : n_train + n_val]), ("test", perm[n_train + n_val :])):
            if self.sources[name] is not None:
                dataset = self._load(name)
            else:
                dataset = Subset(full, part) if part else None
            setattr(self, f"{name}_dataset", dataset)

    def _rank_and_world(self) -> Tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        """``batch_size`` is per process; each DDP rank loads only its own share of the frames.
        The shuffled (training) loader is resumable mid-epoch."""
        rank, world = self._rank_and_world()
        options = dict(
            batch_size=batch_size,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )
        if not shuffle:
            return DataLoader(dataset, sampler=RankShard(len(dataset), rank, world), **options)
        sampler = EpochSeededShuffle(len(dataset), self.seed, rank, world)
        return ResumableLoader(dataset, sampler=sampler, **options)

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.train_dataset, self.batch_size, shuffle=True)

    def val_dataloader(self) -> Union[DataLoader, Sequence]:
        self.setup()
        if self.val_dataset is None:
            return []
        return self._loader(self.val_dataset, self.val_batch_size, shuffle=False)

    def test_dataloader(self) -> Union[DataLoader, Sequence]:
        self.setup()
        if self.test_dataset is None:
            return []
        return self._loader(self.test_dataset, self.val_batch_size, shuffle=False)

    def training_statistics(self) -> Dict[str, Any]:
        """``compute_statistics`` over the training set (computed once, then cached).

        Raises DataError when the training frames have no edges at all (no atom has a neighbor
        within ``r_max``).
        """
        if self._statistics is None:
            self.setup()
            # iterate in batches: fewer Python-level steps than frame by frame
            loader = DataLoader(
                self.train_dataset, batch_size=max(self.val_batch_size, 32), shuffle=False,
                collate_fn=collate, num_workers=self.num_workers,
            )
            statistics = compute_statistics(loader, self.type_mapper.num_types)
            if statistics["avg_num_neighbors"] == 0:
                raise DataError(
                    f"no atom of the training data has a neighbor within r_max = {self.r_max:g} Å, so a model "
                    "has nothing to learn from; check r_max and that positions are in Å (data.train)"
                )
            self._statistics = statistics
        return self._statistics

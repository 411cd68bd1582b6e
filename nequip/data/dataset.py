"""Datasets of AtomicDataDicts: ASE-readable files (held in memory) and nequip HDF5 (lazy)."""

import os
from typing import Dict, List, Optional

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError, DataFileNotFound
from . import keys
from .atomic_data import DEFAULT_MIN_DISTANCE, frame_from_arrays, from_ase
from .hdf5 import check_format, read_frame
from .type_mapper import TypeMapper

HDF5_SUFFIXES = (".h5", ".hdf5")


def _key_note(config_key: str) -> str:
    return f" (key {config_key})" if config_key else ""


def _check_exists(path: str, config_key: str) -> None:
    if not os.path.isfile(path):
        raise DataFileNotFound(f"data file '{path}' not found{_key_note(config_key)}")


def _with_origin(frame: Dict[str, torch.Tensor], index: int, source_id: int) -> Dict[str, torch.Tensor]:
    """The frame plus where it comes from (``frame_index``, ``frame_source``): a batch that turns
    non-finite in training can then be named frame by frame."""
    frame[keys.FRAME_INDEX] = torch.tensor([index], dtype=torch.int64)
    frame[keys.FRAME_SOURCE] = torch.tensor([source_id], dtype=torch.int64)
    return frame


class ASEDataset(Dataset):
    """All frames of an ASE-readable file (extxyz, ...), converted once at construction.

    Neighbor lists are precomputed; ``__getitem__`` returns the stored frame dict (B = 1, see
    ``from_ase``) with ``frame_index`` and ``frame_source``. Memory grows with the file: use ``HDF5Dataset`` for large data.

    Args:
        path: file readable by ``ase.io.read`` (format guessed from the name).
        type_mapper: species -> type index. r_max: cutoff in Å.
        index: ASE index string selecting frames, e.g. ``":"`` or ``"0:100"``.
        dtype: float dtype of positions, labels, ... (default: torch default dtype).
        config_key: config key that named ``path``, quoted in errors (e.g. ``data.train.path``).
        min_distance: Å, atoms closer than this are an error. nonfinite_labels: "error" or
            "missing" (see ``atomic_data.check_label_values``).
        source_id: stored in each frame as ``frame_source`` (the file's index in the DataModule).

    Raises:
        FileNotFoundError: missing file. DataError: file unreadable by ASE or without frames,
        species not in ``type_names``, singular periodic cell, atoms closer than ``min_distance``,
        NaN/inf labels (each names frame and file).
    """

    def __init__(
        self,
        path: str,
        type_mapper: TypeMapper,
        r_max: float,
        index: str = ":",
        dtype: Optional[torch.dtype] = None,
        config_key: str = "",
        min_distance: float = DEFAULT_MIN_DISTANCE,
        nonfinite_labels: str = "error",
        source_id: int = 0,
    ):
        super().__init__()
        _check_exists(path, config_key)
        import ase.io

        try:
            frames = ase.io.read(path, index=index)
        except Exception as e:  # ASE raises many exception types on malformed input
            raise DataError(
                f"could not read data file '{path}'{_key_note(config_key)} with ASE "
                f"({type(e).__name__}: {e})"
            ) from e
        if not isinstance(frames, list):
            frames = [frames]
        if not frames:
            raise DataError(f"data file '{path}'{_key_note(config_key)} contains no frames")
        self.path = path
        self.type_mapper = type_mapper
        self.r_max = float(r_max)
        # frame numbers in messages count the selected frames (= file frames for index ":")
        self.source_id = int(source_id)
        self.frames: List[Dict[str, torch.Tensor]] = [
            from_ase(
                atoms, type_mapper, r_max, where=f"frame {i} of {path}", dtype=dtype,
                min_distance=min_distance, nonfinite_labels=nonfinite_labels,
            )
            for i, atoms in enumerate(frames)
        ]

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        # the origin keys are made on access: stored with every frame they would cost memory per frame
        return _with_origin(dict(self.frames[index]), int(index) % len(self.frames), self.source_id)


class HDF5Dataset(Dataset):
    """Frames of a nequip HDF5 file (see ``nequip.data.hdf5``), read lazily.

    Each ``__getitem__`` reads one frame and computes its neighbor list; memory does not depend
    on the file size. The h5py file is opened on first access in each process (h5py handles must
    not cross ``fork``), so the dataset works with DataLoader workers and DDP. Returns the same
    dict as ``ASEDataset`` for the same frame.

    Args / Raises: as ``ASEDataset`` (no ``index``); species are checked against
        ``type_names`` at construction from the file's ``species`` attribute, and the frame
        holding an unknown species is named.
    """

    def __init__(
        self,
        path: str,
        type_mapper: TypeMapper,
        r_max: float,
        dtype: Optional[torch.dtype] = None,
        config_key: str = "",
        min_distance: float = DEFAULT_MIN_DISTANCE,
        nonfinite_labels: str = "error",
        source_id: int = 0,
    ):
        super().__init__()
        _check_exists(path, config_key)
        self.path = path
        self.type_mapper = type_mapper
        self.r_max = float(r_max)
        self.dtype = dtype
        self.min_distance = float(min_distance)
        self.nonfinite_labels = nonfinite_labels
        self.source_id = int(source_id)
        try:
            with h5py.File(path, "r") as f:
                check_format(f, path)
                self._len = int(f["frame_offsets"].shape[0]) - 1
                species = np.asarray(f.attrs["species"], dtype=np.int64)
                try:
                    type_mapper.atom_types(species)
                except ValueError:
                    self._raise_species_error(f)
        except OSError as e:
            raise DataError(
                f"could not read HDF5 data file '{path}'{_key_note(config_key)}: {e}"
            ) from e
        self._file: Optional[h5py.File] = None
        self._pid: Optional[int] = None

    def _raise_species_error(self, f: h5py.File) -> None:
        # rare path: scan in chunks for the first frame with an unknown species
        offsets = f["frame_offsets"][:]
        step = 1 << 20
        for start in range(0, int(offsets[-1]), step):
            numbers = f["numbers"][start : start + step].astype(np.int64)
            try:
                self.type_mapper.atom_types(numbers)
            except ValueError:
                first_bad = start + int(
                    np.nonzero(~np.isin(numbers, self._known_numbers()))[0][0]
                )
                frame = int(np.searchsorted(offsets, first_bad, side="right")) - 1
                f_numbers = f["numbers"][offsets[frame] : offsets[frame + 1]].astype(np.int64)
                self.type_mapper.atom_types(f_numbers, where=f"frame {frame} of {self.path}")
        raise AssertionError("species attribute and numbers disagree")  # pragma: no cover

    def _known_numbers(self) -> np.ndarray:
        from ase.data import atomic_numbers

        return np.array([atomic_numbers[s] for s in self.type_mapper.type_names])

    def _h5(self) -> h5py.File:
        pid = os.getpid()
        if self._file is None or self._pid != pid:
            self._file = h5py.File(self.path, "r")
            self._pid = pid
        return self._file

    def __getstate__(self):
        # open handles cannot be pickled (spawned DataLoader workers); reopen lazily
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        positions, numbers, cell, pbc, labels = read_frame(self._h5(), int(index))
        index = int(index) % self._len  # a negative index names the frame by its position in the file
        frame = frame_from_arrays(
            positions, numbers, cell, pbc, labels, self.type_mapper, self.r_max,
            where=f"frame {index} of {self.path}", dtype=self.dtype,
            min_distance=self.min_distance, nonfinite_labels=self.nonfinite_labels,
        )
        return _with_origin(frame, index, self.source_id)


def load_dataset(
    path: str,
    type_mapper: TypeMapper,
    r_max: float,
    dtype: Optional[torch.dtype] = None,
    config_key: str = "",
    min_distance: float = DEFAULT_MIN_DISTANCE,
    nonfinite_labels: str = "error",
    source_id: int = 0,
) -> Dataset:
    """``HDF5Dataset`` for ``.h5``/``.hdf5`` files, ``ASEDataset`` otherwise (same arguments and errors)."""
    options = dict(dtype=dtype, config_key=config_key, min_distance=min_distance, nonfinite_labels=nonfinite_labels, source_id=source_id)
    if str(path).lower().endswith(HDF5_SUFFIXES):
        return HDF5Dataset(path, type_mapper, r_max, **options)
    return ASEDataset(path, type_mapper, r_max, **options)


class WeightedDataset(Dataset):
    """The frames of ``dataset`` with their loss weight (key ``weight``) multiplied by ``weight``:
    how one data file is made to count more or less than the others it is trained with."""

    def __init__(self, dataset: Dataset, weight: float):
        self.dataset = dataset
        self.weight = float(weight)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        frame = dict(self.dataset[index])
        frame[keys.FRAME_WEIGHT] = frame[keys.FRAME_WEIGHT] * self.weight
        return frame

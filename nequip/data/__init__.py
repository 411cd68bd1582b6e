"""Data: AtomicDataDict keys, neighbor lists, frame conversion, batching, datasets, statistics."""

from . import keys
from .atomic_data import extract_labels, frame_from_arrays, from_ase
from .batching import collate
from .dataset import ASEDataset, HDF5Dataset, load_dataset
from .hdf5 import convert_to_hdf5
from .neighborlist import neighbor_list
from .statistics import compute_statistics
from .type_mapper import TypeMapper

__all__ = [
    "keys",
    "neighbor_list",
    "TypeMapper",
    "from_ase",
    "extract_labels",
    "frame_from_arrays",
    "collate",
    "ASEDataset",
    "HDF5Dataset",
    "load_dataset",
    "convert_to_hdf5",
    "compute_statistics",
    "AtomicDataModule",
]


def __getattr__(name):
    # lazy: importing lightning costs seconds, and inference code (ASE calculator) never needs it
    if name == "AtomicDataModule":
        from .datamodule import AtomicDataModule

        return AtomicDataModule
    raise AttributeError(f"module 'nequip.data' has no attribute '{name}'")

"""Data: AtomicDataDict keys, neighbor lists, frame conversion, batching, datasets, statistics."""

from . import keys
from .atomic_data import extract_labels, frame_from_arrays, from_ase
from .batching import collate
from .neighborlist import neighbor_list
from .type_mapper import TypeMapper

__all__ = [
    "keys",
    "neighbor_list",
    "TypeMapper",
    "from_ase",
    "extract_labels",
    "frame_from_arrays",
    "collate",
]

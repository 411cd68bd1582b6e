"""The nequip HDF5 dataset format: writing (streaming converter) and reading one frame.

Layout (format version 1). ``T`` = total number of atoms, ``F`` = number of frames. All arrays are
flat concatenations over frames, so a frame is a contiguous slice and reading it costs O(its size)
whatever the file size. Units and signs are those of ASE (Å, eV, eV/Å, eV/Å³).

=================  ===============  ==========================================================
dataset            shape, dtype     meaning
=================  ===============  ==========================================================
``positions``      [T, 3] float64   Cartesian positions, Å
``numbers``        [T] int16        atomic numbers
``frame_offsets``  [F + 1] int64    atoms of frame f are ``frame_offsets[f]:frame_offsets[f+1]``
``cell``           [F, 3, 3] f64    lattice vectors as rows, Å (zeros where a frame has none)
``pbc``            [F, 3] bool      periodicity
``energy``         [F] float64      total energy, eV; NaN if the frame has none
``forces``         [T, 3] float64   forces, eV/Å; NaN rows for frames without forces
``stress``         [F, 3, 3] f64    stress, eV/Å³ (ASE sign); NaN if unknown
``virial``         [F, 3, 3] f64    virial, eV (= -stress * volume); NaN if unknown
``weight``         [F] float64      per-frame loss weight (default 1)
=================  ===============  ==========================================================

File attributes: ``format = "nequip-hdf5"``, ``format_version = 1``, ``num_frames``,
``num_atoms`` (= T), ``species`` (sorted unique atomic numbers of the whole file, so that a
reader can check species against ``type_names`` without scanning ``numbers``), ``source`` (the
converted file's name).
"""

import os
from typing import Dict, List, Optional, Tuple

import h5py
import numpy as np

from ..errors import ConfigError, DataError, DataFileNotFound
from . import keys
from .atomic_data import extract_labels

FORMAT_NAME = "nequip-hdf5"
FORMAT_VERSION = 1

# dataset name -> (per-row shape, dtype, per "atom" or "frame")
_LAYOUT = {
    "positions": ((3,), np.float64, "atom"),
    "numbers": ((), np.int16, "atom"),
    "forces": ((3,), np.float64, "atom"),
    "cell": ((3, 3), np.float64, "frame"),
    "pbc": ((3,), np.bool_, "frame"),
    "energy": ((), np.float64, "frame"),
    "stress": ((3, 3), np.float64, "frame"),
    "virial": ((3, 3), np.float64, "frame"),
    "weight": ((), np.float64, "frame"),
}


def check_format(f: h5py.File, path: str) -> None:
    """Raise DataError unless ``f`` is a nequip HDF5 file of a version this code reads."""
    name = f.attrs.get("format")
    if isinstance(name, bytes):
        name = name.decode()
    if name != FORMAT_NAME:
        raise DataError(
            f"'{path}' is not a nequip HDF5 dataset (attribute format={name!r}); "
            f"create one with: nequip-data convert IN.xyz {os.path.basename(path)}"
        )
    version = int(f.attrs.get("format_version", -1))
    if version > FORMAT_VERSION or version < 1:
        raise DataError(
            f"'{path}' has HDF5 format version {version}; this nequip reads version "
            f"{FORMAT_VERSION}; convert the data again with this nequip's nequip-data"
        )


def read_frame(
    f: h5py.File, index: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Dict[str, np.ndarray]]:
    """Read frame ``index`` of an open nequip HDF5 file.

    Returns:
        positions [n, 3] float64 (Å), numbers [n] int64, cell [3, 3] float64, pbc [3] bool, and
        labels: a dict shaped like ``atomic_data.extract_labels`` (``total_energy`` [1],
        ``forces`` [n, 3], ``stress`` / ``virial`` [1, 3, 3], ``weight`` [1]) holding only the
        labels that are not NaN.

    Raises:
        IndexError: index out of range.
    """
    num_frames = f["frame_offsets"].shape[0] - 1
    if not -num_frames <= index < num_frames:
        raise IndexError(f"frame {index} out of range for a file with {num_frames} frames")
    index = index % num_frames
    start, stop = (int(x) for x in f["frame_offsets"][index : index + 2])
    positions = f["positions"][start:stop].astype(np.float64)
    numbers = f["numbers"][start:stop].astype(np.int64)
    cell = f["cell"][index].astype(np.float64)
    pbc = f["pbc"][index].astype(bool)

    labels: Dict[str, np.ndarray] = {}
    energy = float(f["energy"][index])
    if not np.isnan(energy):
        labels[keys.TOTAL_ENERGY] = np.array([energy])
    forces = f["forces"][start:stop]
    if len(forces) and not np.isnan(forces).all():
        labels[keys.FORCES] = forces.astype(np.float64)
    for name, key in (("stress", keys.STRESS), ("virial", keys.VIRIAL)):
        value = f[name][index]
        if not np.isnan(value).all():
            labels[key] = value.astype(np.float64).reshape(1, 3, 3)
    labels[keys.FRAME_WEIGHT] = np.array([float(f["weight"][index])])
    return positions, numbers, cell, pbc, labels


class _Buffer:
    """Frames accumulated in memory until they are appended to the file as one chunk."""

    def __init__(self):
        self.columns: Dict[str, List[np.ndarray]] = {name: [] for name in _LAYOUT}
        self.num_atoms: List[int] = []

    def add(self, atoms, where: str):
        n = len(atoms)
        labels = extract_labels(atoms, where=where)
        nan3x3 = np.full((3, 3), np.nan)
        row = {
            "positions": atoms.get_positions(),
            "numbers": atoms.get_atomic_numbers(),
            "forces": labels.get(keys.FORCES, np.full((n, 3), np.nan)),
            "cell": np.asarray(atoms.cell, dtype=np.float64)[None],
            "pbc": np.asarray(atoms.pbc, dtype=bool)[None],
            "energy": labels.get(keys.TOTAL_ENERGY, np.array([np.nan])),
            "stress": labels.get(keys.STRESS, nan3x3[None]).reshape(1, 3, 3),
            "virial": labels.get(keys.VIRIAL, nan3x3[None]).reshape(1, 3, 3),
            "weight": labels[keys.FRAME_WEIGHT],
        }
        for name, value in row.items():
            self.columns[name].append(np.asarray(value))
        self.num_atoms.append(n)

    def __len__(self):
        return len(self.num_atoms)


def _append(f: h5py.File, buffer: _Buffer) -> None:
    for name, (shape, dtype, _) in _LAYOUT.items():
        block = np.concatenate(buffer.columns[name]).astype(dtype).reshape((-1,) + shape)
        ds = f[name]
        old = ds.shape[0]
        ds.resize(old + block.shape[0], axis=0)
        ds[old:] = block
    offsets = f["frame_offsets"]
    last = int(offsets[-1])
    new = last + np.cumsum(buffer.num_atoms, dtype=np.int64)
    old = offsets.shape[0]
    offsets.resize(old + len(new), axis=0)
    offsets[old:] = new


def convert_to_hdf5(
    in_path: str, out_path: str, chunk_frames: int = 1024, format: Optional[str] = None
) -> Dict[str, int]:
    """Convert any ASE-readable file (extxyz, ...) to the nequip HDF5 format, streaming.

    Frames are read one at a time with ``ase.io.iread`` and appended ``chunk_frames`` at a time
    to resizable datasets, so memory does not grow with the file. The output is written to
    ``out_path + '.tmp'`` and renamed to ``out_path`` only when complete (an interrupted
    conversion never leaves a truncated ``out_path``).

    Args:
        in_path: input file. out_path: output ``.h5`` file (overwritten).
        chunk_frames: frames per write (and HDF5 chunk size of per-frame datasets), >= 1.
        format: ASE format name; default: guessed by ASE from the file name.

    Returns:
        ``{"num_frames": F, "num_atoms": T}``.

    Raises:
        FileNotFoundError: missing input. DataError: the input cannot be read by ASE, has no
        frames, or has malformed labels (the message names the frame).
    """
    if chunk_frames < 1:
        raise ConfigError(f"chunk_frames must be >= 1, got {chunk_frames}")
    if not os.path.isfile(in_path):
        raise DataFileNotFound(f"data file '{in_path}' not found")
    import ase.io

    tmp_path = out_path + ".tmp"
    species = set()
    num_frames = 0
    try:
        with h5py.File(tmp_path, "w") as f:
            f.attrs["format"] = FORMAT_NAME
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["source"] = os.path.basename(in_path)
            for name, (shape, dtype, per) in _LAYOUT.items():
                rows = 4096 if per == "atom" else chunk_frames
                f.create_dataset(
                    name, shape=(0,) + shape, maxshape=(None,) + shape, dtype=dtype,
                    chunks=(rows,) + shape,
                )
            f.create_dataset(
                "frame_offsets", data=np.zeros(1, np.int64), maxshape=(None,), chunks=(4096,)
            )
            buffer = _Buffer()
            try:
                frames = ase.io.iread(in_path, index=":", format=format)
                for atoms in frames:
                    buffer.add(atoms, where=f"frame {num_frames} of {in_path}")
                    species.update(np.unique(atoms.get_atomic_numbers()).tolist())
                    num_frames += 1
                    if len(buffer) >= chunk_frames:
                        _append(f, buffer)
                        buffer = _Buffer()
            except ValueError as e:
                if "frame" in str(e) and in_path in str(e):
                    raise
                raise DataError(
                    f"could not read frame {num_frames} of '{in_path}' with ASE: {e}"
                ) from e
            except Exception as e:  # ASE raises many types on malformed input
                raise DataError(
                    f"could not read frame {num_frames} of '{in_path}' with ASE "
                    f"({type(e).__name__}: {e})"
                ) from e
            if len(buffer):
                _append(f, buffer)
            if num_frames == 0:
                raise DataError(f"'{in_path}' contains no frames")
            f.attrs["num_frames"] = num_frames
            f.attrs["num_atoms"] = int(f["frame_offsets"][-1])
            f.attrs["species"] = np.array(sorted(species), dtype=np.int64)
            num_atoms = int(f.attrs["num_atoms"])
        os.replace(tmp_path, out_path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
    return {"num_frames": num_frames, "num_atoms": num_atoms}

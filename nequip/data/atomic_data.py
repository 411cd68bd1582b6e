"""One frame -> AtomicDataDict (B = 1): inputs, neighbor list and the labels found in the frame.

Labels follow ASE conventions and units: energy in eV, forces in eV/Å, stress in eV/Å³ with ASE's
sign (positive = tensile; ``stress = -virial / volume``), virial in eV. A label the frame lacks is
simply absent from its dict (``collate`` fills NaN where other frames of a batch have it).
"""

from typing import Dict, Optional

import ase
import numpy as np
import torch
from ase.calculators.calculator import PropertyNotImplementedError
from ase.stress import voigt_6_to_full_3x3_stress

from ..errors import ConfigError, DataError
from . import keys
from .neighborlist import CloseAtomsError, neighbor_list
from .type_mapper import TypeMapper

# Where labels are looked up, in order, after the attached calculator (extxyz files written by
# other codes often prefix reference labels with REF_ so that ASE does not turn them into a
# SinglePointCalculator).
_ENERGY_INFO_KEYS = ("energy", "REF_energy")
_FORCES_ARRAY_KEYS = ("forces", "REF_forces")
_STRESS_INFO_KEYS = ("stress", "REF_stress")
_VIRIAL_INFO_KEYS = ("virial", "REF_virial")
WEIGHT_INFO_KEY = "weight"

# A cell whose |det| is below this (Å³) has no volume: stress and virial cannot be converted.
_MIN_VOLUME = 1e-10

# Å: atoms closer than this are a data error (far below any bond: H2 is 0.74 Å); config data.min_distance
DEFAULT_MIN_DISTANCE = 0.1
# what a NaN or infinite label value in a file means: "error" (a data error) or "missing" (left out
# of the loss, like a label the frame does not have); config data.nonfinite_labels
NONFINITE_LABEL_CHOICES = ("error", "missing")


def _where(where: str) -> str:
    return f" in {where}" if where else ""


def _to_3x3(value, name: str, where: str) -> np.ndarray:
    """Voigt-6 (xx, yy, zz, yz, xz, xy), 9 values or a 3x3 matrix -> [3, 3] float64."""
    a = np.asarray(value, dtype=np.float64)
    if a.size == 6:
        return voigt_6_to_full_3x3_stress(a.reshape(6))
    if a.size == 9:
        return a.reshape(3, 3)
    raise DataError(
        f"{name}{_where(where)} has {a.size} values; expected 6 (Voigt: xx yy zz yz xz xy) or 9"
    )


def _from_calc(atoms: ase.Atoms, name: str):
    """A result the attached calculator already holds for these atoms, else None.

    Never triggers a calculation: that could be expensive (a DFT code), and would recurse when
    the attached calculator is our own ASE calculator converting its input with ``from_ase``.
    Results that are stale (the atoms changed since) are not used.
    """
    calc = atoms.calc
    if calc is None:
        return None
    try:
        return calc.get_property(name, atoms, allow_calculation=False)
    except (PropertyNotImplementedError, NotImplementedError):
        return None


def _first(mapping, names):
    for name in names:
        if name in mapping:
            return mapping[name]
    return None


def extract_labels(atoms: ase.Atoms, where: str = "") -> Dict[str, np.ndarray]:
    """The labels of one ASE frame as float64 numpy arrays, keyed by AtomicDataDict keys.

    Sources, in order: results already held by the attached calculator (e.g. the
    SinglePointCalculator that ``ase.io.read`` attaches to extxyz frames; no calculation is ever
    triggered, so call ``atoms.get_potential_energy()`` etc. first on a live calculator), then
    ``atoms.info`` (``energy``/``REF_energy``, ``stress``/``REF_stress``, ``virial``/``REF_virial``)
    and ``atoms.arrays`` (``forces``/``REF_forces``). Stress and virial are both returned when either is known and
    the cell has a volume.

    Returns:
        dict with any of ``total_energy`` [1], ``forces`` [N, 3], ``stress`` [1, 3, 3],
        ``virial`` [1, 3, 3], and always ``weight`` [1] (``info['weight']``, default 1.0).

    Raises:
        DataError: a label with the wrong number of values (message names ``where``).
    """
    n = len(atoms)
    out: Dict[str, np.ndarray] = {}

    energy = _from_calc(atoms, "energy")
    if energy is None:
        energy = _first(atoms.info, _ENERGY_INFO_KEYS)
    if energy is not None:
        e = np.asarray(energy, dtype=np.float64)
        if e.size != 1:
            raise DataError(f"energy{_where(where)} has {e.size} values; expected one")
        out[keys.TOTAL_ENERGY] = e.reshape(1)

    forces = _from_calc(atoms, "forces")
    if forces is None:
        forces = _first(atoms.arrays, _FORCES_ARRAY_KEYS)
    if forces is not None:
        f = np.asarray(forces, dtype=np.float64)
        if f.shape != (n, 3):
            raise DataError(f"forces{_where(where)} have shape {list(f.shape)}; expected [{n}, 3]")
        out[keys.FORCES] = f.copy()

    stress = _from_calc(atoms, "stress")
    if stress is None:
        stress = _first(atoms.info, _STRESS_INFO_KEYS)
    virial = _first(atoms.info, _VIRIAL_INFO_KEYS)
    stress = None if stress is None else _to_3x3(stress, "stress", where)
    virial = None if virial is None else _to_3x3(virial, "virial", where)
    volume = abs(float(np.linalg.det(np.asarray(atoms.cell, dtype=np.float64))))
    if volume > _MIN_VOLUME:
        if stress is None and virial is not None:
            stress = -virial / volume
        elif virial is None and stress is not None:
            virial = -stress * volume
    if stress is not None:
        out[keys.STRESS] = stress.reshape(1, 3, 3)
    if virial is not None:
        out[keys.VIRIAL] = virial.reshape(1, 3, 3)

    weight = atoms.info.get(WEIGHT_INFO_KEY, 1.0)
    try:
        out[keys.FRAME_WEIGHT] = np.array([float(weight)], dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"weight{_where(where)} is {weight!r}; expected a number") from None
    return out


def _in(where: str, message: str) -> str:
    return f"{where}: {message}" if where else message


def check_label_values(labels: Dict[str, np.ndarray], nonfinite_labels: str = "error", where: str = "") -> Dict[str, np.ndarray]:
    """Labels with NaN/inf values: a data error, or (``nonfinite_labels="missing"``) those values
    become NaN, which the loss, metrics and statistics leave out like labels a frame does not have.

    Returns the labels (non-finite values as NaN). Raises DataError naming ``where``, the key and,
    for forces, the first atom; a non-finite ``weight`` is always an error.
    """
    if nonfinite_labels not in NONFINITE_LABEL_CHOICES:
        raise ConfigError(f"data.nonfinite_labels must be one of {', '.join(NONFINITE_LABEL_CHOICES)}, got {nonfinite_labels!r}")
    out = dict(labels)
    for key, value in labels.items():
        value = np.asarray(value, dtype=np.float64)
        finite = np.isfinite(value)
        if finite.all():
            continue
        if key == keys.FRAME_WEIGHT:
            raise DataError(_in(where, f"the loss weight is {float(value.reshape(-1)[0])}; give a finite number"))
        if nonfinite_labels == "missing":
            out[key] = np.where(finite, value, np.nan)
            continue
        detail = ""
        if key == keys.FORCES:
            detail = f" (atom {int(np.nonzero(~finite.all(axis=1))[0][0])})"
        raise DataError(_in(
            where,
            f"label '{key}' has NaN or infinite values{detail}; fix the data file, or set data.nonfinite_labels: "
            "missing to leave such values out of the loss",
        ))
    return out


def frame_from_arrays(
    positions: np.ndarray,
    numbers: np.ndarray,
    cell: np.ndarray,
    pbc: np.ndarray,
    labels: Dict[str, np.ndarray],
    type_mapper: TypeMapper,
    r_max: float,
    where: str = "",
    dtype: Optional[torch.dtype] = None,
    *,
    min_distance: float = DEFAULT_MIN_DISTANCE,
    nonfinite_labels: str = "error",
) -> Dict[str, torch.Tensor]:
    """Build the AtomicDataDict of one frame (B = 1) from plain arrays.

    Args:
        positions: [N, 3] Å. numbers: [N] atomic numbers. cell: [3, 3] Å (rows). pbc: [3] bool.
        labels: as returned by :func:`extract_labels` (only the keys present are stored).
        type_mapper, r_max (Å), where, dtype: see :func:`from_ase`.
        min_distance: Å; two atoms (or periodic images) closer than this are an error (0: no check).
        nonfinite_labels: "error" or "missing", see :func:`check_label_values` (another value is a
            ConfigError).

    Raises:
        DataError: unknown species (names ``where``), singular periodic cell, bad shapes, atoms
            closer than ``min_distance`` (names both atoms and their species), non-finite labels.
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    positions = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    n = len(positions)
    atom_types = type_mapper.atom_types(np.asarray(numbers, dtype=np.int64), where=where)
    labels = check_label_values(labels, nonfinite_labels, where)
    try:
        edge_index, edge_cell_shift = neighbor_list(positions, cell, pbc, r_max, min_distance=min_distance)
    except CloseAtomsError as e:
        names = type_mapper.type_names
        raise DataError(_in(
            where,
            f"atoms {e.i} ({names[atom_types[e.i]]}) and {e.j} ({names[atom_types[e.j]]}) are {e.distance:.4g} Å apart, "
            f"closer than the minimum distance {e.min_distance:g} Å; fix the structure (duplicated atoms?), "
            "or lower the minimum distance (data.min_distance for training data, min_distance= for NequIPCalculator)",
        )) from None
    except ValueError as e:
        raise DataError(_in(where, str(e))) from None

    data = {
        keys.POSITIONS: torch.as_tensor(positions, dtype=dtype),
        keys.ATOM_TYPES: torch.as_tensor(atom_types, dtype=torch.int64),
        keys.BATCH: torch.zeros(n, dtype=torch.int64),
        keys.NUM_ATOMS: torch.tensor([n], dtype=torch.int64),
        keys.CELL: torch.as_tensor(cell, dtype=dtype).reshape(1, 3, 3),
        keys.PBC: torch.as_tensor(pbc).reshape(1, 3),
        keys.EDGE_INDEX: torch.as_tensor(edge_index, dtype=torch.int64),
        keys.EDGE_CELL_SHIFT: torch.as_tensor(edge_cell_shift, dtype=dtype),
    }
    for key, value in labels.items():
        data[key] = torch.as_tensor(np.asarray(value), dtype=dtype)
    if keys.FRAME_WEIGHT not in data:
        data[keys.FRAME_WEIGHT] = torch.ones(1, dtype=dtype)
    return data


def from_ase(
    atoms: ase.Atoms,
    type_mapper: TypeMapper,
    r_max: float,
    where: str = "",
    dtype: Optional[torch.dtype] = None,
    *,
    labels: bool = True,
    min_distance: float = DEFAULT_MIN_DISTANCE,
    nonfinite_labels: str = "error",
) -> Dict[str, torch.Tensor]:
    """Convert one ASE frame to an AtomicDataDict with B = 1 and its neighbor list.

    Args:
        atoms: the frame; labels are read from its calculator, ``info`` and ``arrays`` (see
            :func:`extract_labels`).
        type_mapper: maps species to type indices.
        r_max: neighbor-list cutoff in Å.
        where: names the frame in error messages, e.g. ``"frame 12 of train.xyz"``.
        dtype: float dtype of positions, cell, shifts and labels (default: torch default dtype).
        labels: False skips label extraction (inference: only inputs and ``weight`` are built).
        min_distance, nonfinite_labels: see :func:`frame_from_arrays`.

    Returns:
        ``pos`` [N, 3], ``atom_types`` [N] int64, ``batch`` [N] int64 (zeros), ``num_atoms`` [1]
        int64, ``cell`` [1, 3, 3] (zeros where the frame has no cell), ``pbc`` [1, 3] bool,
        ``edge_index`` [2, E] int64, ``edge_cell_shift`` [E, 3] float, ``weight`` [1], and where
        present ``total_energy`` [1] eV, ``forces`` [N, 3] eV/Å, ``stress`` [1, 3, 3] eV/Å³,
        ``virial`` [1, 3, 3] eV.

    Raises:
        DataError: unknown species, singular cell along a periodic direction, malformed or
            non-finite labels, atoms closer than ``min_distance``; the message names ``where``.
    """
    found = extract_labels(atoms, where=where) if labels else {}
    return frame_from_arrays(
        atoms.get_positions(),
        atoms.get_atomic_numbers(),
        np.asarray(atoms.cell, dtype=np.float64),
        atoms.pbc,
        found,
        type_mapper,
        r_max,
        where=where,
        dtype=dtype,
        min_distance=min_distance,
        nonfinite_labels=nonfinite_labels,
    )

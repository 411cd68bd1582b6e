"""ASE calculator for trained models: energy, free_energy, forces, stress and per-atom energies.

    from nequip.integrations.ase import NequIPCalculator
    atoms.calc = NequIPCalculator.from_file("results/tutorial/checkpoints/best.ckpt", device="cpu")

``from_file`` reads a training checkpoint (``.ckpt``), a model package (``.nequip.zip``) or an AOT
Inductor package compiled for the ``ase`` target (``nequip-compile ... --target ase``, ``.nequip.pt2``).
"""

from typing import List, Optional

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from ..data import keys
from ..data.atomic_data import frame_from_arrays
from ..data.type_mapper import TypeMapper
from ..model.io import load_model
from ..model.spec import ModelSpec
from ..utils import memory


def wrapped_positions(atoms) -> np.ndarray:
    """``[N, 3]`` positions (Å, float64) moved by whole lattice vectors into the cell along the
    periodic directions (a drifted copy and the wrapped one are the same system). Atoms already in
    the cell keep their positions bit for bit."""
    if not atoms.pbc.any() or atoms.cell.rank < 3:
        return atoms.positions
    cells = np.floor(atoms.get_scaled_positions(wrap=False)) * atoms.pbc
    if not cells.any():
        return atoms.positions
    return atoms.positions - cells @ atoms.cell.array


class NequIPCalculator(Calculator):
    """Wraps a model (AtomicDataDict in, energies/forces/stress out) for ASE.

    Stress (eV/Å^3, ASE sign and Voigt order) is available for periodic cells only; asking for it on a
    non-periodic system raises ``PropertyNotImplementedError``. A species outside the model's
    ``type_names`` raises ``ValueError`` naming it, and so do two atoms closer than ``min_distance``
    (Å; atoms on top of each other would give NaN or meaningless energies). Positions are wrapped
    into the cell along periodic directions first, so that a long MD drift loses no float precision.

    ``keep_freed_memory=True`` tunes glibc's malloc for the whole process to keep freed memory for
    reuse (faster MD on large systems, resident memory stays at its peak; see nequip.utils.memory);
    the default (None) does so only when ``NEQUIP_MALLOC_TUNING=1`` is set.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(
        self, model: torch.nn.Module, spec: ModelSpec, device: str = "cpu", min_distance: float = 0.1,
        keep_freed_memory: Optional[bool] = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.min_distance = float(min_distance)
        # a process-wide setting: a library object makes it only when asked (argument or environment)
        memory.keep_freed_memory(keep_freed_memory, default=False)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.spec = spec
        self.type_mapper = TypeMapper(list(spec.type_names))
        self.r_max = float(spec.r_max)
        self.dtype = spec.torch_dtype

    @classmethod
    def from_file(cls, path: str, device: str = "cpu", **kwargs) -> "NequIPCalculator":
        """Loads a ``.ckpt``, ``.nequip.zip`` or ``.nequip.pt2`` (see nequip.model.io.load_model; raises
        ``ModelFileError`` when a ``.nequip.pt2`` was compiled for another target or device)."""
        model, spec = load_model(path, device=device)
        return cls(model, spec, device=device, **kwargs)

    def calculate(
        self, atoms=None, properties: Optional[List[str]] = None, system_changes: List[str] = all_changes
    ) -> None:
        properties = properties or ["energy"]
        super().calculate(atoms, properties, system_changes)
        periodic = bool(np.all(self.atoms.pbc)) and self.atoms.cell.volume > 0
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError("stress needs a periodic cell with pbc=True in all three directions")
        atoms = self.atoms
        positions = wrapped_positions(atoms)
        data = frame_from_arrays(
            positions, atoms.numbers, atoms.cell.array, atoms.pbc, {}, self.type_mapper, self.r_max,
            where="the atoms given to NequIPCalculator", dtype=self.dtype, min_distance=self.min_distance,
        )
        data = {k: v.to(self.device) for k, v in data.items()}
        out = self.model(data)
        energy = float(out[keys.TOTAL_ENERGY].detach().sum().cpu())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": out[keys.FORCES].detach().cpu().numpy().astype(np.float64),
            "energies": out[keys.ATOMIC_ENERGY].detach().cpu().numpy().astype(np.float64),
        }
        if periodic:
            stress = out[keys.STRESS].detach().cpu().numpy()[0].astype(np.float64)
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)

"""Structures, models and checks shared by the tests (made on the fly; nothing downloaded)."""

import json
import zipfile

import numpy as np
import torch
from ase.build import bulk
from ase.calculators.emt import EMT

from nequip.data.atomic_data import from_ase
from nequip.data.batching import collate
from nequip.data.type_mapper import TypeMapper
from nequip.model import build_model, resolve_model_spec


# overrides that make training runs in tests take seconds
TINY_MODEL = [
    "model.num_layers=2", "model.l_max=1", "model.num_features=4", "model.radial_mlp_width=8",
    "model.radial_mlp_depth=1", "data.batch_size=4", "data.val_batch_size=8", "data.split=[0.5,0.25,0.25]",
    "trainer.enable_progress_bar=false", "num_threads=1",
]


# a complete float64 config of a tiny model on the Cu-Au EMT set (format with data=PATH); several
# tests train exactly this model so that compiled runs find their graphs in Inductor's cache
TINY_CONFIG = """type_names: [Cu, Au]
r_max: 3.6
model_dtype: float64
model: {{kind: nequip, num_layers: 2, l_max: 1, num_features: 4, radial_mlp_width: 8, radial_mlp_depth: 1}}
data: {{train: {data}, split: [0.5, 0.25, 0.25], val_batch_size: 5}}
trainer: {{max_epochs: 2, enable_progress_bar: false, accelerator: cpu}}
num_threads: 1
"""


def cu_au_atoms(seed: int = 0, repeat=(2, 2, 2), rattle: float = 0.1, strain: float = 0.03):
    """A strained, rattled, triclinic-ish FCC Cu-Au cell (periodic)."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.7).repeat(repeat)
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[rng.random(len(atoms)) < 0.3] = "Au"
    atoms.set_chemical_symbols(symbols)
    deform = np.eye(3) + rng.uniform(-strain, strain, (3, 3))
    atoms.set_cell(atoms.cell.array @ deform, scale_atoms=True)
    atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
    return atoms


def emt_frames(n: int, seed: int = 0):
    frames = []
    for i in range(n):
        atoms = cu_au_atoms(seed + i)
        atoms.calc = EMT()
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        frames.append(atoms)
    return frames


def small_spec(dtype: str = "float64", **model):
    hp = dict(kind="nequip", num_layers=2, l_max=2, parity=True, num_features=4, radial_mlp_width=8, radial_mlp_depth=1)
    hp.update(model)
    stats = {"avg_num_neighbors": 12.0, "per_type_energy_shift": [-3.0, -4.0], "force_rms": 0.7}
    return resolve_model_spec(hp, ["Cu", "Au"], 3.6, dtype, stats)


def small_model(dtype: str = "float64", seed: int = 0, **model):
    torch.manual_seed(seed)
    return build_model(small_spec(dtype, **model)).eval()


def allegro_spec(dtype: str = "float64", **model):
    hp = dict(
        kind="allegro", num_layers=2, l_max=2, parity=True, num_tensor_features=4,
        two_body_mlp=[8, 16], latent_mlp=[16], readout_mlp=[8],
    )
    hp.update(model)
    stats = {"avg_num_neighbors": 12.0, "per_type_energy_shift": [-3.0, -4.0], "force_rms": 0.7}
    return resolve_model_spec(hp, ["Cu", "Au"], 3.6, dtype, stats)


def allegro_model(dtype: str = "float64", seed: int = 0, **model):
    torch.manual_seed(seed)
    return build_model(allegro_spec(dtype, **model)).eval()


def frame(atoms, r_max: float = 3.6, dtype=torch.float64):
    return from_ase(atoms, TypeMapper(["Cu", "Au"]), r_max, dtype=dtype)


def batch_of(*atoms_list, r_max: float = 3.6, dtype=torch.float64):
    return collate([frame(a, r_max, dtype) for a in atoms_list])


def random_orthogonal(seed: int, improper: bool) -> torch.Tensor:
    """A random rotation matrix, times -1 (an inversion) when ``improper``."""
    from e3nn import o3

    torch.manual_seed(seed)
    R = o3.rand_matrix(dtype=torch.float64)
    return -R if improper else R


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def rewrite_pt2_metadata(src, dst, **changes) -> str:
    """Copy of the ``.pt2`` package ``src`` at ``dst`` with metadata entries changed (error tests)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("_metadata.json"):
                meta = json.loads(data)
                meta.update(changes)
                data = json.dumps(meta).encode()
            zout.writestr(item, data)
    return str(dst)

"""A small-molecule training benchmark set: 21-atom C9H8O4 (aspirin's formula and connectivity,
approximate geometry) in 1000 thermally perturbed frames labelled by ASE's EMT calculator.

EMT is not a molecular method; its labels are smooth functions of the geometry and serve for timing
and loss curves only. The shape is what matters: 21 atoms, 3 species, ~260 edges per frame at
r_max 5 Å, the case where fixed per-step costs show (issue 16). Used by bench/scaling.py
``--system molecule`` and bench/train_step.py.
"""

import os

import numpy as np

# NequIP as upstream's defaults for a molecule: 3 layers, l_max 1, 32 features, parity, radial MLP 2 x 64
CONFIG = """run_dir: {run_dir}
seed: 0
type_names: [H, C, O]
r_max: 5.0
model_dtype: float32
num_threads: 2
model:
  kind: nequip
  num_layers: 3
  l_max: 1
  num_features: 32
  tp_backend: extension
data:
  train: {data}
  split: [0.9, 0.1, 0.0]
  batch_size: 5
loss:
  energy: 1.0
  forces: 1.0
ema_decay: 0.99
logging:
  loggers: []
"""


def _molecule():
    from ase import Atoms

    ring = [np.array([1.39 * np.cos(a), 1.39 * np.sin(a), 0.0]) for a in np.arange(6) * np.pi / 3]

    def outward(i, d):
        return ring[i] * (1 + d / np.linalg.norm(ring[i]))

    symbols, positions = ["C"] * 6, list(ring)
    symbols += ["H"] * 4
    positions += [outward(i, 1.08) for i in (2, 3, 4, 5)]
    carboxyl = outward(0, 1.48)
    symbols += ["C", "O", "O", "H"]
    positions += [carboxyl, carboxyl + [0.6, 1.05, 0], carboxyl + [0.7, -1.0, 0], carboxyl + [1.65, -0.9, 0]]
    ester_o = outward(1, 1.36)
    carbonyl = ester_o + [-0.5, 1.2, 0.3]
    methyl = carbonyl + [0.2, 2.4, -0.3]
    symbols += ["O", "C", "O", "C", "H", "H", "H"]
    positions += [ester_o, carbonyl, carbonyl + [-0.8, 0.2, 0.9], methyl,
                  methyl + [1.0, 0.1, 0.3], methyl + [-0.6, 0.7, 0.5], methyl + [0.0, 0.5, -1.0]]
    return Atoms(symbols, positions=positions)


def write_dataset(folder: str, num_frames: int = 1000) -> str:
    """Writes ``molecule.xyz`` and ``molecule.yaml`` (the config above) into ``folder``; returns the config's path."""
    from ase.calculators.emt import EMT
    from ase.io import write

    base, rng, frames = _molecule(), np.random.default_rng(0), []
    for _ in range(num_frames):
        atoms = base.copy()
        atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        atoms.get_forces()
        frames.append(atoms)
    data = os.path.join(folder, "molecule.xyz")
    write(data, frames)
    config = os.path.join(folder, "molecule.yaml")
    with open(config, "w") as handle:
        handle.write(CONFIG.format(run_dir=os.path.join(folder, "run"), data=data))
    return config

"""Generate the tutorial data set: FCC copper under ASE's EMT potential.

Each trajectory starts from a 2x2x2 conventional FCC cell (32 sites) with 0-2 vacancies and a
random strain (up to +-3 % on every component, shear included), and runs short Langevin MD at a
temperature between 300 and 1000 K; every ``--stride`` steps (40 fs) a frame is kept with its EMT
energy (eV), forces (eV/Å) and stress (eV/Å³, ASE sign). Everything is seeded: the same command
writes the same file.

    python examples/generate_cu_emt.py                 # -> examples/data/cu_emt.xyz (400 frames)
    python examples/generate_cu_emt.py --frames 40 --out /tmp/small.xyz
"""

import argparse
import os

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.constraints import FixCom
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary

try:  # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # older ASE: same function under its old name
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

LATTICE_CONSTANT = 3.61  # Å, experimental Cu; EMT's own minimum is close (3.59 Å)


def make_start(rng: np.random.Generator):
    """A strained 32-site FCC Cu cell with 0-2 random vacancies."""
    atoms = bulk("Cu", "fcc", a=LATTICE_CONSTANT, cubic=True).repeat((2, 2, 2))
    num_vacancies = int(rng.integers(0, 3))
    if num_vacancies:
        del atoms[sorted(rng.choice(len(atoms), num_vacancies, replace=False).tolist())]
    eps = rng.uniform(-0.03, 0.03, (3, 3))
    strain = np.eye(3) + 0.5 * (eps + eps.T)  # symmetric: no rigid rotation
    atoms.set_cell(atoms.cell[:] @ strain, scale_atoms=True)
    return atoms


def generate(num_frames: int, seed: int, steps_per_traj: int, stride: int):
    rng = np.random.default_rng(seed)
    frames = []
    per_traj = steps_per_traj // stride
    traj = 0
    while len(frames) < num_frames:
        atoms = make_start(rng)
        atoms.calc = EMT()
        temperature = float(rng.uniform(300.0, 1000.0))
        thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
        Stationary(atoms)
        atoms.set_constraint(FixCom())  # no centre-of-mass drift (Langevin's fixcm is deprecated)
        dyn = Langevin(
            atoms, timestep=2.0 * units.fs, temperature_K=temperature, friction=0.02, fixcm=False,
            rng=np.random.RandomState(seed * 100_000 + traj),
        )
        for _ in range(per_traj):
            dyn.run(stride)
            frame = atoms.copy()
            frame.set_constraint()
            frame.calc = SinglePointCalculator(
                frame,
                energy=atoms.get_potential_energy(),
                forces=atoms.get_forces(),
                stress=atoms.get_stress(voigt=True),
            )
            frame.info["temperature_K"] = round(temperature, 1)
            frame.info["trajectory"] = traj
            frames.append(frame)
            if len(frames) == num_frames:
                break
        traj += 1
    return frames


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps-per-traj", type=int, default=200, help="MD steps per trajectory")
    parser.add_argument("--stride", type=int, default=20, help="MD steps between kept frames")
    parser.add_argument("--out", default=os.path.join(here, "data", "cu_emt.xyz"))
    args = parser.parse_args()
    frames = generate(args.frames, args.seed, args.steps_per_traj, args.stride)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # drop velocities/momenta: not labels, and they would double the file size
    for frame in frames:
        frame.set_momenta(None)
    write(args.out, frames, format="extxyz")
    print(f"wrote {len(frames)} frames to {args.out}")


if __name__ == "__main__":
    main()

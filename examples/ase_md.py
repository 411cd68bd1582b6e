"""Short NVE molecular dynamics of FCC copper with a vacancy, driven by a trained model through ASE.

    python examples/ase_md.py results/tutorial/checkpoints/best.ckpt --steps 200

Prints temperature and total energy every 20 steps and the drift of the total energy at the end.
"""

import argparse

import numpy as np
from ase import units
from ase.build import bulk
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

from nequip.integrations.ase import NequIPCalculator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model file (.ckpt, .nequip.zip, or .nequip.pt2 compiled for the ase target)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--timestep-fs", type=float, default=2.0)
    parser.add_argument("--temperature", type=float, default=300.0, help="initial temperature (K)")
    parser.add_argument("--repeat", type=int, default=3, help="conventional FCC cells along each axis")
    args = parser.parse_args()

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(args.repeat)
    del atoms[0]  # a vacancy
    atoms.calc = NequIPCalculator.from_file(args.model)
    MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature, rng=np.random.default_rng(0))
    Stationary(atoms)

    dyn = VelocityVerlet(atoms, timestep=args.timestep_fs * units.fs)
    energies = []

    def report() -> None:
        total = atoms.get_potential_energy() + atoms.get_kinetic_energy()
        energies.append(total)
        if len(energies) % 20 == 1:
            print(f"step {dyn.nsteps:5d}  T {atoms.get_temperature():7.1f} K  E_total {total:.6f} eV")

    dyn.attach(report, interval=1)
    dyn.run(args.steps)
    drift = (energies[-1] - energies[0]) / len(atoms)
    print(f"{len(atoms)} atoms, {args.steps} steps of {args.timestep_fs} fs: total-energy drift {drift * 1e3:.3f} meV/atom")


if __name__ == "__main__":
    main()

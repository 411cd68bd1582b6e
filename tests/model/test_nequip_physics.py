"""The whole NequIP model as physics demands, in float64: energy invariant and forces/stress
rotating under O(3); translation and permutation invariance; forces = -dE/dr and stress = (1/V)
dE/d(strain) by finite differences; batching equals frame by frame."""

import numpy as np
import pytest
import torch
from ase import Atoms

from helpers import batch_of, cu_au_atoms, frame, random_orthogonal, relative_error, small_model
from nequip.data import keys

TOL = 1e-10


@pytest.fixture(scope="module")
def model():
    return small_model()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("improper", [False, True])
def test_rotation_and_reflection(model, seed, improper):
    atoms = cu_au_atoms(seed)
    R = random_orthogonal(seed, improper).numpy()
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ R.T)
    rotated.positions = atoms.positions @ R.T
    out, out_rot = model(frame(atoms)), model(frame(rotated))
    Rt = torch.as_tensor(R)
    assert relative_error(out_rot[keys.TOTAL_ENERGY], out[keys.TOTAL_ENERGY]) < TOL
    assert relative_error(out_rot[keys.ATOMIC_ENERGY], out[keys.ATOMIC_ENERGY]) < TOL
    assert relative_error(out_rot[keys.FORCES], out[keys.FORCES] @ Rt.T) < TOL
    assert relative_error(out_rot[keys.STRESS][0], Rt @ out[keys.STRESS][0] @ Rt.T) < TOL
    assert out[keys.FORCES].abs().max() > 1e-4


def test_translation_invariance(model):
    atoms = cu_au_atoms(3)
    moved = atoms.copy()
    moved.positions += np.array([0.7, -1.3, 2.9])
    a, b = model(frame(atoms)), model(frame(moved))
    assert relative_error(b[keys.TOTAL_ENERGY], a[keys.TOTAL_ENERGY]) < TOL
    assert relative_error(b[keys.FORCES], a[keys.FORCES]) < TOL


def test_permutation_equivariance(model):
    atoms = cu_au_atoms(4)
    perm = np.random.default_rng(0).permutation(len(atoms))
    a, b = model(frame(atoms)), model(frame(atoms[perm]))
    assert relative_error(b[keys.TOTAL_ENERGY], a[keys.TOTAL_ENERGY]) < TOL
    assert relative_error(b[keys.FORCES], a[keys.FORCES][perm]) < TOL
    assert relative_error(b[keys.ATOMIC_ENERGY], a[keys.ATOMIC_ENERGY][perm]) < TOL


def test_forces_are_minus_energy_gradient(model):
    atoms = cu_au_atoms(5)
    forces = model(frame(atoms))[keys.FORCES]
    h = 1e-5
    for atom, axis in [(0, 0), (3, 1), (7, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        fd = -(model(frame(plus))[keys.TOTAL_ENERGY] - model(frame(minus))[keys.TOTAL_ENERGY]) / (2 * h)
        assert abs(float(fd) - float(forces[atom, axis])) < 1e-7 * max(1.0, abs(float(fd)))


def test_stress_is_strain_derivative(model):
    atoms = cu_au_atoms(6)
    stress = model(frame(atoms))[keys.STRESS][0].numpy()
    volume, h = atoms.get_volume(), 1e-5
    for i, j in [(0, 0), (1, 2), (2, 1), (0, 1)]:
        energies = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[i, j] = eps[j, i] = sign * h / (2.0 if i != j else 1.0)
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            energies.append(float(model(frame(strained))[keys.TOTAL_ENERGY]))
        fd = (energies[0] - energies[1]) / (2 * h) / volume
        assert abs(fd - stress[i, j]) < 1e-8 * max(1.0, abs(fd))


def test_batch_equals_frames(model):
    frames = [cu_au_atoms(7), cu_au_atoms(8, repeat=(1, 2, 2))]
    batched = model(batch_of(*frames))
    for index, atoms in enumerate(frames):
        single = model(frame(atoms))
        mask = batched[keys.BATCH] == index
        assert relative_error(batched[keys.TOTAL_ENERGY][index], single[keys.TOTAL_ENERGY][0]) < TOL
        assert relative_error(batched[keys.FORCES][mask], single[keys.FORCES]) < TOL
        assert relative_error(batched[keys.STRESS][index], single[keys.STRESS][0]) < TOL


def test_molecule_without_cell(model):
    molecule = Atoms("Cu3Au", positions=[[0, 0, 0], [2.4, 0, 0], [0, 2.5, 0.2], [1.2, 1.1, 2.0]])
    out = model(frame(molecule))
    assert torch.isfinite(out[keys.TOTAL_ENERGY]).all()
    assert torch.allclose(out[keys.FORCES].sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-10)
    assert torch.equal(out[keys.STRESS], torch.zeros(1, 3, 3, dtype=torch.float64))


def test_isolated_atom(model):
    out = model(frame(Atoms("Au", positions=[[0, 0, 0]])))
    assert out[keys.EDGE_INDEX].shape == (2, 0)
    assert torch.isfinite(out[keys.TOTAL_ENERGY]).all()
    assert torch.equal(out[keys.FORCES], torch.zeros(1, 3, dtype=torch.float64))


def test_float32_model_agrees_with_float64():
    atoms = cu_au_atoms(9)
    m64, m32 = small_model("float64", seed=1), small_model("float32", seed=1)
    m32.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in m64.state_dict().items()})
    a, b = m64(frame(atoms)), m32(frame(atoms, dtype=torch.float32))
    assert b[keys.FORCES].dtype == torch.float32
    assert relative_error(b[keys.FORCES].double(), a[keys.FORCES]) < 1e-4

"""The ASE calculator on a trained-format checkpoint: properties, finite differences, equivariance,
non-periodic systems and unknown species."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

from helpers import cu_au_atoms, frame, small_model
from nequip.data import keys
from nequip.integrations.ase import NequIPCalculator, wrapped_positions


@pytest.fixture(scope="module")
def calc():
    model = small_model()
    return NequIPCalculator(model, model.spec)


def test_properties_match_model(calc):
    atoms = cu_au_atoms(11)
    atoms.calc = calc
    wrapped = atoms.copy()  # the calculator wraps positions into the cell first (whole lattice vectors)
    wrapped.positions = wrapped_positions(atoms)
    assert np.abs(wrapped.positions - atoms.positions).max() > 1.0  # some atoms were outside
    out = calc.model(frame(wrapped))
    assert atoms.get_potential_energy() == pytest.approx(float(out[keys.TOTAL_ENERGY]), rel=1e-12)
    assert atoms.get_potential_energy(force_consistent=True) == atoms.get_potential_energy()
    np.testing.assert_allclose(atoms.get_forces(), out[keys.FORCES].detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(atoms.get_potential_energies().sum(), atoms.get_potential_energy(), rtol=1e-12)
    assert atoms.get_stress().shape == (6,)


def test_forces_and_stress_by_finite_differences(calc):
    atoms = cu_au_atoms(12)
    atoms.calc = calc
    some = [0, 3, 7]
    np.testing.assert_allclose(atoms.get_forces()[some], calculate_numerical_forces(atoms, 1e-5, iatoms=some), atol=1e-7)
    np.testing.assert_allclose(atoms.get_stress(), calculate_numerical_stress(atoms, eps=1e-5), atol=1e-8)


def test_rotation_through_calculator(calc):
    from scipy.spatial.transform import Rotation

    atoms = cu_au_atoms(13)
    R = Rotation.random(random_state=3).as_matrix()
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ R.T)
    rotated.positions = atoms.positions @ R.T
    atoms.calc, rotated.calc = calc, NequIPCalculator(calc.model, calc.spec)
    assert rotated.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(rotated.get_forces(), atoms.get_forces() @ R.T, atol=1e-11)
    from ase.stress import full_3x3_to_voigt_6_stress, voigt_6_to_full_3x3_stress

    expected = full_3x3_to_voigt_6_stress(R @ voigt_6_to_full_3x3_stress(atoms.get_stress()) @ R.T)
    np.testing.assert_allclose(rotated.get_stress(), expected, atol=1e-12)


def test_non_periodic_molecule(calc):
    molecule = Atoms("CuAu2", positions=[[0, 0, 0], [2.5, 0, 0], [0.3, 2.4, 0.5]])
    molecule.calc = calc
    forces = molecule.get_forces()
    np.testing.assert_allclose(forces.sum(0), 0.0, atol=1e-10)
    np.testing.assert_allclose(forces, calculate_numerical_forces(molecule, eps=1e-5), atol=1e-7)
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        molecule.get_stress()


def test_unknown_species_is_clear_error(calc):
    atoms = Atoms("CuZn", positions=[[0, 0, 0], [2.5, 0, 0]])
    atoms.calc = calc
    with pytest.raises(ValueError, match="Zn"):
        atoms.get_potential_energy()


def test_float32_calculator():
    model = small_model("float32")
    atoms = cu_au_atoms(14)
    atoms.calc = NequIPCalculator(model, model.spec)
    assert atoms.get_forces().dtype == np.float64
    assert np.isfinite(atoms.get_potential_energy())


def test_from_file_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        NequIPCalculator.from_file(str(tmp_path / "nope.ckpt"))

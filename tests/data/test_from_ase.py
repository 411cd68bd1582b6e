"""from_ase: inputs, neighbor list and labels per ASE conventions."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from nequip.data import TypeMapper, from_ase, keys

TM = TypeMapper(["Cu", "O"])


def cu_cell():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.positions += np.random.default_rng(0).normal(0, 0.05, atoms.positions.shape)
    return atoms


def test_inputs_shapes_dtypes():
    atoms = cu_cell()
    d = from_ase(atoms, TM, 3.0, dtype=torch.float64)
    n = len(atoms)
    assert d[keys.POSITIONS].shape == (n, 3) and d[keys.POSITIONS].dtype == torch.float64
    assert d[keys.ATOM_TYPES].tolist() == [0] * n
    assert d[keys.BATCH].tolist() == [0] * n
    assert d[keys.NUM_ATOMS].tolist() == [n]
    assert d[keys.CELL].shape == (1, 3, 3)
    assert torch.equal(d[keys.CELL][0], torch.as_tensor(atoms.cell[:]))
    assert d[keys.PBC].tolist() == [[True, True, True]]
    assert d[keys.EDGE_INDEX].dtype == torch.int64
    assert d[keys.EDGE_CELL_SHIFT].dtype == torch.float64
    # no labels: absent, weight defaults to 1
    for k in keys.LABEL_KEYS:
        assert k not in d
    assert d[keys.FRAME_WEIGHT].tolist() == [1.0]
    # float32 requested
    d32 = from_ase(atoms, TM, 3.0, dtype=torch.float32)
    assert d32[keys.POSITIONS].dtype == torch.float32
    assert d32[keys.EDGE_CELL_SHIFT].dtype == torch.float32


def test_edge_vectors_match_min_image_for_large_cell():
    atoms = cu_cell().repeat((2, 2, 2))
    d = from_ase(atoms, TM, 3.0, dtype=torch.float64)
    i, j = d[keys.EDGE_INDEX]
    vec = d[keys.POSITIONS][j] - d[keys.POSITIONS][i] + d[keys.EDGE_CELL_SHIFT] @ d[keys.CELL][0]
    dist = np.array([atoms.get_distance(a, b, mic=True) for a, b in zip(i.tolist(), j.tolist())])
    assert np.allclose(vec.norm(dim=1).numpy(), dist)
    assert len(dist) == len(atoms) * 12  # FCC first shell only (2.55 Å < 3 Å < 3.6 Å)


def test_molecule_without_cell():
    atoms = Atoms("CuO", positions=[[0, 0, 0], [1.8, 0, 0]])
    d = from_ase(atoms, TM, 2.0)
    assert torch.all(d[keys.CELL] == 0)
    assert d[keys.PBC].tolist() == [[False, False, False]]
    assert d[keys.ATOM_TYPES].tolist() == [0, 1]
    assert d[keys.EDGE_INDEX].tolist() == [[0, 1], [1, 0]]


def test_labels_from_live_calculator_match_ase():
    atoms = cu_cell()
    atoms.calc = EMT()
    # nothing computed yet: from_ase never triggers a calculation
    assert not set(from_ase(atoms, TM, 3.0)) & set(keys.LABEL_KEYS)
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    d = from_ase(atoms, TM, 3.0, dtype=torch.float64)
    assert d[keys.TOTAL_ENERGY].shape == (1,)
    assert d[keys.TOTAL_ENERGY].item() == pytest.approx(atoms.get_potential_energy())
    assert np.allclose(d[keys.FORCES].numpy(), atoms.get_forces())
    s = atoms.get_stress(voigt=False)
    assert np.allclose(d[keys.STRESS][0].numpy(), s)
    assert np.allclose(d[keys.VIRIAL][0].numpy(), -s * atoms.get_volume())
    # stale results (atoms moved after the calculation) are not used
    atoms.positions[0] += 0.1
    assert not set(from_ase(atoms, TM, 3.0)) & set(keys.LABEL_KEYS)


def test_labels_false_skips_labels():
    atoms = cu_cell()
    atoms.calc = SinglePointCalculator(atoms, energy=1.0, forces=np.zeros((4, 3)))
    atoms.info["weight"] = 4.0
    d = from_ase(atoms, TM, 3.0, labels=False)
    assert not set(d) & set(keys.LABEL_KEYS)
    assert d[keys.FRAME_WEIGHT].tolist() == [1.0]


VOIGT = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # xx yy zz yz xz xy
FULL = np.array([[1.0, 6.0, 5.0], [6.0, 2.0, 4.0], [5.0, 4.0, 3.0]])


@pytest.mark.parametrize(
    "how",
    ["calc_voigt", "calc_3x3", "info_voigt", "info_3x3", "info_9", "info_REF_stress"],
)
def test_stress_voigt_and_full(how):
    atoms = cu_cell()
    if how == "calc_voigt":
        atoms.calc = SinglePointCalculator(atoms, stress=VOIGT)
    elif how == "calc_3x3":
        atoms.calc = SinglePointCalculator(atoms, stress=FULL)
    elif how == "info_voigt":
        atoms.info["stress"] = VOIGT
    elif how == "info_3x3":
        atoms.info["stress"] = FULL
    elif how == "info_9":
        atoms.info["stress"] = FULL.reshape(9).tolist()
    else:
        atoms.info["REF_stress"] = VOIGT
    d = from_ase(atoms, TM, 3.0, dtype=torch.float64)
    assert d[keys.STRESS].shape == (1, 3, 3)
    assert np.allclose(d[keys.STRESS][0].numpy(), FULL)
    assert np.allclose(d[keys.VIRIAL][0].numpy(), -FULL * atoms.get_volume())


def test_virial_to_stress():
    atoms = cu_cell()
    virial = np.arange(9.0).reshape(3, 3)
    atoms.info["virial"] = virial
    d = from_ase(atoms, TM, 3.0, dtype=torch.float64)
    assert np.allclose(d[keys.VIRIAL][0].numpy(), virial)
    assert np.allclose(d[keys.STRESS][0].numpy(), -virial / atoms.get_volume())


def test_virial_without_volume_keeps_only_virial():
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]])
    atoms.info["virial"] = np.eye(3)
    d = from_ase(atoms, TM, 3.0)
    assert keys.VIRIAL in d and keys.STRESS not in d


def test_energy_forces_weight_from_info_and_arrays():
    atoms = cu_cell()
    atoms.info["REF_energy"] = -3.5
    atoms.info["weight"] = 2.5
    forces = np.random.default_rng(1).normal(size=(len(atoms), 3))
    atoms.arrays["REF_forces"] = forces
    d = from_ase(atoms, TM, 3.0, dtype=torch.float64)
    assert d[keys.TOTAL_ENERGY].tolist() == [-3.5]
    assert np.array_equal(d[keys.FORCES].numpy(), forces)
    assert d[keys.FRAME_WEIGHT].tolist() == [2.5]
    assert keys.STRESS not in d


def test_bad_label_shape_names_frame():
    atoms = cu_cell()
    atoms.info["stress"] = [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="stress in frame 4 of a.xyz has 3 values"):
        from_ase(atoms, TM, 3.0, where="frame 4 of a.xyz")


def test_unknown_species_and_singular_cell_name_frame():
    with pytest.raises(ValueError, match="species 'Zn' in frame 2 of t.xyz is not in type_names"):
        from_ase(Atoms("CuZn", positions=[[0, 0, 0], [2, 0, 0]]), TM, 3.0, where="frame 2 of t.xyz")
    atoms = Atoms("Cu", positions=[[0, 0, 0]], cell=np.diag([3.0, 3.0, 0.0]), pbc=True)
    with pytest.raises(ValueError, match="^frame 5 of t.xyz: cell .* is singular along the periodic direction"):
        from_ase(atoms, TM, 3.0, where="frame 5 of t.xyz")

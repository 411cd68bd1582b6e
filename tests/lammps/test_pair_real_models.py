"""Real (tiny, untrained, float64) NequIP and Allegro models: `nequip-compile --target lammps`
packages in LAMMPS equal the ASE calculator on the eager model, on periodic orthogonal and triclinic
and on non-periodic cells, on 1 and 2 MPI ranks. NequIP's per-layer scheme (ghost features exchanged
between layers) equals the eager model on the periodic graph to 1e-10 on 1, 2 and 4 ranks, also on
a cell whose domains are thinner than r_max, with per-atom energies and virials; float32 to 1e-5;
reference tensor products with l_max 2 on 1 and 2 ranks. The packages call our tensor-product operators
(tp_backend: extension), which the plugin loads from C++; the eager models run the reference path."""

import sys
from pathlib import Path

import numpy as np
import pytest
from lammps_inputs import fcc_data, fcc_structure, model_pair, requires_lammps, run_lmp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/helpers.py

pytestmark = [requires_lammps, pytest.mark.slow]

NKTV2P_METAL = 1.6021765e6  # eV/A^3 -> bar
NEQUIP = dict(num_layers=2, l_max=1, num_features=4)
ALLEGRO = dict(num_layers=2, l_max=1, num_tensor_features=4)


def _tiny(kind: str, tp_backend: str, dtype: str = "float64", **overrides):
    from helpers import allegro_model, small_model

    if kind == "nequip":
        return small_model(dtype, tp_backend=tp_backend, **{**NEQUIP, **overrides})
    return allegro_model(dtype, tp_backend=tp_backend, **{**ALLEGRO, **overrides})


@pytest.fixture(scope="module")
def packages(tmp_path_factory, plugin):
    """``get(kind, dtype, tp_backend, **overrides) -> (package path, eager model with the same
    operators)``: each package is compiled once per module (an AOT compile costs a minute or more here)."""
    from nequip.export.aoti import compile_model

    cache = {}

    def get(kind: str, dtype: str = "float64", tp_backend: str = "extension", **overrides):
        key = (kind, dtype, tp_backend, tuple(sorted(overrides.items())))
        if key not in cache:
            model = _tiny(kind, tp_backend, dtype, **overrides)
            out = tmp_path_factory.mktemp(f"{kind}_{dtype}") / f"tiny_{kind}_{dtype}_{tp_backend}.nequip.pt2"
            compile_model(model, model.spec, str(out), target="lammps")
            cache[key] = (out, model)
        return cache[key]

    return get


@pytest.fixture(scope="module", params=["nequip", "allegro"])
def real_pt2(request, packages):
    """(kind, package path, eager reference model)."""
    kind = request.param
    return kind, packages(kind)[0], _tiny(kind, "reference")


@pytest.mark.parametrize(
    "tilt,boundary",
    [((0.0, 0.0, 0.0), "p p p"), ((0.3, -0.2, 0.1), "p p p"), ((0.0, 0.0, 0.0), "f f f")],
    ids=["orthogonal", "triclinic", "non-periodic"],
)
def test_lammps_equals_ase(tilt, boundary, real_pt2, lmp_env, tmp_path):
    from ase import Atoms

    from nequip.integrations.ase import NequIPCalculator

    kind, path, model = real_pt2
    periodic = boundary == "p p p"
    pos, types, cell, _ = fcc_structure(cells=3, a=3.7, tilt=tilt, noise=0.1)
    atoms = Atoms(numbers=np.where(types == 1, 29, 79), positions=pos, cell=cell, pbc=periodic)
    atoms.calc = NequIPCalculator(model, model.spec)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    data = fcc_data(tmp_path / "s.data", cells=3, a=3.7, tilt=tilt, noise=0.1, margin=0.0 if periodic else 5.0)
    head = f"units metal\nboundary {boundary}\natom_modify map array sort 0 0\nread_data {data}\n"
    results = []
    for nprocs in (1, 2):
        thermo, per_atom, _ = run_lmp(head + model_pair(kind, path), tmp_path / str(nprocs), lmp_env, nprocs=nprocs)
        results.append(thermo)
        assert thermo["pe"] == pytest.approx(energy, rel=1e-6)
        np.testing.assert_allclose(per_atom[:, 5:8], forces, rtol=1e-6, atol=1e-6 * np.abs(forces).max())
        if periodic:
            pressure = -atoms.get_stress(voigt=False) * NKTV2P_METAL  # ASE stress = -W/V
            for k, (a, b) in {"pxx": (0, 0), "pyy": (1, 1), "pzz": (2, 2), "pxy": (0, 1), "pxz": (0, 2), "pyz": (1, 2)}.items():
                assert thermo[k] == pytest.approx(pressure[a, b], rel=1e-6, abs=1e-6 * np.abs(pressure).max()), k
    for k in results[0]:
        assert results[1][k] == pytest.approx(results[0][k], rel=1e-10, abs=1e-8), k  # 1 rank == 2 ranks


def test_unloadable_ops_library_is_a_clear_error(real_pt2, lmp_env, tmp_path):
    kind, path, _ = real_pt2
    data = fcc_data(tmp_path / "s.data", cells=2, a=3.7)
    script = f"units metal\nboundary p p p\nread_data {data}\n" + model_pair(kind, path)
    env = dict(lmp_env, NEQUIP_OPS_LIBRARY=str(tmp_path / "missing.so"))
    r = run_lmp(script, tmp_path / "run", env, check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "uses nequip's tensor-product operators" in out and "python -m nequip.ops path" in out, out[-3000:]


# ---- pair_style nequip, per-layer scheme: owned atoms + r_max ghost shell, ghost features exchanged ----

CELLS = {  # name -> (fcc cells per side, tilt, processors for 4 ranks)
    "orthogonal": (3, (0.0, 0.0, 0.0), "2 2 1"),
    "triclinic": (3, (0.3, -0.2, 0.1), "1 2 2"),
    # 7.4 A box, 4 ranks along x: domains 1.85 A thick, thinner than r_max (3.6 A); ghosts are
    # images of atoms of the same rank, their owners several images away
    "small": (2, (0.0, 0.0, 0.0), "4 1 1"),
}


def periodic_reference(model, atoms):
    """Energy, per-atom energies [N], forces [N,3], virial W [3,3] and per-atom virials [N,3,3] (each
    edge's -r (x) dE/dr split half to its two atoms) of the eager model on the periodic graph."""
    import torch
    from ase.neighborlist import neighbor_list

    from nequip.data import keys

    i, j, shift = neighbor_list("ijS", atoms, model.spec.r_max)
    pos = torch.tensor(atoms.positions)
    vec = (pos[j] - pos[i] + torch.tensor(shift, dtype=torch.float64) @ torch.tensor(atoms.cell.array)).requires_grad_(True)
    n = len(atoms)
    types = torch.tensor(np.where(atoms.numbers == 29, 0, 1))
    data = {keys.POSITIONS: pos, keys.ATOM_TYPES: types, keys.EDGE_INDEX: torch.tensor(np.stack([i, j])),
            keys.EDGE_VECTORS: vec, keys.EDGE_LENGTHS: torch.linalg.norm(vec, dim=-1),
            keys.BATCH: torch.zeros(n, dtype=torch.long), keys.NUM_ATOMS: torch.tensor([n])}
    data = model.edge_vector_energy()(data)
    atomic = data[keys.ATOMIC_ENERGY]
    (g,) = torch.autograd.grad(atomic.sum(), [vec])
    forces = torch.zeros(n, 3, dtype=torch.float64).index_add(0, torch.tensor(i), g).index_add(0, torch.tensor(j), -g)
    w = -vec.detach().unsqueeze(-1) * g.unsqueeze(-2)
    atom_w = torch.zeros(n, 3, 3, dtype=torch.float64).index_add(0, torch.tensor(i), 0.5 * w).index_add(0, torch.tensor(j), 0.5 * w)
    return atomic.sum().item(), atomic.detach().numpy(), forces.numpy(), w.sum(0).numpy(), atom_w.numpy()


VOIGT = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]


def _compare(thermo, per_atom, ref, rel):
    energy, atomic, forces, virial, atom_virial = ref
    scale_f = np.abs(forces).max()
    assert thermo["pe"] == pytest.approx(energy, rel=rel)
    np.testing.assert_allclose(per_atom[:, 5:8], forces, rtol=0, atol=rel * scale_f)
    np.testing.assert_allclose(per_atom[:, 8], atomic, rtol=0, atol=rel * np.abs(atomic).max())
    pressure = virial / thermo["vol"] * NKTV2P_METAL
    for k, (a, b) in zip(("pxx", "pyy", "pzz", "pxy", "pxz", "pyz"), VOIGT):
        assert thermo[k] == pytest.approx(pressure[a, b], rel=rel, abs=rel * np.abs(pressure).max()), k
    stress_atom = np.stack([-atom_virial[:, a, b] * NKTV2P_METAL for a, b in VOIGT], axis=1)  # bar A^3
    np.testing.assert_allclose(per_atom[:, 9:15], stress_atom, rtol=0, atol=rel * np.abs(stress_atom).max())


@pytest.mark.parametrize("nprocs", [1, 2, 4])
@pytest.mark.parametrize("cell", list(CELLS))
def test_per_layer_equals_periodic_model(cell, nprocs, packages, lmp_env, tmp_path):
    """Energy, forces, virial, per-atom energies and virials on 1, 2, 4 ranks == the eager model on
    the periodic graph (float64, 1e-10 relative), and the energy/forces == the ASE calculator's."""
    from ase import Atoms

    from nequip.integrations.ase import NequIPCalculator

    path, model = packages("nequip")
    cells, tilt, processors = CELLS[cell]
    pos, types, box, _ = fcc_structure(cells=cells, a=3.7, tilt=tilt, noise=0.1)
    atoms = Atoms(numbers=np.where(types == 1, 29, 79), positions=pos, cell=box, pbc=True)
    ref = periodic_reference(model, atoms)
    atoms.calc = NequIPCalculator(model, model.spec)
    assert atoms.get_potential_energy() == pytest.approx(ref[0], rel=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), ref[2], rtol=0, atol=1e-12 * np.abs(ref[2]).max())
    np.testing.assert_allclose(-atoms.get_stress(voigt=False) * atoms.get_volume(), ref[3], rtol=0, atol=1e-12 * np.abs(ref[3]).max())

    data = fcc_data(tmp_path / "s.data", cells=cells, a=3.7, tilt=tilt, noise=0.1)
    head = f"units metal\nboundary p p p\natom_modify map array sort 0 0\nread_data {data}\n"
    thermo, per_atom, out = run_lmp(head + model_pair("nequip", path), tmp_path, lmp_env, nprocs=nprocs,
                                    processors=processors if nprocs == 4 else None)
    assert "per-layer scheme" in out and "ghost cutoff" not in out
    _compare(thermo, per_atom, ref, rel=1e-10)


def test_per_layer_float32(packages, lmp_env, tmp_path):
    """A float32 package on 2 ranks == its weights evaluated in float64 on the periodic graph, 1e-5."""
    import copy

    import torch
    from ase import Atoms

    path, model = packages("nequip", "float32")
    cells, tilt, _ = CELLS["triclinic"]
    pos, types, box, _ = fcc_structure(cells=cells, a=3.7, tilt=tilt, noise=0.1)
    atoms = Atoms(numbers=np.where(types == 1, 29, 79), positions=pos, cell=box, pbc=True)
    ref = periodic_reference(copy.deepcopy(model).to(torch.float64), atoms)
    data = fcc_data(tmp_path / "s.data", cells=cells, a=3.7, tilt=tilt, noise=0.1)
    head = f"units metal\nboundary p p p\natom_modify map array sort 0 0\nread_data {data}\n"
    thermo, per_atom, out = run_lmp(head + model_pair("nequip", path), tmp_path, lmp_env, nprocs=2)
    assert "float32" in out and "per-layer scheme" in out
    _compare(thermo, per_atom, ref, rel=1e-5)


@pytest.mark.parametrize("nprocs", [1, 2])
def test_per_layer_reference_l_max_2(nprocs, packages, lmp_env, tmp_path):
    """Reference tensor products and l_max 2 (many saved intermediates are expands and slices of wider
    tensors, which the compiled forward may return in other layouts than the vjp was traced for):
    LAMMPS == the eager model on the periodic graph and the ASE calculator, 1e-10."""
    from ase import Atoms

    from nequip.integrations.ase import NequIPCalculator

    path, model = packages("nequip", tp_backend="reference", l_max=2)
    cells, tilt, _ = CELLS["triclinic"]
    pos, types, box, _ = fcc_structure(cells=cells, a=3.7, tilt=tilt, noise=0.1)
    atoms = Atoms(numbers=np.where(types == 1, 29, 79), positions=pos, cell=box, pbc=True)
    ref = periodic_reference(model, atoms)
    atoms.calc = NequIPCalculator(model, model.spec)
    assert atoms.get_potential_energy() == pytest.approx(ref[0], rel=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), ref[2], rtol=0, atol=1e-12 * np.abs(ref[2]).max())
    data = fcc_data(tmp_path / "s.data", cells=cells, a=3.7, tilt=tilt, noise=0.1)
    head = f"units metal\nboundary p p p\natom_modify map array sort 0 0\nread_data {data}\n"
    thermo, per_atom, out = run_lmp(head + model_pair("nequip", path), tmp_path, lmp_env, nprocs=nprocs)
    assert "per-layer scheme" in out
    _compare(thermo, per_atom, ref, rel=1e-10)

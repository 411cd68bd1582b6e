"""Real (tiny, untrained, float64) NequIP and Allegro models: `nequip-compile --target lammps`
packages in LAMMPS equal the ASE calculator on the eager model, on periodic orthogonal and triclinic
and on non-periodic cells, on 1 and 2 MPI ranks. The packages call our tensor-product operators
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


def _tiny(kind: str, tp_backend: str):
    from helpers import allegro_model, small_model

    if kind == "nequip":
        return small_model("float64", tp_backend=tp_backend, **NEQUIP)
    return allegro_model("float64", tp_backend=tp_backend, **ALLEGRO)


@pytest.fixture(scope="module", params=["nequip", "allegro"])
def real_pt2(request, tmp_path_factory, plugin):
    """(kind, package path, eager reference model)."""
    from nequip.export.aoti import compile_model

    kind = request.param
    with_ops = _tiny(kind, "extension")
    out = tmp_path_factory.mktemp(f"{kind}_model") / f"tiny_{kind}.nequip.pt2"
    compile_model(with_ops, with_ops.spec, str(out), target="lammps")
    return kind, out, _tiny(kind, "reference")


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
